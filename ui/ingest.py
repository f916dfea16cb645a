"""Tables and words of the Upload page (no streamlit inside): the batch, its progress, the results.

Pure functions over the engine's typed values (:class:`rag.BatchFile`, :class:`rag.FileProgress`,
:class:`rag.FileOutcome`), so they are unit-tested without a browser.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from rag import BatchFile, ChunkPreview, FileOutcome, FileProgress, pages_without_text_note
from ui.markdown import bold
from ui.tables import pages_label
from ui.text import human_size, plural

STAGE_WORDS = {"parse": "reading", "chunk": "chunking", "embed": "embedding", "store": "storing"}
"""How a file's ingest stage (``FileProgress.stage``) reads in the per-file status."""


def preview_frame(preview: ChunkPreview, limit: int = 20) -> pd.DataFrame:
    """The first ``limit`` chunks of a preview as a table (#, pages, section, tokens, text)."""
    rows = [
        {
            "#": c.ordinal + 1,
            "pages": pages_label(c.page_start, c.page_end),
            "section": " › ".join(c.heading_path),
            "tokens": c.token_count,
            "text": c.text,
        }
        for c in preview.chunks[:limit]
    ]
    return pd.DataFrame(rows, columns=["#", "pages", "section", "tokens", "text"])


def planned_status(planned: BatchFile) -> str:
    """A file's status before ingesting: ``ready``, ``cannot be ingested: ...`` or ``skipped: ...``."""
    if planned.problem is not None:
        return f"cannot be ingested: {planned.problem}"
    if planned.duplicate_of is not None:
        return f"skipped: {planned.note}"
    return "ready"


def file_status(progress: FileProgress) -> str:
    """A file's status while it is ingested: ``embedding: 40 chunks, 3.1 s``, ``reading: OCR page 3 of 12, 9.0 s``."""
    stage = STAGE_WORDS.get(progress.stage, progress.stage)
    counts = f"{plural(progress.chunks, 'chunk')} stored" if progress.stage == "store" else ""
    if progress.stage == "embed":
        counts = f"{plural(progress.embedded, 'chunk')} embedded"
    if progress.stage == "parse" and progress.pages_total:
        counts = f"OCR page {progress.pages_done} of {progress.pages_total}"
    return f"{stage}: {counts + ', ' if counts else ''}{progress.elapsed_s:.1f} s"


def outcome_status(outcome: FileOutcome) -> str:
    """A file's status once ingested: ``new: 1 (2.3 s)`` or ``failed: <reason>``."""
    if outcome.failed:
        return "failed: " + "; ".join(r.error or "no reason given" for r in outcome.results)
    return f"{outcome.summary} ({outcome.seconds:.1f} s)"


def batch_frame(plan: Sequence[BatchFile], live: Mapping[int, str] | None = None) -> pd.DataFrame:
    """One row per uploaded file: #, file (as ingested), size, status, note.

    Args:
        plan: The checked upload (``engine.plan_upload``).
        live: File index -> status during and after ingesting (else the planned status).
    """
    live = live or {}
    rows = [
        {
            "#": p.index + 1,
            "file": p.name,
            "size": human_size(p.size_bytes),
            "status": live.get(p.index) or planned_status(p),
            "note": "" if p.duplicate_of is not None else p.note,
        }
        for p in plan
    ]
    return pd.DataFrame(rows, columns=["#", "file", "size", "status", "note"])


def overall_text(progress: FileProgress) -> str:
    """The upload's progress in words: ``file 2 of 5 · 120 chunks · 14 s elapsed · about 30 s left``."""
    parts = [
        f"file {progress.index + 1} of {progress.total}",
        plural(progress.batch_chunks, "chunk") + " stored",
        f"{progress.batch_elapsed_s:.0f} s elapsed",
    ]
    if progress.eta_s is not None:
        parts.append(f"about {_duration(progress.eta_s)} left")
    return " · ".join(parts)


def finished_text(outcomes: Sequence[FileOutcome], collection: str) -> str:
    """The upload once done: ``Done: 2 files into **manuals** · 120 chunks stored · 14.2 s``."""
    chunks = sum(r.chunks for o in outcomes for r in o.results)
    seconds = sum(o.seconds for o in outcomes)
    failed = sum(o.failed for o in outcomes)
    parts = [
        f"Done: {plural(len(outcomes), 'file')} into {bold(collection)}",
        f"{plural(chunks, 'chunk')} stored",
    ]
    if failed:
        parts.append(f"{failed} failed")
    return " · ".join([*parts, f"{seconds:.1f} s"])


def results_frame(outcomes: Sequence[FileOutcome], refused: Sequence[BatchFile] = ()) -> pd.DataFrame:
    """One row per document: file, document, status, chunks, embedded, seconds, reason.

    ``refused`` files (a :class:`rag.BatchFile` with a ``problem``, never sent to the ingestor) are
    listed as ``failed`` with their reason, so every uploaded file is accounted for.
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
    rows += [
        {
            "file": p.name,
            "document": p.name,
            "status": "failed",
            "chunks": 0,
            "embedded": 0,
            "seconds": 0.0,
            "reason": p.problem or "",
        }
        for p in refused
    ]
    return pd.DataFrame(
        rows, columns=["file", "document", "status", "chunks", "embedded", "seconds", "reason"]
    )


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(seconds, 1):.0f} s"
    return f"{seconds / 60:.0f} min"
