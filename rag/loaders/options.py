"""Load settings: :class:`LoadOptions` (size limit, CSV mode and columns) and the size-limit error."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from rag.errors import ConfigError, FileTooLarge

MIB = 1024 * 1024
"""Bytes in one mebibyte: the unit of ``RAG_MAX_FILE_MB`` and of the size-limit message."""


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
        ocr: Read scanned PDF pages and images with OCR (:mod:`rag.ocr`); off, a scanned PDF
            is refused with :class:`~rag.errors.NoExtractableText` and images too.
        on_page: Called after each page read by OCR with ``(pages done, pages to read)``, from the
            loading thread: the ingest's per-page progress. Not part of the options' equality.

    Raises:
        ConfigError: ``csv_mode`` is not ``"file"`` or ``"rows"``, or ``max_file_bytes`` < 1.
    """

    max_file_bytes: int = 50 * MIB
    csv_mode: Literal["file", "rows"] = "file"
    csv_title_column: str | None = None
    csv_text_columns: tuple[str, ...] | None = None
    ocr: bool = True
    on_page: Callable[[int, int], None] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        """Validate the options early, with a message naming the fix."""
        if self.csv_mode not in ("file", "rows"):
            raise ConfigError(f"csv_mode {self.csv_mode!r} is unknown: use 'file' or 'rows'")
        if self.max_file_bytes < 1:
            raise ConfigError(
                f"max_file_bytes {self.max_file_bytes} must be at least 1 (set RAG_MAX_FILE_MB)"
            )


def too_large_error(filename: str, size: int, options: LoadOptions) -> FileTooLarge:
    """Build (not raise) the error for a file above ``options.max_file_bytes``.

    Args:
        filename: The file's name, for the message.
        size: The file's size, in bytes.
        options: Holds the limit.

    Returns:
        The error, its message giving both sizes in MiB and the fix.
    """
    return FileTooLarge(
        f"{filename} is {size / MIB:.1f} MiB, above the limit of {options.max_file_bytes / MIB:g} MiB: "
        "split the file, or set RAG_MAX_FILE_MB to a larger limit"
    )
