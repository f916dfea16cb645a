"""The Upload page's work, without streamlit: chunk preview, ingesting files one by one, results.

Kept free of streamlit so the tests call it directly with bytes, and so the page stays a thin
layout over it.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pandas as pd

from rag.chunking import chunk_document
from rag.embedding import Embedder
from rag.engine import Engine
from rag.ingest import IngestProgress
from rag.loaders import LoadOptions, load_bytes
from rag.models import ChunkDraft, IngestResult, LoadedDocument

STAGES: tuple[str, ...] = ("parse", "chunk", "embed", "store")
"""Ingest stages in order, as reported by ``rag.ingest.IngestProgress.stage``."""


@dataclass(frozen=True)
class FileProgress:
    """Progress of one file for the page's progress bar.

    Attributes:
        file: The file name.
        index: 0-based position of the file in the upload. total: Number of files.
        stage: ``parse``, ``chunk``, ``embed``, ``store`` or ``done``.
        fraction: Progress of this file in [0, 1] (stage position; 1.0 when done).
        chunks: Chunks stored for this file so far. embedded: Chunks embedded for it so far.
        elapsed_s: Seconds since this file started.
    """

    file: str
    index: int
    total: int
    stage: str
    fraction: float
    chunks: int
    embedded: int
    elapsed_s: float


@dataclass(frozen=True)
class FileOutcome:
    """What happened to one uploaded file.

    Attributes:
        file: The file name. results: One result per document of the file (CSV rows mode and
            JSONL give many), or one ``failed`` result. seconds: Wall time for the file.
    """

    file: str
    results: tuple[IngestResult, ...]
    seconds: float

    @property
    def summary(self) -> str:
        """``"new: 1"`` / ``"new: 40, unchanged: 2"``: counts by status."""
        counts = Counter(r.status for r in self.results)
        return ", ".join(f"{status}: {n}" for status, n in counts.items())

    @property
    def failed(self) -> bool:
        """True when every document of the file failed."""
        return all(r.status == "failed" for r in self.results)


@dataclass(frozen=True)
class ChunkPreview:
    """The chunks the first document of a file will produce with the chosen settings.

    Attributes:
        documents: Documents in the file. title: Title of the first one.
        chunks: Its chunks (all of them; the page shows the first few).
    """

    documents: int
    title: str
    chunks: tuple[ChunkDraft, ...]


def preview_chunks(
    data: bytes, filename: str, embedder: Embedder, chunk_size: int, chunk_overlap: int, options: LoadOptions
) -> ChunkPreview:
    """Load ``data`` and chunk its first document exactly as ingestion will (nothing is stored).

    Raises:
        LoaderError: the file cannot be read. ConfigError: bad chunk size / overlap.
    """
    documents: list[LoadedDocument] = list(load_bytes(data, filename, options))
    first = documents[0]
    return ChunkPreview(
        len(documents), first.title, tuple(chunk_document(first, embedder, chunk_size, chunk_overlap))
    )


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


def ingest_files(
    engine: Engine,
    files: Sequence[tuple[str, bytes]],
    collection: str,
    *,
    chunk_size: int,
    chunk_overlap: int,
    load_options: LoadOptions,
    on_progress: Callable[[FileProgress], None] | None = None,
) -> list[FileOutcome]:
    """Ingest uploaded files one after the other; a failed file never stops the others.

    Args:
        engine: The engine.
        files: ``(file name, bytes)`` pairs in upload order.
        collection: Target collection (created when missing).
        chunk_size, chunk_overlap: Chunking in embedding-model tokens.
        load_options: Size limit and CSV options.
        on_progress: Called with a :class:`FileProgress` at each stage of each file and when a file
            is done. The ``store`` stage may be reported from the engine's writer thread.

    Returns:
        One :class:`FileOutcome` per file, in order.

    Raises:
        ConfigError: invalid chunking settings or collection name (before any file is read).
        DatabaseError: the database is not reachable.
    """
    current: dict[str, object] = {}
    lock = threading.Lock()

    def report(event: IngestProgress) -> None:
        if on_progress is None or not current:
            return
        with lock:
            stage = event.stage if event.stage in STAGES else "parse"
            on_progress(
                FileProgress(
                    file=str(current["file"]),
                    index=int(current["index"]),  # type: ignore[call-overload]
                    total=len(files),
                    stage=stage,
                    fraction=STAGES.index(stage) / len(STAGES),
                    chunks=event.chunks_done - int(current["chunks"]),  # type: ignore[call-overload]
                    embedded=event.embedded - int(current["embedded"]),  # type: ignore[call-overload]
                    elapsed_s=time.perf_counter() - float(current["started"]),  # type: ignore[arg-type]
                )
            )

    ingestor = engine.ingestor(
        collection,
        load_options=load_options,
        on_progress=report,
        chunk_size=chunk_size,
        chunk_overlap=chunk_overlap,
    )
    outcomes = []
    for index, (name, data) in enumerate(files):
        started = time.perf_counter()
        current.update(
            file=name, index=index, chunks=ingestor.chunks_done, embedded=ingestor.embedded, started=started
        )
        try:
            results = tuple(ingestor.ingest_bytes(data, name))
        except Exception as exc:  # noqa: BLE001 - one file's failure is its own result
            results = (IngestResult(source_name=name, status="failed", error=str(exc) or type(exc).__name__),)
        outcome = FileOutcome(name, results, time.perf_counter() - started)
        outcomes.append(outcome)
        if on_progress is not None:
            on_progress(
                FileProgress(
                    name,
                    index,
                    len(files),
                    "done",
                    1.0,
                    sum(r.chunks for r in results),
                    sum(r.embedded for r in results),
                    outcome.seconds,
                )
            )
    return outcomes


def results_frame(outcomes: Sequence[FileOutcome]) -> pd.DataFrame:
    """One row per document: file, document, status, chunks, embedded, seconds, reason."""
    rows = [
        {
            "file": outcome.file,
            "document": result.source_name,
            "status": result.status,
            "chunks": result.chunks,
            "embedded": result.embedded,
            "seconds": round(outcome.seconds, 2),
            "reason": result.error or "",
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
