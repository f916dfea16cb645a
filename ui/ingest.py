"""Tables of the Upload page (no streamlit inside): the chunk preview and per-document results."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from rag import ChunkPreview, FileOutcome, pages_without_text_note


def preview_frame(preview: ChunkPreview, limit: int = 20) -> pd.DataFrame:
    """The first ``limit`` chunks of a preview as a table (#, pages, section, tokens, text)."""
    rows = [
        {
            "#": c.ordinal + 1,
            "pages": _pages(c.page_start, c.page_end),
            "section": " › ".join(c.heading_path),
            "tokens": c.token_count,
            "text": c.text,
        }
        for c in preview.chunks[:limit]
    ]
    return pd.DataFrame(rows, columns=["#", "pages", "section", "tokens", "text"])


def results_frame(outcomes: Sequence[FileOutcome]) -> pd.DataFrame:
    """One row per document: file, document, status, chunks, embedded, seconds, reason (or note).

    A stored PDF with pages that have no text gets the note :func:`rag.pages_without_text_note` says.
    """
    rows = [
        {
            "file": outcome.file,
            "document": result.source_name,
            "status": result.status,
            "chunks": result.chunks,
            "embedded": result.embedded,
            "seconds": round(outcome.seconds, 2),
            "reason": result.error or pages_without_text_note(result.pages_without_text),
        }
        for outcome in outcomes
        for result in outcome.results
    ]
    return pd.DataFrame(
        rows, columns=["file", "document", "status", "chunks", "embedded", "seconds", "reason"]
    )


def _pages(start: int | None, end: int | None) -> str:
    if start is None:
        return ""
    return str(start) if end is None or end == start else f"{start}-{end}"
