"""Spreadsheet loader (pandas ``read_excel``: openpyxl for XLSX, odfpy for ODS): each sheet as a table.

A sheet is read like a CSV file in ``"file"`` mode (:func:`rag.loaders.tabular.load_csv`): its first
row is the header, and every data row becomes one ``Column: value; ...`` section, under the sheet's
name as heading. Before pandas reads anything the zip is checked (:func:`rag.loaders.guards.check_zip`)
and, for ODS, the repeat counts: OpenDocument compresses a run of equal cells or rows into one element
with ``number-columns-repeated`` / ``number-rows-repeated``, and pandas expands them, so a few bytes
could ask for billions of cells. LibreOffice writes huge repeats only for the empty cells that end a
row and the empty rows that end a table; any other repeat above the table limits is refused.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import PurePath

from rag.errors import CorruptDocument, EmptyDocument, EncryptedDocument, LoaderError
from rag.loaders import guards
from rag.loaders.options import LoadOptions
from rag.loaders.text import single_document
from rag.models import LoadedDocument, Section

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_FIX = "a real spreadsheet is far smaller; save it again, or split it"
_REPEAT_RE = re.compile(rb'number-(columns|rows)-repeated="(\d+)"')
# What an allowed large repeat looks like: an empty cell that ends its row; an empty row that ends its table.
_TRAILING_CELL_RE = re.compile(rb"\A[^>]*/>\s*</table:table-row>")
_TRAILING_ROW_RE = re.compile(
    rb"\A[^>]*>(?:\s*<table:table-cell[^>]*/>)*\s*</table:table-row>\s*</table:table>"
)


def _check_ods_repeats(data: bytes, filename: str) -> None:
    """Refuse an ODS whose repeat counts would make pandas build more cells than the table limits."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive, archive.open("content.xml") as stream:
            content = stream.read(guards.MAX_SHEET_XML_BYTES + 1)
    except (KeyError, zipfile.BadZipFile, OSError, EOFError, RuntimeError, ValueError):
        return  # pandas reports the damage with its own message, caught below
    for match in _REPEAT_RE.finditer(content):
        kind, count = match.group(1), int(match.group(2))
        limit = guards.MAX_CSV_COLUMNS if kind == b"columns" else guards.MAX_CSV_FILE_MODE_ROWS
        if count <= limit:
            continue
        rest = content[match.end() : match.end() + 64 * 1024]
        trailing = _TRAILING_CELL_RE if kind == b"columns" else _TRAILING_ROW_RE
        if not trailing.match(rest):
            raise guards.limit_error(filename, f"repeated {kind.decode()}", count, limit, _FIX)


def load_spreadsheet(data: bytes, filename: str, options: LoadOptions) -> list[LoadedDocument]:
    """Load an XLSX or ODS workbook: every sheet with data, one section per row, in sheet order.

    Every value is read as text (``dtype=str``; formulas give their last computed value); empty rows
    are skipped and a column without a header is called ``column N``.

    Args:
        data: The file's bytes.
        filename: The file's name (``.xlsx`` or ``.ods`` picks the engine), ``source_name`` and messages.
        options: Unused: every loader takes the same arguments (see :mod:`rag.loaders`).

    Returns:
        One document; each section's ``heading_path`` is ``(sheet name,)``; ``metadata``
        ``{"sheets": [{"name", "columns", "rows"}, ...]}``.

    Raises:
        CorruptDocument: The file is not a readable workbook (truncated, legacy ``.xls``...).
        EncryptedDocument: The workbook is password protected.
        EmptyDocument: No sheet has a data row.
        InputLimitExceeded: Past the zip, XML, repeat, row, column or cell limits of
            :mod:`rag.loaders.guards` (per sheet, the CSV file-mode limits).
    """
    import pandas as pd

    extension = PurePath(filename).suffix.lower()
    kind = "ODS" if extension == ".ods" else "XLSX"
    if data.startswith(_OLE_MAGIC):
        raise EncryptedDocument(
            f"{filename} is password protected or an old .xls file; save it as .{kind.lower()} without a password"
        )
    guards.check_zip(
        data,
        filename,
        kind,
        _FIX,
        max_xml_bytes=guards.MAX_SHEET_XML_BYTES,
        max_xml_elements=guards.MAX_SHEET_XML_ELEMENTS,
    )
    if kind == "ODS":
        _check_ods_repeats(data, filename)
    try:
        frames = pd.read_excel(
            io.BytesIO(data),
            sheet_name=None,
            dtype=str,
            keep_default_na=False,
            nrows=guards.MAX_CSV_FILE_MODE_ROWS + 1,
            engine="odf" if kind == "ODS" else "openpyxl",
        )
    except LoaderError:
        raise
    except Exception as exc:  # BadZipFile, KeyError, XML and value errors of openpyxl / odfpy
        raise CorruptDocument(
            f"{filename} cannot be read as {kind} ({type(exc).__name__}: {exc}); it may be truncated or "
            f"another format: save it again as .{kind.lower()}"
        ) from exc
    sections: list[Section] = []
    sheets = []
    for sheet_name, frame in frames.items():
        columns = [
            str(column).strip() if not str(column).startswith("Unnamed: ") else f"column {number}"
            for number, column in enumerate(frame.columns, start=1)
        ]
        guards.check_csv_shape(f"{filename} sheet {sheet_name!r}", len(frame), len(columns), "file")
        rows = 0
        for row in frame.itertuples(index=False):
            values = ["" if value is None else str(value).strip() for value in row]
            text = "; ".join(
                f"{column}: {value}" for column, value in zip(columns, values, strict=True) if value
            )
            if text:
                sections.append(Section(text=text, heading_path=(str(sheet_name),)))
                rows += 1
        if rows:
            sheets.append({"name": str(sheet_name), "columns": columns, "rows": rows})
    if not sections:
        raise EmptyDocument(f"{filename}: no sheet has a row with data under its header; no text found")
    return single_document(data, filename, "", sections, metadata={"sheets": sheets})
