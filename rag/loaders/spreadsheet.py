"""Spreadsheet loader (pandas ``read_excel``: openpyxl for XLSX, odfpy for ODS): each sheet as a table.

A sheet is read like a CSV file in ``"file"`` mode (:func:`rag.loaders.tabular.load_csv`): its first
non-empty row is the header (XLSX; ODS: row 1), and every data row becomes one ``Column: value; ...`` section, under the sheet's
name as heading. Before pandas reads anything the zip is checked (:func:`rag.loaders.guards.check_zip`)
and, for ODS, the repeat counts: OpenDocument compresses a run of equal cells or rows into one element
with ``number-columns-repeated`` / ``number-rows-repeated``, and pandas expands them, so a few bytes
could ask for billions of cells. LibreOffice writes huge repeats only for the empty cells that end a
row and the empty rows that end a table; any other repeat above the table limits is refused, and so
is a product of row and column repeats above the cell limit. XLSX is read cell by cell
(:mod:`rag.loaders.xlsx_cells`): only the cells the file holds, so a far-away cell costs nothing.
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
from rag.loaders.xlsx_cells import SheetTable
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
    _check_ods_cell_product(content, filename)


_ROW_RE = re.compile(rb"<table:table-row\b([^>]*?)(/?)>")
_CELL_RE = re.compile(rb"<table:(?:covered-)?table-cell\b([^>]*?)(/?)>")
_ROW_END = b"</table:table-row>"


def _repeat(attributes: bytes, kind: bytes) -> int:
    match = re.search(rb"number-" + kind + rb'-repeated="(\d+)"', attributes)
    return int(match.group(1)) if match else 1


def _check_ods_cell_product(content: bytes, filename: str) -> None:
    """Refuse an ODS whose rows-repeated x cells-per-row sum passes :data:`guards.MAX_CSV_CELLS`.

    Each repeat count alone may be under its limit (20,000 rows x 1,000 columns) while their product
    is 20 million cells. A row's empty cells that end it (written by LibreOffice with huge repeats)
    are not counted: pandas drops them.
    """
    total = 0
    for row in _ROW_RE.finditer(content):
        if row.group(2):  # a self-closing row holds no cells
            continue
        end = content.find(_ROW_END, row.end())
        body = content[row.end() : end if end >= 0 else len(content)]
        cells = 0
        pending_empty = 0  # empty cells not yet followed by a filled one
        for cell in _CELL_RE.finditer(body):
            count = _repeat(cell.group(1), b"columns")
            if cell.group(2):
                pending_empty += count
            else:
                cells += pending_empty + count
                pending_empty = 0
        total += _repeat(row.group(1), b"rows") * cells
        if total > guards.MAX_CSV_CELLS:
            raise guards.limit_error(
                filename,
                "cells (repeated rows x repeated columns)",
                f"over {guards.MAX_CSV_CELLS:,}",
                guards.MAX_CSV_CELLS,
                _FIX,
            )


def _column_names(table: SheetTable) -> list[str]:
    """Header texts (``column N`` where empty), made unique (a merged header repeats over its columns)."""
    names: list[str] = []
    seen: dict[str, int] = {}
    for column in table.columns:
        name = table.header.get(column) or f"column {column}"
        seen[name] = seen.get(name, 0) + 1
        names.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return names


def _ods_tables(data: bytes, filename: str) -> list[SheetTable]:
    """Every ODS sheet through pandas (odfpy), after :func:`_check_ods_repeats` bounded its size."""
    import pandas as pd

    frames = pd.read_excel(
        io.BytesIO(data),
        sheet_name=None,
        dtype=str,
        keep_default_na=False,
        nrows=guards.MAX_CSV_FILE_MODE_ROWS + 1,
        engine="odf",
    )
    tables = []
    for sheet_name, frame in frames.items():
        numbers = tuple(range(1, len(frame.columns) + 1))
        header = {
            number: str(column).strip()
            for number, column in zip(numbers, frame.columns, strict=True)
            if not str(column).startswith("Unnamed: ")
        }
        guards.check_csv_shape(f"{filename} sheet {sheet_name!r}", len(frame), len(numbers), "file")
        rows = tuple(
            {n: str(v).strip() for n, v in zip(numbers, row, strict=True) if v is not None and str(v).strip()}
            for row in frame.itertuples(index=False)
        )
        tables.append(SheetTable(str(sheet_name), numbers, header, rows))
    return tables


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
        if kind == "ODS":
            tables = _ods_tables(data, filename)
        else:
            from rag.loaders.xlsx_cells import read_xlsx_tables

            tables = read_xlsx_tables(data, filename)
    except LoaderError:
        raise
    except Exception as exc:  # BadZipFile, KeyError, XML and value errors of openpyxl / odfpy
        raise CorruptDocument(
            f"{filename} cannot be read as {kind} ({type(exc).__name__}: {exc}); it may be truncated or "
            f"another format: save it again as .{kind.lower()}"
        ) from exc
    sections: list[Section] = []
    sheets = []
    for table in tables:
        columns = _column_names(table)
        rows = 0
        for row in table.rows:
            text = "; ".join(
                f"{columns[index]}: {row[column]}"
                for index, column in enumerate(table.columns)
                if row.get(column)
            )
            if text:
                sections.append(Section(text=text, heading_path=(table.name,)))
                rows += 1
        if rows:
            sheets.append({"name": table.name, "columns": columns, "rows": rows})
    if not sections:
        raise EmptyDocument(f"{filename}: no sheet has a row with data under its header; no text found")
    return single_document(data, filename, "", sections, metadata={"sheets": sheets})
