"""Read an XLSX workbook's real cells (openpyxl's streaming sheet parser), never its claimed size.

pandas and openpyxl's ``iter_rows`` pad every row to the sheet's widest column and fill every
missing row: one cell at column XFD or row 1,048,576 in a 39 KB file made pandas build 2.15 GB.
Here each sheet is parsed once with openpyxl's own ``WorkSheetParser`` (the parser behind
``read_only=True``), which yields only the cells the XML holds; the cells are counted while they
are read (refused past :data:`rag.loaders.guards.MAX_CSV_CELLS` and the file-mode row limit), and
the table is then built from the rows and columns that hold a value, so empty space costs nothing.
"""

from __future__ import annotations

import bisect
import datetime as dt
import io
from dataclasses import dataclass
from typing import Any

from rag.loaders import guards

_FIX = "a real spreadsheet is far smaller; save it again, or split it"


@dataclass(frozen=True)
class SheetTable:
    """One sheet's table: ``header`` (1-based column number -> text, first non-empty row) and data ``rows``.

    ``columns`` are the 1-based sheet column numbers that hold a value anywhere, in order; every row
    of ``rows`` is a dict column number -> text (only non-empty values).
    """

    name: str
    columns: tuple[int, ...]
    header: dict[int, str]
    rows: tuple[dict[int, str], ...]


def render_value(value: Any) -> str:
    """A cell value as text: a date-only datetime as ``YYYY-MM-DD``, a whole float without ``.0``.

    Args:
        value: What openpyxl parsed (str, int, float, bool, datetime, date, time, timedelta).

    Returns:
        The text, stripped; ``""`` for ``None``.
    """
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        # Excel stores a date as a day number; a date-only cell comes back at midnight.
        return value.date().isoformat() if value.time() == dt.time(0) else value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _fill_merged(
    cells: dict[tuple[int, int], str], ranges: list[str], rows: list[int], columns: list[int]
) -> None:
    """Copy each merged range's top-left value into its cells that lie in used rows and columns."""
    from openpyxl.utils.cell import range_boundaries

    filled = 0
    for ref in ranges:
        min_col, min_row, max_col, max_row = range_boundaries(ref)
        value = cells.get((min_row, min_col))
        if not value:
            continue
        # Only rows/columns that hold a value elsewhere: a merge over A1:XFD1048576 costs nothing.
        row_span = rows[bisect.bisect_left(rows, min_row) : bisect.bisect_right(rows, max_row)]
        col_span = columns[bisect.bisect_left(columns, min_col) : bisect.bisect_right(columns, max_col)]
        filled += len(row_span) * len(col_span)
        guards.check_count("merged cells", "cells", filled, guards.MAX_CSV_CELLS, _FIX)
        for row in row_span:
            for column in col_span:
                cells.setdefault((row, column), value)


def read_xlsx_tables(data: bytes, filename: str) -> list[SheetTable]:
    """Every worksheet of an XLSX file as a :class:`SheetTable`, reading only the cells present.

    Args:
        data: The file's bytes (already checked by :func:`rag.loaders.guards.check_zip`).
        filename: For messages.

    Returns:
        One table per worksheet with a value, in workbook order (chart sheets skipped).

    Raises:
        InputLimitExceeded: A sheet has more than :data:`~rag.loaders.guards.MAX_CSV_CELLS` cells with a
            value, or more than the file-mode rows (:data:`~rag.loaders.guards.MAX_CSV_FILE_MODE_ROWS`)
            or :data:`~rag.loaders.guards.MAX_CSV_COLUMNS` columns.
        Exception: Whatever openpyxl raises on a damaged file (the caller turns it into
            :class:`~rag.errors.CorruptDocument`).
    """
    import openpyxl
    from openpyxl.worksheet._reader import WorkSheetParser

    workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    tables = []
    try:
        for sheet in workbook.worksheets:
            label = f"{filename} sheet {sheet.title!r}"
            cells: dict[tuple[int, int], str] = {}
            with sheet._get_source() as source:
                parser = WorkSheetParser(
                    source,
                    sheet._shared_strings,
                    data_only=True,
                    epoch=workbook.epoch,
                    date_formats=workbook._date_formats,
                    timedelta_formats=workbook._timedelta_formats,
                )
                for row_number, row in parser.parse():
                    for cell in row:
                        text = render_value(cell["value"])
                        if text:
                            cells[(row_number, cell["column"])] = text
                    guards.check_count(label, "cells with a value", len(cells), guards.MAX_CSV_CELLS, _FIX)
            merged = [item.ref for item in parser.merged_cells.mergeCell] if parser.merged_cells else []
            rows = sorted({row for row, _ in cells})
            columns = sorted({column for _, column in cells})
            if merged:
                _fill_merged(cells, merged, rows, columns)
            if not rows:
                continue
            guards.check_csv_shape(label, len(rows) - 1, len(columns), "file")
            by_row: dict[int, dict[int, str]] = {row: {} for row in rows}
            for (row, column), text in cells.items():
                by_row[row][column] = text
            header, *body = (by_row[row] for row in rows)
            tables.append(SheetTable(str(sheet.title), tuple(columns), header, tuple(body)))
    finally:
        workbook.close()
    return tables
