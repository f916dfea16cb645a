"""Turn files into :class:`~rag.models.LoadedDocument` values, one loader per format.

Each format is read with a well-kept library, never with our own parser: pypdf (PDF), python-docx
(DOCX), BeautifulSoup + lxml (HTML), LangChain's ``MarkdownHeaderTextSplitter`` (Markdown),
charset-normalizer (text decoding), pandas (CSV) and the standard ``json`` module (BEIR JSONL).
The libraries are imported inside the loaders, so importing this module stays cheap.

:func:`load_bytes` checks the size, emptiness and extension first, then parses the whole file before
it returns, so a bad file raises before any document is handed out (for JSONL and CSV rows every line
is validated first: a file with one bad line yields nothing). Every error is a
:class:`~rag.errors.LoaderError` subclass whose message says what to do.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any, Literal

from rag.errors import (
    ConfigError,
    CorruptDocument,
    EmptyDocument,
    EncryptedDocument,
    FileTooLarge,
    LoaderError,
    NoExtractableText,
    UnsupportedFileType,
)
from rag.models import LoadedDocument, Section

if TYPE_CHECKING:
    from bs4 import Tag
    from docx.table import Table

_MIB = 1024 * 1024


@dataclass(frozen=True)
class LoadOptions:
    """How files are turned into documents.

    Attributes:
        max_file_bytes: Largest accepted file, in bytes (``RAG_MAX_FILE_MB`` * 1 MiB; default 50 MiB).
        csv_mode: ``"file"``: one document per CSV file, one section per row. ``"rows"``: one
            document per row (e.g. a table of organisations, one row each).
        csv_title_column: Rows mode: the column whose value is each row's title (an empty value
            gives ``"row N"``); ``None`` titles every row ``"row N"``.
        csv_text_columns: Rows mode: the columns written into each row's text as ``Column: value``
            lines, in this order; ``None`` means every column except the title column.

    Raises:
        ConfigError: ``csv_mode`` is not ``"file"`` or ``"rows"``, or ``max_file_bytes`` < 1.
    """

    max_file_bytes: int = 50 * _MIB
    csv_mode: Literal["file", "rows"] = "file"
    csv_title_column: str | None = None
    csv_text_columns: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        """Validate the options early, with a message naming the fix."""
        if self.csv_mode not in ("file", "rows"):
            raise ConfigError(f"csv_mode {self.csv_mode!r} is unknown: use 'file' or 'rows'")
        if self.max_file_bytes < 1:
            raise ConfigError(
                f"max_file_bytes {self.max_file_bytes} must be at least 1 (set RAG_MAX_FILE_MB)"
            )


_MEDIA_TYPES: dict[str, str] = {
    ".pdf": "application/pdf",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".html": "text/html",
    ".htm": "text/html",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".txt": "text/plain",
    ".csv": "text/csv",
    ".jsonl": "application/x-ndjson",
}

SUPPORTED_EXTENSIONS: frozenset[str] = frozenset(_MEDIA_TYPES)
"""Lower-cased file extensions (with the dot) that have a loader."""

_Loader = Callable[[bytes, str, LoadOptions], list[LoadedDocument]]


def load_bytes(data: bytes, filename: str, options: LoadOptions = LoadOptions()) -> Iterator[LoadedDocument]:
    """Load the documents contained in one file's bytes.

    The loader is chosen by the lower-cased extension of ``filename``. The whole file is parsed and
    validated before this function returns, so every error below is raised by the call itself and a
    bad file never yields some of its documents.

    Args:
        data: The file's bytes.
        filename: The file's name (no folders needed); the extension picks the loader and the name
            becomes ``source_name`` (``name#row-3`` / ``name#<_id>`` for CSV rows / JSONL lines).
        options: Size limit and CSV settings.

    Returns:
        The documents in file order: one for PDF, DOCX, HTML, Markdown, TXT and CSV in ``"file"``
        mode; one per row (CSV ``"rows"`` mode, rows without any text are skipped) or per line
        (JSONL, lines whose ``title`` and ``text`` are both blank are skipped).

    Raises:
        FileTooLarge: ``len(data)`` exceeds ``options.max_file_bytes``.
        EmptyDocument: The file has 0 bytes, or no text after extraction.
        UnsupportedFileType: The extension is not in :data:`SUPPORTED_EXTENSIONS`.
        EncryptedDocument: A PDF needs a password.
        NoExtractableText: A PDF has no text layer (scanned pages; OCR is not supported).
        CorruptDocument: The file cannot be parsed (truncated, binary renamed to ``.txt``, bad
            JSONL line...).
        ConfigError: CSV rows mode names a column the file does not have.
    """
    size = len(data)
    if size > options.max_file_bytes:
        raise _too_large(filename, size, options)
    if size == 0:
        raise EmptyDocument(f"{filename}: file is empty (0 bytes); upload a file with content")
    extension = PurePath(filename).suffix.lower()
    loader = _LOADERS.get(extension)
    if loader is None:
        kind = f"'{extension}' files are" if extension else "files without an extension are"
        raise UnsupportedFileType(
            f"{filename}: {kind} not supported; supported types: {', '.join(sorted(SUPPORTED_EXTENSIONS))}"
        )
    documents = loader(data, filename, options)
    for document in documents:
        if not any(section.text.strip() for section in document.sections):
            raise EmptyDocument(f"{document.source_name}: no text found; the file has nothing to index")
    return iter(documents)


def load_path(path: Path, options: LoadOptions = LoadOptions()) -> Iterator[LoadedDocument]:
    """Load the documents of one file on disk; ``source_name`` is the file's name (``path.name``).

    The size is checked with ``stat`` before the file is read, so an over-size file is never read.

    Args:
        path: The file.
        options: Size limit and CSV settings.

    Returns:
        As :func:`load_bytes`.

    Raises:
        LoaderError: The file cannot be read (missing, a folder, no permission); plus every error of
            :func:`load_bytes`.
    """
    try:
        size = path.stat().st_size
        if size > options.max_file_bytes:
            raise _too_large(path.name, size, options)
        data = path.read_bytes()
    except OSError as exc:
        raise LoaderError(f"cannot read {path}: {exc.strerror or exc}; check that the file exists") from exc
    return load_bytes(data, path.name, options)


def _too_large(filename: str, size: int, options: LoadOptions) -> FileTooLarge:
    return FileTooLarge(
        f"{filename} is {size / _MIB:.1f} MiB, above the limit of {options.max_file_bytes / _MIB:g} MiB: "
        "split the file, or set RAG_MAX_FILE_MB to a larger limit"
    )


def iter_files(paths: Iterable[Path]) -> Iterator[Path]:
    """List the files to ingest from files and folders.

    Folders are walked recursively (symlinked folders are not followed); their files come in sorted
    path order, and hidden files and folders (name starting with ``.``) are skipped. A path given
    directly is yielded even when hidden. Every file is yielded, including unsupported ones, so the
    caller can report them as failed; a path that does not exist is yielded too (loading it raises
    :class:`~rag.errors.LoaderError`). Each file is yielded once.

    Args:
        paths: Files and folders.

    Yields:
        File paths.
    """
    seen: set[Path] = set()
    for path in paths:
        if path.is_dir():
            found: list[Path] = []
            for root, dirnames, filenames in os.walk(path):
                dirnames[:] = [name for name in dirnames if not name.startswith(".")]
                found.extend(Path(root, name) for name in filenames if not name.startswith("."))
            candidates = sorted(found)
        else:
            candidates = [path]
        for candidate in candidates:
            key = candidate.resolve()
            if key not in seen:
                seen.add(key)
                yield candidate


# --------------------------------------------------------------------------------------------------
# Text helpers
# --------------------------------------------------------------------------------------------------

# Longest BOMs first: the UTF-32-LE BOM starts with the UTF-16-LE one.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# C0/C1 control characters other than tab, newline, vertical tab, form feed, carriage return.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")
# Text with more than this share of control characters (in the first _SNIFF_CHARS) is binary.
_MAX_CONTROL_SHARE = 0.05
_SNIFF_CHARS = 64 * 1024
# charset-normalizer cannot tell apart the Western single-byte code pages on short text (it
# reports "café naïve" as cp1006 or cp1257, with the same zero "chaos" as cp1252). When Windows-1252
# is among its candidates and nearly as coherent, we take it: it is the WHATWG Encoding Standard's
# decoder for "latin1"/"iso-8859-1" labels and the most common legacy encoding of Western text.
_CP1252_CHAOS_TOLERANCE = 0.2
_BLANK_LINES_RE = re.compile(r"\n{3,}")


def _binary_error(filename: str) -> CorruptDocument:
    return CorruptDocument(
        f"{filename} looks like a binary file, not text; upload the original document "
        "(PDF, DOCX...) or save it as UTF-8 text"
    )


def _decode_text(data: bytes, filename: str) -> str:
    """Decode a text file's bytes to ``str``.

    Order: a byte-order mark (UTF-8, UTF-16, UTF-32) decides; else strict UTF-8; else
    charset-normalizer's best guess (``from_bytes(data).best()``), preferring Windows-1252 when it is
    a near-equal candidate (see ``_CP1252_CHAOS_TOLERANCE``). NUL bytes without a BOM are accepted only
    when charset-normalizer reads them as UTF-16/32.

    Args:
        data: The bytes.
        filename: Used in error messages.

    Returns:
        The text, without a BOM.

    Raises:
        CorruptDocument: No encoding fits, or the text looks binary (NUL characters, or more than 5 %
            control characters).
    """
    text: str | None = None
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                text = data.decode(encoding)
            except UnicodeDecodeError as exc:
                raise CorruptDocument(
                    f"{filename} starts with a {encoding} byte-order mark but is not valid {encoding}: "
                    "save it again as UTF-8"
                ) from exc
            break
    if text is None:
        if b"\0" in data:
            text = _detect_encoding(data, filename, wide_only=True)
        else:
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                text = _detect_encoding(data, filename, wide_only=False)
    text = text.removeprefix("\ufeff")
    sample = text[:_SNIFF_CHARS]
    if "\0" in sample or len(_CONTROL_RE.findall(sample)) > _MAX_CONTROL_SHARE * len(sample):
        raise _binary_error(filename)
    return text


def _detect_encoding(data: bytes, filename: str, *, wide_only: bool) -> str:
    from charset_normalizer import from_bytes

    matches = from_bytes(data)
    best = matches.best()
    if best is None:
        raise _binary_error(filename)
    if wide_only and not best.encoding.startswith(("utf_16", "utf_32")):
        raise _binary_error(filename)
    if best.encoding != "cp1252":
        for match in matches:
            if match.encoding == "cp1252" and match.chaos <= best.chaos + _CP1252_CHAOS_TOLERANCE:
                best = match
                break
    return str(best)


def _clean(text: str, *, keep_indent: bool = False) -> str:
    """Normalise whitespace: LF line ends, no control characters, single spaces, <= 1 blank line.

    With ``keep_indent`` the start of each line is left as is (plain text, code); otherwise runs of
    spaces/tabs become one space and lines are stripped.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL_RE.sub("", text)
    if keep_indent:
        lines = [line.rstrip() for line in text.split("\n")]
    else:
        # str.split() splits on every Unicode whitespace (tab, no-break space...); faster than a regex.
        lines = [" ".join(line.split()) for line in text.split("\n")]
    text = "\n".join(lines)
    if "\n\n\n" in text:
        text = _BLANK_LINES_RE.sub("\n\n", text)
    return text.strip()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _stem(filename: str) -> str:
    return PurePath(filename).stem or filename


def _single(
    data: bytes,
    filename: str,
    title: str,
    sections: list[Section],
    *,
    metadata: dict[str, Any] | None = None,
    page_count: int | None = None,
) -> list[LoadedDocument]:
    """Wrap the sections of a one-document file; drops sections without text."""
    return [
        LoadedDocument(
            title=title.strip() or _stem(filename),
            source_name=filename,
            media_type=_MEDIA_TYPES[PurePath(filename).suffix.lower()],
            sections=tuple(section for section in sections if section.text.strip()),
            content_sha256=_sha256(data),
            size_bytes=len(data),
            metadata=metadata or {},
            page_count=page_count,
        )
    ]


class _HeadingPath:
    """The headings above the current position: a stack of (level, text), outermost first."""

    def __init__(self) -> None:
        self._stack: list[tuple[int, str]] = []

    def enter(self, level: int, text: str) -> None:
        while self._stack and self._stack[-1][0] >= level:
            self._stack.pop()
        self._stack.append((level, text))

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(text for _, text in self._stack)


# --------------------------------------------------------------------------------------------------
# PDF
# --------------------------------------------------------------------------------------------------

_PDF_HYPHEN_RE = re.compile(r"(?<=[a-z])-\n(?=[a-z])")


def _clean_pdf_text(text: str) -> str:
    """Clean pypdf's text: rejoin words hyphenated at a line end, single spaces, keep line breaks."""
    return _clean(_PDF_HYPHEN_RE.sub("", text.replace("\r\n", "\n")))


def _load_pdf(data: bytes, filename: str, options: LoadOptions) -> list[LoadedDocument]:
    from pypdf import PasswordType, PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError, PyPdfError

    encrypted_message = (
        f"{filename} is password protected; remove the password and upload again "
        "(e.g. print it to a new PDF, or `qpdf --decrypt`)"
    )
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
            # Many PDFs are encrypted with an empty user password (only editing is restricted).
            raise EncryptedDocument(encrypted_message)
        pages = list(reader.pages)
    except LoaderError:
        raise
    except FileNotDecryptedError as exc:
        raise EncryptedDocument(encrypted_message) from exc
    except DependencyError as exc:
        raise EncryptedDocument(
            f"{filename} uses AES encryption, which needs the 'cryptography' package: "
            f"pip install cryptography, or remove the password and upload again ({exc})"
        ) from exc
    except Exception as exc:  # pypdf raises many types on damaged files (PdfReadError, ValueError...)
        raise CorruptDocument(
            f"{filename} cannot be read as a PDF ({type(exc).__name__}: {exc}); it may be truncated or "
            "damaged: download or export it again"
        ) from exc

    sections: list[Section] = []
    for number, page in enumerate(pages, start=1):
        try:
            raw = page.extract_text() or ""
        except Exception as exc:  # same reason as above
            raise CorruptDocument(
                f"{filename}: page {number} cannot be read ({type(exc).__name__}: {exc}); "
                "the PDF may be damaged: export it again"
            ) from exc
        text = _clean_pdf_text(raw)
        if text:
            sections.append(Section(text=text, page=number))
    if not pages:
        raise EmptyDocument(f"{filename}: the PDF has no pages; no text found")
    if not sections:
        raise NoExtractableText(
            f"{filename}: no extractable text; OCR is not supported. The pages are probably scanned "
            "images: run the file through OCR (e.g. ocrmypdf) and upload the result"
        )

    title = ""
    metadata: dict[str, Any] = {}
    try:
        info = reader.metadata
        if info is not None:
            title = info.title if isinstance(info.title, str) else ""
            for key, value in (("author", info.author), ("subject", info.subject)):
                if isinstance(value, str) and value.strip():
                    metadata[key] = value.strip()
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError):
        pass  # a broken /Info dictionary only loses the title: the text is what matters
    return _single(data, filename, title, sections, metadata=metadata, page_count=len(pages))


# --------------------------------------------------------------------------------------------------
# DOCX
# --------------------------------------------------------------------------------------------------

_HEADING_STYLE_RE = re.compile(r"^Heading ([1-9])$")
# Compound File Binary signature: legacy .doc files and password-protected Office files.
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def _docx_table_lines(table: Table) -> list[str]:
    """One ``cell | cell | cell`` line per row; a merged cell is written once."""
    lines = []
    for row in table.rows:
        cells = []
        previous = None
        for cell in row.cells:
            if previous is not None and cell._tc is previous:  # horizontally merged: same <w:tc>
                continue
            previous = cell._tc
            cells.append(" ".join(cell.text.split()))
        if any(cells):
            lines.append(" | ".join(cells))
    return lines


def _load_docx(data: bytes, filename: str, options: LoadOptions) -> list[LoadedDocument]:
    import docx
    from docx.table import Table

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # BadZipFile, KeyError, PackageNotFoundError, lxml errors...
        if data.startswith(_OLE_MAGIC):
            hint = "it is an old .doc file or password protected: save it as .docx without a password"
        else:
            hint = "it may be truncated or not a Word document: save it again as .docx"
        raise CorruptDocument(f"{filename} cannot be read as DOCX ({type(exc).__name__}); {hint}") from exc

    sections: list[Section] = []
    headings = _HeadingPath()
    buffer: list[str] = []
    first_heading = ""

    def flush() -> None:
        text = _clean("\n".join(buffer))
        if text:
            sections.append(Section(text=text, heading_path=headings.path))
        buffer.clear()

    try:
        for block in document.iter_inner_content():
            if isinstance(block, Table):
                buffer.extend(_docx_table_lines(block))
                continue
            text = block.text
            style_name = block.style.name if block.style is not None else ""
            match = _HEADING_STYLE_RE.match(style_name or "")
            level = 0 if style_name == "Title" else int(match.group(1)) if match else None
            heading = " ".join(text.split())
            if level is not None and heading:
                flush()
                headings.enter(level, heading)
                first_heading = first_heading or heading
            else:
                buffer.append(text)
        flush()
        title = (document.core_properties.title or "").strip() or first_heading
    except Exception as exc:  # malformed XML inside a valid zip
        raise CorruptDocument(
            f"{filename}: the DOCX content cannot be read ({type(exc).__name__}: {exc}); "
            "save it again as .docx"
        ) from exc
    return _single(data, filename, title, sections)


# --------------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------------

_HTML_DROP = frozenset(
    {"script", "style", "noscript", "nav", "header", "footer", "aside", "form", "svg", "template"}
    | {"head", "title", "meta", "link", "iframe", "object", "embed", "canvas"}
)
_HTML_HEADINGS = {f"h{level}": level for level in range(1, 7)}
# Blocks separated from their neighbours by a blank line (paragraphs) or by a line break.
_HTML_PARAGRAPHS = frozenset(
    {"address", "article", "blockquote", "dl", "figure", "main", "ol", "p", "pre", "section", "table", "ul"}
)
_HTML_LINES = frozenset(
    {"body", "caption", "center", "dd", "details", "dialog", "div", "dt", "fieldset", "figcaption", "hr"}
    | {"html", "li", "summary", "tbody", "tfoot", "thead", "tr"}
)
# Break markers (Unicode private-use characters) written while walking, resolved once at the end: a
# run of whitespace holding a paragraph marker becomes a blank line, otherwise a line break.
_PARA_MARK, _LINE_MARK = "\ue000", "\ue001"
_HTML_BREAKS_RE = re.compile(r"[\s\ue000\ue001]*[\ue000\ue001][\s\ue000\ue001]*")


def _html_text(tag: Tag) -> str:
    return " ".join(tag.get_text(" ").split())


def _html_breaks(match: re.Match[str]) -> str:
    return "\n\n" if _PARA_MARK in match.group() else "\n"


def _load_html(data: bytes, filename: str, options: LoadOptions) -> list[LoadedDocument]:
    from bs4 import BeautifulSoup, NavigableString
    from bs4 import Tag as BsTag
    from bs4.element import PreformattedString

    soup = BeautifulSoup(_decode_text(data, filename), "lxml")
    title_tag = soup.find("title")
    title = _html_text(title_tag) if title_tag is not None else ""
    if not title:
        first_h1 = soup.find("h1")
        title = _html_text(first_h1) if first_h1 is not None else ""

    sections: list[Section] = []
    headings = _HeadingPath()
    buffer: list[str] = []

    def flush() -> None:
        text = _clean(_HTML_BREAKS_RE.sub(_html_breaks, "".join(buffer)))
        if text:
            sections.append(Section(text=text, heading_path=headings.path))
        buffer.clear()

    # Iterative walk, so deeply nested HTML cannot hit the recursion limit. A stack item is
    # (node, inside <pre>), or a break marker to write after a block's children.
    root = soup.body or soup
    stack: list[Any] = [(child, False) for child in reversed(list(root.children))]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            buffer.append(item)
            continue
        node, in_pre = item
        if isinstance(node, NavigableString):
            if not isinstance(node, PreformattedString):  # skip comments, CDATA, doctype...
                buffer.append(str(node) if in_pre else re.sub(r"\s+", " ", str(node)))
            continue
        if not isinstance(node, BsTag) or node.name in _HTML_DROP:
            continue
        name = node.name
        if name in _HTML_HEADINGS:
            heading = _html_text(node)
            if heading:
                flush()
                headings.enter(_HTML_HEADINGS[name], heading)
            continue
        if name == "br":
            buffer.append(_LINE_MARK)
            continue
        if name in ("td", "th") and node.find_previous_sibling(("td", "th")) is not None:
            buffer.append(" | ")
        mark = _PARA_MARK if name in _HTML_PARAGRAPHS else _LINE_MARK if name in _HTML_LINES else ""
        if mark:
            buffer.append(mark)
            stack.append(mark)
        stack.extend((child, in_pre or name == "pre") for child in reversed(list(node.children)))
    flush()
    return _single(data, filename, title, sections)


# --------------------------------------------------------------------------------------------------
# Markdown and plain text
# --------------------------------------------------------------------------------------------------

_MARKDOWN_HEADERS = [("#" * level, f"h{level}") for level in range(1, 7)]


def _load_markdown(data: bytes, filename: str, options: LoadOptions) -> list[LoadedDocument]:
    from langchain_text_splitters import MarkdownHeaderTextSplitter

    splitter = MarkdownHeaderTextSplitter(headers_to_split_on=_MARKDOWN_HEADERS, strip_headers=True)
    sections: list[Section] = []
    title = ""
    for part in splitter.split_text(_decode_text(data, filename)):
        path = tuple(part.metadata[key] for _, key in _MARKDOWN_HEADERS if part.metadata.get(key))
        title = title or part.metadata.get("h1", "")
        # The splitter strips every line and joins paragraphs that share headings with "  \n".
        sections.append(Section(text=_clean(part.page_content.replace("  \n", "\n\n")), heading_path=path))
    return _single(data, filename, title, sections)


def _load_text(data: bytes, filename: str, options: LoadOptions) -> list[LoadedDocument]:
    text = _clean(_decode_text(data, filename), keep_indent=True)
    return _single(data, filename, "", [Section(text=text)])


# --------------------------------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------------------------------


def _check_columns(names: Iterable[str], columns: list[str], filename: str, what: str) -> None:
    missing = [name for name in names if name not in columns]
    if missing:
        raise ConfigError(
            f"{what} {', '.join(repr(name) for name in missing)} not found in {filename}; "
            f"available columns: {', '.join(columns)}"
        )


def _load_csv(data: bytes, filename: str, options: LoadOptions) -> list[LoadedDocument]:
    import pandas as pd

    text = _decode_text(data, filename)
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError as exc:
        raise EmptyDocument(f"{filename}: the CSV has no header row and no data; no text found") from exc
    except (pd.errors.ParserError, ValueError) as exc:
        raise CorruptDocument(
            f"{filename} cannot be parsed as CSV ({exc}); check the quoting and that every row has "
            "the same number of fields"
        ) from exc
    columns = [str(column).strip() for column in frame.columns]
    rows = [
        ["" if value is None else str(value).strip() for value in row]
        for row in frame.itertuples(index=False)
    ]
    if not rows:
        raise EmptyDocument(f"{filename}: the CSV has a header but no rows; no text found")

    if options.csv_mode == "file":
        sections = [
            Section(
                text="; ".join(
                    f"{column}: {value}" for column, value in zip(columns, row, strict=True) if value
                )
            )
            for row in rows
        ]
        metadata = {"columns": columns, "rows": len(rows)}
        return _single(data, filename, "", sections, metadata=metadata)

    title_column = options.csv_title_column
    if title_column is not None:
        _check_columns([title_column], columns, filename, "CSV title column")
    if options.csv_text_columns is not None:
        _check_columns(options.csv_text_columns, columns, filename, "CSV text column(s)")
        text_columns = list(options.csv_text_columns)
    else:
        text_columns = [column for column in columns if column != title_column]
    index = {column: position for position, column in enumerate(columns)}
    metadata_columns = [column for column in columns if column != title_column and column not in text_columns]

    documents = []
    for number, row in enumerate(rows, start=1):
        body = "\n".join(f"{column}: {row[index[column]]}" for column in text_columns if row[index[column]])
        if not body.strip():
            continue
        # Canonical JSON of the row: the same row content gives the same hash wherever it sits.
        row_bytes = json.dumps(
            dict(zip(columns, row, strict=True)), ensure_ascii=False, sort_keys=True
        ).encode()
        title = row[index[title_column]] if title_column is not None else ""
        documents.append(
            LoadedDocument(
                title=title or f"row {number}",
                source_name=f"{filename}#row-{number}",
                media_type=_MEDIA_TYPES[".csv"],
                sections=(Section(text=body),),
                content_sha256=_sha256(row_bytes),
                size_bytes=len(row_bytes),
                metadata={column: row[index[column]] for column in metadata_columns},
            )
        )
    if not documents:
        raise EmptyDocument(f"{filename}: every row's text columns are empty; no text found")
    return documents


# --------------------------------------------------------------------------------------------------
# JSONL (BEIR corpus: {"_id": ..., "title": ..., "text": ..., "metadata": {...}} per line)
# --------------------------------------------------------------------------------------------------


def _load_jsonl(data: bytes, filename: str, options: LoadOptions) -> list[LoadedDocument]:
    data = data.removeprefix(codecs.BOM_UTF8)
    media_type = _MEDIA_TYPES[".jsonl"]
    documents = []
    first_line: dict[str, int] = {}
    for number, raw_line in enumerate(data.split(b"\n"), start=1):
        line = raw_line.strip()
        if not line:
            continue
        where = f"{filename} line {number}"
        try:
            record = json.loads(line)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
            raise CorruptDocument(
                f"{where} is not valid JSON ({exc}); each line must be one JSON object"
            ) from exc
        if not isinstance(record, dict):
            raise CorruptDocument(
                f'{where} is not a JSON object; each line must be {{"_id": ..., "text": ...}}'
            )
        external_id = record.get("_id")
        text = record.get("text")
        if external_id is None or isinstance(external_id, (dict, list)) or str(external_id) == "":
            raise CorruptDocument(f'{where} has no "_id"; BEIR corpus lines need "_id" and "text"')
        if not isinstance(text, str):
            raise CorruptDocument(f'{where} has no "text" string; BEIR corpus lines need "_id" and "text"')
        external_id = str(external_id)
        # Real corpora repeat ids (ClapNQ dev has 4 ids on two different passages each): keep every
        # line as its own document under a distinct source name, with the same external id.
        source_name = f"{filename}#{external_id}"
        duplicate_of = first_line.get(external_id)
        if duplicate_of is not None:
            source_name = f"{filename}#{external_id}@line{number}"
        else:
            first_line[external_id] = number
        title = record.get("title")
        title = title.strip() if isinstance(title, str) else ""
        body = text.strip() or title  # a BEIR document may have only a title
        if not body:
            continue
        extra = record.get("metadata")
        metadata = extra if isinstance(extra, dict) else ({} if extra is None else {"metadata": extra})
        if duplicate_of is not None:
            metadata = {**metadata, "repeats_id_of_line": duplicate_of}
        documents.append(
            LoadedDocument(
                title=title or external_id,
                source_name=source_name,
                media_type=media_type,
                sections=(Section(text=_clean(body)),),
                content_sha256=_sha256(line),
                size_bytes=len(line),
                external_id=external_id,
                metadata=metadata,
            )
        )
    if not documents:
        raise EmptyDocument(f"{filename}: no JSON lines with text; no text found")
    return documents


_LOADERS: dict[str, _Loader] = {
    ".pdf": _load_pdf,
    ".docx": _load_docx,
    ".html": _load_html,
    ".htm": _load_html,
    ".md": _load_markdown,
    ".markdown": _load_markdown,
    ".txt": _load_text,
    ".csv": _load_csv,
    ".jsonl": _load_jsonl,
}
