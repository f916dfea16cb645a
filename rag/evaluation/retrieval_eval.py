"""``rag eval retrieval``: ingest a BEIR dataset, run its queries in every mode, score and time them."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from rag.evaluation.corpus import Progress, ingest_corpus
from rag.evaluation.datasets import load_beir, write_trec_run
from rag.evaluation.metrics import LatencySummary, RetrievalMetrics, latency_summary, retrieval_metrics
from rag.models import Candidate
from rag.retrieval import SearchParams, documents_from_trace


@dataclass(frozen=True)
class ModeResult:
    """Metrics and speed of one retrieval mode on one dataset split.

    Attributes:
        mode: The effective mode. metrics: nDCG@10, recall@10/100, MRR@10 (ir-measures).
        latency: Stage -> p50/p95 summary in ms (``total`` is the whole query).
        queries_per_s: Queries / wall seconds (one process, one connection).
        run_path: The TREC run file written.
    """

    mode: str
    metrics: RetrievalMetrics
    latency: dict[str, LatencySummary]
    queries_per_s: float
    run_path: Path


def ranked_documents(hits: Sequence[Candidate], mode: str) -> list[tuple[str, float]]:
    """Collapse ranked chunks to documents, each scored by its best chunk (higher is better).

    The score is the mode's own: BM25, cosine similarity, RRF, or the cross-encoder score; chunks
    below the reranked pool get scores below every reranked one, in fused order.
    """
    if mode == "lexical":
        return documents_from_trace(hits, lambda c: c.bm25_score or 0.0)
    if mode == "vector":
        return documents_from_trace(
            hits, lambda c: 1.0 - (c.cosine_distance if c.cosine_distance is not None else 2.0)
        )
    if mode == "rerank":
        floor = min((c.rerank_score for c in hits if c.rerank_score is not None), default=0.0)
        position = {c.chunk_id: i for i, c in enumerate(hits)}
        return documents_from_trace(
            hits,
            lambda c: (
                c.rerank_score if c.rerank_score is not None else floor - 1.0 - position[c.chunk_id] * 1e-4
            ),
        )
    return documents_from_trace(hits, lambda c: c.rrf_score or 0.0)


def run_queries(
    engine,
    queries: dict[str, str],
    params: SearchParams,
    depth: int,
    collection: str,
    on_query: Callable[[], None] | None = None,
) -> tuple[dict[str, dict[str, float]], dict[str, list[float]], float, str]:
    """Run queries and collapse chunks to documents (best chunk per document), ``depth`` per query.

    Returns:
        ``(run, stage timings in ms, wall seconds, effective mode)``.
    """
    # Several chunks may come from one document: fetch twice the depth so `depth` documents remain.
    params = replace(params, k=depth * 2)
    qids = list(queries)
    run: dict[str, dict[str, float]] = {}
    timings: dict[str, list[float]] = {}
    mode = params.mode
    started = time.perf_counter()
    for qid, trace in zip(
        qids, engine.iter_search([queries[q] for q in qids], params, collection), strict=True
    ):
        mode = trace.params.mode
        ranked = ranked_documents(trace.hits, mode)[:depth]
        run[qid] = dict(ranked)
        for stage, ms in trace.timings_ms.items():
            timings.setdefault(stage, []).append(ms)
        timings.setdefault("total", []).append(sum(trace.timings_ms.values()))
        if on_query:
            on_query()
    return run, timings, time.perf_counter() - started, mode


def evaluate_retrieval(
    engine,
    dataset_dir: Path,
    split: str,
    *,
    modes: Sequence[str] = ("lexical", "vector", "hybrid", "rerank"),
    depth: int = 100,
    collection: str | None = None,
    run_dir: Path = Path("runs"),
    ingest_progress: Progress | None = None,
    on_query: Callable[[], None] | None = None,
) -> tuple[str, list[ModeResult], dict[str, int]]:
    """Ingest ``dataset_dir``'s corpus into its own collection (a no-op when unchanged) and score each mode.

    ``rerank`` is skipped (not faked) when no reranker loads.

    Returns:
        ``(collection name, results per mode, ingest status counts)``.

    Raises:
        NotFound / ConfigError: the dataset layout is wrong (see ``load_beir``).
        RagError: a corpus document failed to load or store.
    """
    dataset = load_beir(dataset_dir, split)
    name = collection or f"beir-{dataset_dir.resolve().name}"
    counts = ingest_corpus(
        engine, dataset.corpus_path, name, progress=ingest_progress, own_collection=collection is None
    )
    reranker, _ = engine.reranker()
    results = []
    run_dir.mkdir(parents=True, exist_ok=True)
    for mode in modes:
        if mode == "rerank" and reranker is None:
            continue
        params = engine.default_params(mode=mode)
        run, timings, wall, effective = run_queries(engine, dataset.queries, params, depth, name, on_query)
        path = run_dir / f"{name}-{split}-{effective}.trec"
        write_trec_run(run, path, tag=f"rag-{effective}")
        results.append(
            ModeResult(
                mode=effective,
                metrics=retrieval_metrics(dataset.qrels, run),
                latency={stage: latency_summary(v) for stage, v in timings.items()},
                queries_per_s=len(dataset.queries) / wall if wall else 0.0,
                run_path=path,
            )
        )
    return name, results, counts
