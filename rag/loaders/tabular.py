"""Row-based loaders: CSV (pandas; one document per file or per row) and BEIR corpus JSONL.

A BEIR corpus line is ``{"_id": ..., "title": ..., "text": ..., "metadata": {...}}``; each line
becomes one document. Both loaders validate every row or line before returning any document.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Iterable

from rag.errors import ConfigError, CorruptDocument, EmptyDocument
from rag.loaders import guards
from rag.loaders.options import LoadOptions
from rag.loaders.text import MEDIA_TYPES, clean_text, decode_text, sha256_hex, single_document
from rag.models import LoadedDocument, Section


def _check_columns(names: Iterable[str], columns: list[str], filename: str, what: str) -> None:
    missing = [name for name in names if name not in columns]
    if missing:
        raise ConfigError(
            f"{what} {', '.join(repr(name) for name in missing)} not found in {filename}; "
            f"available columns: {', '.join(columns)}"
        )


def load_csv(data: bytes, filename: str, options: LoadOptions) -> list[LoadedDocument]:
    """Load a CSV file with a header row; every value is read as a string.

    Args:
        data: The file's bytes.
        filename: The file's name, used in ``source_name`` and in error messages.
        options: ``csv_mode``, ``csv_title_column`` and ``csv_text_columns``.

    Returns:
        ``"file"`` mode: one document, one ``Column: value; ...`` section per row, ``metadata``
        ``{"columns": [...], "rows": n}``. ``"rows"`` mode: one document per row with text
        (``source_name`` ``name#row-N``, N counted from 1 after the header), hashed over the row's
        canonical JSON; the columns that are neither title nor text go into ``metadata``.

    Raises:
        CorruptDocument: The text cannot be decoded or parsed as CSV.
        EmptyDocument: No header, no rows, or (rows mode) every row's text columns are empty.
        ConfigError: Rows mode names a column the file does not have.
        InputLimitExceeded: Past the row, column or cell limits of :mod:`rag.loaders.guards`
            (file mode: more than :data:`~rag.loaders.guards.MAX_CSV_FILE_MODE_ROWS` rows).
    """
    import pandas as pd

    text = decode_text(data, filename)
    header = next(csv.reader(io.StringIO(text[: 4 * guards.MIB])), [])
    guards.check_count(filename, "columns", len(header), guards.MAX_CSV_COLUMNS, "keep the columns you need")
    # Read one row past the limit, never the whole of a huge file: that one row proves it is too long.
    row_limit = guards.MAX_CSV_FILE_MODE_ROWS if options.csv_mode == "file" else guards.MAX_ROWS
    try:
        # UTF-8 bytes, not a StringIO: StringIO holds 4 bytes per character (a 47 MB CSV peaked at +300 MB).
        frame = pd.read_csv(
            io.BytesIO(text.encode("utf-8")),
            encoding="utf-8",
            dtype=str,
            keep_default_na=False,
            nrows=row_limit + 1,
        )
    except pd.errors.EmptyDataError as exc:
        raise EmptyDocument(f"{filename}: the CSV has no header row and no data; no text found") from exc
    except (pd.errors.ParserError, ValueError) as exc:
        raise CorruptDocument(
            f"{filename} cannot be parsed as CSV ({exc}); check the quoting and that every row has "
            "the same number of fields"
        ) from exc
    columns = [str(column).strip() for column in frame.columns]
    guards.check_csv_shape(filename, len(frame), len(columns), options.csv_mode)
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
        return single_document(data, filename, "", sections, metadata=metadata)

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
                media_type=MEDIA_TYPES[".csv"],
                sections=(Section(text=body),),
                content_sha256=sha256_hex(row_bytes),
                size_bytes=len(row_bytes),
                metadata={column: row[index[column]] for column in metadata_columns},
            )
        )
    if not documents:
        raise EmptyDocument(f"{filename}: every row's text columns are empty; no text found")
    return documents


def load_jsonl(data: bytes, filename: str, options: LoadOptions) -> list[LoadedDocument]:
    """Load a BEIR corpus: one JSON object with ``_id`` and ``text`` per line, blank lines ignored.

    Args:
        data: The file's bytes.
        filename: The file's name, used in ``source_name`` and in error messages.
        options: Unused: every loader takes the same arguments (see :mod:`rag.loaders`).

    Returns:
        One document per line with a non-blank ``text`` or ``title``, in line order:
        ``external_id`` is ``_id``, ``source_name`` is ``name#<_id>`` (``name#<_id>@lineN`` when
        the id was already used), hashed over the stripped line's bytes.

    Raises:
        CorruptDocument: A line is not valid JSON or not a JSON object, or lacks ``_id`` or a ``text`` string.
        EmptyDocument: No line has text.
        InputLimitExceeded: More lines than :data:`~rag.loaders.guards.MAX_ROWS`.
    """
    data = data.removeprefix(codecs.BOM_UTF8)
    guards.check_rows(filename, data.count(b"\n") + 1, "lines")
    media_type = MEDIA_TYPES[".jsonl"]
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
                sections=(Section(text=clean_text(body)),),
                content_sha256=sha256_hex(line),
                size_bytes=len(line),
                external_id=external_id,
                metadata=metadata,
            )
        )
    if not documents:
        raise EmptyDocument(f"{filename}: no JSON lines with text; no text found")
    return documents
