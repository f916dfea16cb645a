"""Bounds on what one file may expand to, and the cleaning of text PostgreSQL cannot store.

Every loader calls these guards before (or while) its library parses the file, so a small hostile
file (a zip bomb, a million tiny HTML tags, a CSV of a million rows) is refused with the reason
before it can use memory out of proportion to its size. The limits are far above real documents:
the largest page of the Python manual has about 98,000 tags, Word files hold a few hundred zip
members, SciFact's corpus has 5,183 lines (100,000 CSV rows in rows mode peak at about +160 MB). ``benchmarks/loader_bombs.py`` measures the peak memory
of loading each kind of bomb and of the largest accepted inputs.

:func:`clean_document` removes NUL and other control characters from the one-line fields of a
document (title, source name, external id, heading path) and NUL from its text and metadata:
PostgreSQL ``text`` and ``jsonb`` cannot hold U+0000, and a control character in a title is never
meant.
"""

from __future__ import annotations

import io
import time
import zipfile
from dataclasses import replace
from typing import Any

from rag.cleaning import has_control_characters, one_line
from rag.errors import CorruptDocument, InputLimitExceeded
from rag.models import LoadedDocument

MIB = 1024 * 1024

MAX_ZIP_MEMBERS = 10_000
"""Members of one DOCX (zip) file; Word writes a few dozen, plus one per embedded image."""
MAX_UNZIPPED_BYTES = 128 * MIB
"""Sum of the declared uncompressed sizes of a DOCX's members (bytes).

python-docx reads every member into memory, so this bounds what it holds. ``zipfile`` never
inflates a member past its declared size (and fails its CRC check if the header lied), so the
declared sizes are a true bound.
"""
MAX_XML_BYTES = 16 * MIB
"""Sum of the uncompressed sizes of a DOCX's XML members (bytes); lxml's tree costs several times it."""
MAX_XML_ELEMENTS = 500_000
"""Markup tags (``<`` characters) in a DOCX's XML members; a 300-page report has about 200,000; python-docx takes minutes past this."""
MAX_SHEET_XML_BYTES = 64 * MIB
"""Sum of the uncompressed XML of one XLSX or ODS file (bytes); pandas reads XLSX sheets streaming."""
MAX_SHEET_XML_ELEMENTS = 2_000_000
"""Markup tags in one XLSX or ODS file: a cell costs about three (``<c><v>..</v></c>``), so this
admits the :data:`MAX_CSV_FILE_MODE_ROWS` rows of a table with 30 columns."""
MAX_HTML_ELEMENTS = 300_000
"""Markup tags (``<`` bytes) in one HTML file; BeautifulSoup keeps about 1 KB per tag."""
MAX_PDF_PAGES = 5_000
"""Pages of one PDF."""
MAX_OCR_PAGES = 1_000
"""Pages (scanned PDF pages, TIFF frames) of one file read by OCR: at about 1-3 s a page on two
cores (``benchmarks/ocr_quality.py``), under an hour."""
MAX_OCR_SECONDS = 3_600.0
"""Seconds of OCR for one file, checked after each page: a file of many huge, busy pages is stopped
rather than holding an ingest for hours."""
MAX_DOCUMENT_CHARS = 20_000_000
"""Characters of extracted text in one document (about 6,000 pages of prose)."""
MAX_ROWS = 100_000
"""Data rows of one CSV file, or lines of one JSONL file (each becomes a document in rows mode)."""
MAX_CSV_COLUMNS = 1_000
"""Columns of one CSV file."""
MAX_CSV_CELLS = 5_000_000
"""Cells (rows x columns) of one CSV file."""
MAX_CSV_FILE_MODE_ROWS = 20_000
"""Rows of a CSV loaded in ``"file"`` mode (one document): more is a table, not a document.

A 1M-row CSV in file mode made one 80,579-chunk document that no search result could point into
usefully; above this the loader refuses and names rows mode.
"""

_XML_SCAN_BYTES = MIB
_XML_SUFFIXES = (".xml", ".rels", ".xhtml", ".html", ".htm", ".opf", ".ncx")


def limit_error(filename: str, what: str, found: int | str, limit: int | str, fix: str) -> InputLimitExceeded:
    """Build (not raise) the error for a file past one of the limits above.

    Args:
        filename: The file's name, for the message.
        what: What was counted (``"decompressed bytes"``, ``"HTML tags"``...).
        found: How many the file has (or a lower bound, e.g. ``"over 300,000"``).
        limit: The limit.
        fix: What the user can do, as a clause.

    Returns:
        The error; its message says what was over which limit and the fix.
    """
    found_text = f"{found:,}" if isinstance(found, int) else found
    limit_text = f"{limit:,}" if isinstance(limit, int) else limit
    return InputLimitExceeded(f"{filename} has {found_text} {what}, above the limit of {limit_text}: {fix}")


def check_count(filename: str, what: str, count: int, limit: int, fix: str) -> None:
    """Raise :func:`limit_error` when ``count > limit``.

    Raises:
        InputLimitExceeded: ``count`` is above ``limit``.
    """
    if count > limit:
        raise limit_error(filename, what, count, limit, fix)


class OcrClock:
    """Measures one file's OCR time against :data:`MAX_OCR_SECONDS`.

    Args:
        filename: For the message.
    """

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.started = time.monotonic()

    def check(self, done: int, total: int) -> None:
        """Call after each page.

        Args:
            done: Pages read so far. total: Pages to read.

        Raises:
            InputLimitExceeded: More than :data:`MAX_OCR_SECONDS` have passed and pages remain.
        """
        elapsed = time.monotonic() - self.started
        if elapsed > MAX_OCR_SECONDS and done < total:
            raise InputLimitExceeded(
                f"{self.filename}: OCR read {done} of {total} pages in {elapsed:,.0f} s, above the limit of "
                f"{MAX_OCR_SECONDS:,.0f} s: split the file into parts"
            )


def check_zip(
    data: bytes,
    filename: str,
    kind: str = "DOCX",
    fix: str = "",
    *,
    allow_doctype: bool = False,
    max_xml_bytes: int = MAX_XML_BYTES,
    max_xml_elements: int = MAX_XML_ELEMENTS,
) -> None:
    """Check an Office (DOCX, PPTX, XLSX, ODS) or EPUB zip's members before its library reads them.

    Members are counted and their declared sizes summed from the central directory (no
    decompression); then the XML members are inflated 1 MiB at a time, never held whole, to count
    their tags and to refuse a document type declaration (Word never writes one; entity expansion
    lives there).

    Args:
        data: The file's bytes.
        filename: For messages.
        kind: The format's name, for messages (``"DOCX"``, ``"PPTX"``...).
        fix: What to tell the user when a limit is passed; ``""`` for the Word advice.
        allow_doctype: EPUB 2 files declare the XHTML and NCX DTDs: accept a ``<!DOCTYPE`` then, but
            still refuse an ``<!ENTITY`` declaration (where entity expansion lives).
        max_xml_bytes, max_xml_elements: The XML limits (spreadsheets pass
            :data:`MAX_SHEET_XML_BYTES` and :data:`MAX_SHEET_XML_ELEMENTS`: three tags per cell).

    Raises:
        InputLimitExceeded: More than :data:`MAX_ZIP_MEMBERS` members, :data:`MAX_UNZIPPED_BYTES`
            declared bytes, :data:`MAX_XML_BYTES` of XML or :data:`MAX_XML_ELEMENTS` tags.
        CorruptDocument: The zip is unreadable or an XML member declares a DTD.
    """
    fix = fix or "a real Word document is far smaller; save it again from Word, or split it"
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        return  # not a zip at all: python-docx reports it with the right hint
    with archive:
        members = archive.infolist()
        check_count(filename, "zip members", len(members), MAX_ZIP_MEMBERS, fix)
        total = sum(member.file_size for member in members)
        check_count(filename, "decompressed bytes", total, MAX_UNZIPPED_BYTES, fix)
        xml_members = [m for m in members if m.filename.lower().endswith(_XML_SUFFIXES)]
        xml_total = sum(member.file_size for member in xml_members)
        check_count(filename, "bytes of XML", xml_total, max_xml_bytes, fix)
        tags = 0
        try:
            for member in xml_members:
                with archive.open(member) as stream:
                    head = True
                    while block := stream.read(_XML_SCAN_BYTES):
                        marker = b"<!ENTITY" if allow_doctype else b"<!DOCTYPE"
                        if head and marker in block[:4096].upper():
                            raise CorruptDocument(
                                f"{filename}: {member.filename} declares a DTD or entities, which {kind} "
                                f"files never need; save the {kind} file again"
                            )
                        head = False
                        tags += block.count(b"<")
                        if tags > max_xml_elements:
                            raise limit_error(
                                filename, "XML tags", f"over {max_xml_elements:,}", max_xml_elements, fix
                            )
        except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, ValueError) as exc:
            # zlib.error is an Exception subclass that zipfile may let through: caught by python-docx.
            raise CorruptDocument(
                f"{filename} cannot be read as {kind} ({type(exc).__name__}: {exc}); save it again as "
                f".{kind.lower()}"
            ) from exc


def check_html(data: bytes, filename: str) -> None:
    """Refuse HTML with more than :data:`MAX_HTML_ELEMENTS` tags before BeautifulSoup builds its tree.

    Raises:
        InputLimitExceeded: Too many ``<`` bytes (an upper bound on the tags).
    """
    check_count(
        filename, "HTML tags", data.count(b"<"), MAX_HTML_ELEMENTS, "split the page, or save it as text"
    )


def check_text_length(filename: str, chars: int) -> None:
    """Refuse a document with more than :data:`MAX_DOCUMENT_CHARS` characters of text.

    Raises:
        InputLimitExceeded: ``chars`` is above the limit.
    """
    check_count(filename, "characters of text", chars, MAX_DOCUMENT_CHARS, "split the document into parts")


def check_rows(filename: str, rows: int, what: str = "rows") -> None:
    """Refuse a CSV or JSONL file with more than :data:`MAX_ROWS` rows (lines).

    Raises:
        InputLimitExceeded: ``rows`` is above the limit.
    """
    check_count(filename, what, rows, MAX_ROWS, "split the file into several files")


def check_csv_shape(filename: str, rows: int, columns: int, csv_mode: str) -> None:
    """Refuse a CSV table past the column, cell or (file mode) row limits.

    Args:
        filename: For messages.
        rows: Data rows read (at most ``MAX_ROWS + 1``: the reader stops there).
        columns: Columns in the header.
        csv_mode: ``"file"`` or ``"rows"``.

    Raises:
        InputLimitExceeded: Over :data:`MAX_ROWS`, :data:`MAX_CSV_COLUMNS`, :data:`MAX_CSV_CELLS`, or
            :data:`MAX_CSV_FILE_MODE_ROWS` in file mode.
    """
    check_rows(filename, rows)
    check_count(filename, "columns", columns, MAX_CSV_COLUMNS, "keep the columns you need")
    check_count(filename, "cells", rows * columns, MAX_CSV_CELLS, "split the file into several files")
    if csv_mode == "file":
        check_count(
            filename,
            "rows",
            rows,
            MAX_CSV_FILE_MODE_ROWS,
            "a table this long is not one document: ingest it in rows mode, one document per row "
            "(`rag ingest --csv-mode rows`, or 'One document per row' on the Upload page)",
        )


def _without_nul(value: Any) -> Any:
    """JSON value with U+0000 removed from every string, keys included (``jsonb`` rejects it)."""
    if isinstance(value, str):
        return value.replace("\0", "") if "\0" in value else value
    if isinstance(value, dict):
        return {_without_nul(str(key)): _without_nul(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_nul(item) for item in value]
    return value


def clean_document(document: LoadedDocument) -> LoadedDocument:
    """The document with text PostgreSQL can store: see the module docstring.

    Args:
        document: As a loader built it.

    Returns:
        The same document when nothing needed cleaning, else a copy with the fields cleaned.
    """
    if not _needs_cleaning(document):  # the common case: no copy made
        return document
    sections = tuple(
        replace(
            section,
            text=section.text.replace("\0", ""),
            heading_path=tuple(map(one_line, section.heading_path)),
        )
        if "\0" in section.text or any(map(has_control_characters, section.heading_path))
        else section
        for section in document.sections
    )
    external_id = None if document.external_id is None else one_line(document.external_id)
    cleaned = replace(
        document,
        title=one_line(document.title),
        source_name=one_line(document.source_name),
        external_id=external_id,
        sections=sections,
        metadata=_without_nul(document.metadata),
    )
    return cleaned


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\0" in value
    if isinstance(value, dict):
        return any(_has_nul(str(key)) or _has_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(map(_has_nul, value))
    return False


def _needs_cleaning(document: LoadedDocument) -> bool:
    # One regex search over the one-line fields joined, one substring test per section: cheap.
    headings = [heading for section in document.sections for heading in section.heading_path]
    one_line_fields = " ".join([document.title, document.source_name, document.external_id or "", *headings])
    return (
        has_control_characters(one_line_fields)
        or any("\0" in section.text for section in document.sections)
        or (bool(document.metadata) and _has_nul(document.metadata))
    )
