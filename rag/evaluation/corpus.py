"""Ingesting an evaluation corpus: every document must go in, or the scores would mean nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from rag.errors import RagError
from rag.models import IngestResult

CORPUS_FILE = "corpus.jsonl"

Progress = Callable[[Iterable[IngestResult]], Iterable[IngestResult]]


def ingest_corpus(
    engine, path: Path, collection: str, progress: Progress | None = None, *, own_collection: bool = False
) -> dict[str, int]:
    """Ingest an evaluation corpus into ``collection``; a no-op for documents that are unchanged.

    A collection created here is marked as an evaluation collection of the dataset (the corpus
    file's folder name; ``Engine.mark_evaluation_collection``), so the Chat page does not offer it;
    a collection of the user's that already existed is left unmarked unless ``own_collection``.

    Args:
        engine: The :class:`~rag.engine.Engine` to ingest with.
        path: The corpus, usually a dataset's ``corpus.jsonl`` (any file or folder ``rag ingest``
            takes works).
        collection: Target collection, created when missing.
        progress: Optional wrapper around the stream of results, e.g. ``lambda it: tqdm(it)``.
        own_collection: The collection belongs to the evaluation (its name was derived from the
            dataset, e.g. ``beir-scifact``): mark it even when it existed before.

    Returns:
        Status -> number of documents, e.g. ``{"new": 4}`` or ``{"unchanged": 4}``.

    Raises:
        RagError: A corpus document failed to load or store (stops at the first failure).
    """
    counts: dict[str, int] = {}
    created = collection not in engine.collections()
    results = engine.ingestor(collection).ingest_paths([Path(path)])
    for result in progress(results) if progress else results:
        counts[result.status] = counts.get(result.status, 0) + 1
        if result.status == "failed":
            raise RagError(
                f"the corpus could not be ingested, so the evaluation would be meaningless: {result.error}"
            )
    if created or own_collection:
        corpus = Path(path).resolve()
        engine.mark_evaluation_collection(collection, (corpus.parent if corpus.is_file() else corpus).name)
    return counts
