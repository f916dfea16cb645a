"""Uploaded files: checking a batch, the chunk preview, and ingesting files one by one with progress.

Progress events are typed (:class:`FileProgress`) and always reported from the calling thread, so a
UI can draw them directly. :func:`plan_batch` says before anything is read which files will fail
(type, size) and what happens to two files with the same name.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import Literal, get_args

from rag.chunking import chunk_document
from rag.embedding import Embedder
from rag.errors import LoaderError
from rag.ingest import Ingestor, IngestProgress, Stage
from rag.loaders import LoadOptions, check_file, load_bytes
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
        batch_fraction: Progress of the whole upload in [0, 1], by bytes: the finished files' bytes
            plus ``fraction`` of this file's, over all bytes.
        batch_chunks: Chunks stored for the whole upload so far.
        batch_elapsed_s: Seconds since the upload started.
        eta_s: Seconds the rest of the upload should take, extrapolated linearly from
            ``batch_fraction`` and ``batch_elapsed_s``; ``None`` until 5% is done (too early to say).
        pages_done, pages_total: While the file's scanned pages are read by OCR: pages read and
            pages to read (0 and 0 otherwise). OCR is most of such a file's time, so ``fraction``
            then grows with the pages through the first half of the file's progress.
    """

    file: str
    index: int
    total: int
    stage: FileStage
    fraction: float
    chunks: int
    embedded: int
    elapsed_s: float
    batch_fraction: float = 0.0
    batch_chunks: int = 0
    batch_elapsed_s: float = 0.0
    eta_s: float | None = None
    pages_done: int = 0
    pages_total: int = 0


OCR_SHARE = 0.5
"""Share of a file's progress bar given to reading its scanned pages (the rest: the four stages)."""

ETA_AFTER_FRACTION = 0.05
"""Share of an upload's bytes done before :attr:`FileProgress.eta_s` is estimated."""


@dataclass(frozen=True)
class BatchFile:
    """One file of an upload as it will be ingested (:func:`plan_batch`).

    Attributes:
        index: 0-based position in the upload. name: The name it is ingested under (the document's
            source name). original_name: The name it was uploaded with. size_bytes: Its size.
        problem: Why it cannot be ingested (unsupported type, too large, empty), ``None`` when it can.
        note: What was done about another file of the upload with the same name, else ``""``.
        duplicate_of: Index of an earlier file with the same name and the same bytes (this one is
            not ingested twice), else ``None``.
    """

    index: int
    name: str
    original_name: str
    size_bytes: int
    problem: str | None = None
    note: str = ""
    duplicate_of: int | None = None

    @property
    def will_ingest(self) -> bool:
        """True when the file goes to the ingestor (no problem, not a copy of an earlier file)."""
        return self.problem is None and self.duplicate_of is None


def plan_batch(files: Sequence[tuple[str, bytes]], options: LoadOptions) -> list[BatchFile]:
    """Check an upload before ingesting it: which files fail, and files that share a name.

    A collection keeps one document per source name, so two different files called ``report.pdf``
    in one upload would silently replace each other. The second (third...) is renamed
    ``report (2).pdf`` instead and ``note`` says so; a file with the same name and the same bytes as
    an earlier one is ingested once. Nothing is parsed: the checks are those of
    :func:`rag.loaders.check_file` (extension, size limit, empty file).

    Args:
        files: ``(file name, bytes)`` pairs in upload order.
        options: Loader options (the size limit).

    Returns:
        One :class:`BatchFile` per file, in upload order.
    """
    first_with: dict[str, tuple[int, str]] = {}
    taken = {name for name, _ in files}
    planned = []
    for index, (name, data) in enumerate(files):
        digest = hashlib.sha256(data).hexdigest()
        problem = None
        try:
            check_file(name, len(data), options)
        except LoaderError as exc:
            problem = str(exc)
        earlier = first_with.get(name)
        if earlier is None:
            first_with[name] = (index, digest)
            planned.append(BatchFile(index, name, name, len(data), problem))
        elif earlier[1] == digest:
            note = f"the same file as number {earlier[0] + 1} of this upload: ingested once"
            planned.append(BatchFile(index, name, name, len(data), problem, note, duplicate_of=earlier[0]))
        else:
            renamed = _free_name(name, taken)
            taken.add(renamed)
            note = f"another file of this upload is also called {name}: ingested as {renamed}"
            planned.append(BatchFile(index, renamed, name, len(data), problem, note))
    return planned


def _free_name(name: str, taken: set[str]) -> str:
    """``report (2).pdf``, ``report (3).pdf``...: the first name like ``name`` not in ``taken``."""
    path = PurePath(name)
    number = 2
    while (candidate := f"{path.stem} ({number}){path.suffix}") in taken:
        number += 1
    return candidate


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
    size: int
    had_ocr: bool = False


@dataclass
class _Batch:
    """When the upload started, the ingestor's chunk count then, and the bytes of finished files."""

    started: float
    chunks_before: int
    bytes_done: int = 0


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
    total_bytes = sum(len(data) for _, data in files) or 1
    batch = _Batch(time.perf_counter(), ingestor.chunks_done)

    def progress(
        stage: FileStage,
        fraction: float,
        chunks: int,
        embedded: int,
        elapsed_s: float,
        pages: tuple[int, int] = (0, 0),
    ) -> FileProgress:
        assert current is not None
        done = (batch.bytes_done + fraction * current.size) / total_bytes
        batch_elapsed = time.perf_counter() - batch.started
        return FileProgress(
            file=current.name,
            index=current.index,
            total=len(files),
            stage=stage,
            fraction=fraction,
            chunks=chunks,
            embedded=embedded,
            elapsed_s=elapsed_s,
            batch_fraction=min(done, 1.0),
            batch_chunks=ingestor.chunks_done - batch.chunks_before,
            batch_elapsed_s=batch_elapsed,
            eta_s=batch_elapsed * (1.0 - done) / done if done >= ETA_AFTER_FRACTION else None,
            pages_done=pages[0],
            pages_total=pages[1],
        )

    def report(event: IngestProgress) -> None:
        if on_progress is None or current is None:
            return
        fraction = STAGES.index(event.stage) / len(STAGES)
        if event.pages_total:  # reading scanned pages: the first OCR_SHARE of the file
            fraction = OCR_SHARE * event.pages_done / event.pages_total
        elif current.had_ocr:
            fraction = OCR_SHARE + (1 - OCR_SHARE) * fraction
        current.had_ocr = current.had_ocr or bool(event.pages_total)
        on_progress(
            progress(
                event.stage,
                fraction,
                event.chunks_done - current.chunks_before,
                event.embedded - current.embedded_before,
                time.perf_counter() - current.started,
                (event.pages_done, event.pages_total),
            )
        )

    ingestor.on_progress = report
    outcomes = []
    for index, (name, data) in enumerate(files):
        started = time.perf_counter()
        current = _CurrentFile(name, index, ingestor.chunks_done, ingestor.embedded, started, len(data))
        try:
            results = tuple(ingestor.ingest_bytes(data, name))
        except Exception as exc:  # noqa: BLE001 - one file's failure is its own result
            results = (IngestResult(source_name=name, status="failed", error=str(exc) or type(exc).__name__),)
        outcome = FileOutcome(name, results, time.perf_counter() - started)
        outcomes.append(outcome)
        if on_progress is not None:
            on_progress(
                progress(
                    "done",
                    1.0,
                    sum(r.chunks for r in results),
                    sum(r.embedded for r in results),
                    outcome.seconds,
                )
            )
        batch.bytes_done += len(data)
    return outcomes
