"""Uploaded files: the chunk preview before ingesting, and ingesting files one by one with progress.

Progress events are typed (:class:`FileProgress`) and always reported from the calling thread, so a
UI can draw them directly.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from rag.chunking import chunk_document
from rag.embedding import Embedder
from rag.ingest import Ingestor, IngestProgress, Stage
from rag.loaders import LoadOptions, load_bytes
from rag.models import ChunkDraft, IngestResult, LoadedDocument

STAGES: tuple[Stage, ...] = get_args(Stage)
"""Ingest stages in order, as reported by ``rag.ingest.IngestProgress.stage``."""

FileStage = Literal[Stage, "done"]


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
    stage: FileStage
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


@dataclass
class _CurrentFile:
    """The file being ingested and the ingestor's counters when it started."""

    name: str
    index: int
    chunks_before: int
    embedded_before: int
    started: float


def ingest_files(
    ingestor: Ingestor,
    files: Sequence[tuple[str, bytes]],
    on_progress: Callable[[FileProgress], None] | None = None,
) -> list[FileOutcome]:
    """Ingest uploaded files one after the other; a failed file never stops the others.

    Args:
        ingestor: An ingestor for the target collection, built without an ``on_progress`` callback
            (this function installs its own).
        files: ``(file name, bytes)`` pairs in upload order.
        on_progress: Called, from the calling thread, with a :class:`FileProgress` at each stage of
            each file and when a file is done.

    Returns:
        One :class:`FileOutcome` per file, in order.
    """
    current: _CurrentFile | None = None

    def report(event: IngestProgress) -> None:
        if on_progress is None or current is None:
            return
        on_progress(
            FileProgress(
                file=current.name,
                index=current.index,
                total=len(files),
                stage=event.stage,
                fraction=STAGES.index(event.stage) / len(STAGES),
                chunks=event.chunks_done - current.chunks_before,
                embedded=event.embedded - current.embedded_before,
                elapsed_s=time.perf_counter() - current.started,
            )
        )

    ingestor.on_progress = report
    outcomes = []
    for index, (name, data) in enumerate(files):
        started = time.perf_counter()
        current = _CurrentFile(name, index, ingestor.chunks_done, ingestor.embedded, started)
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
