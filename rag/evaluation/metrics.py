"""Retrieval metrics (nDCG@10, recall@10/100, MRR@10) and latency percentiles.

The retrieval measures come from ``ir_measures`` (MacAvaney et al., ECIR 2022), which runs
``pytrec_eval`` (Van Gysel & de Rijke, SIGIR 2018), the Python binding of NIST's ``trec_eval``; BEIR
reports its numbers with the same library, so ours are comparable with published BEIR tables.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import ir_measures
import numpy as np
from ir_measures import RR, R, nDCG

from rag.errors import ConfigError
from rag.evaluation.datasets import trec_order


@dataclass(frozen=True)
class RetrievalMetrics:
    """Ranking quality of a run against relevance judgments.

    All values are in [0, 1] and are means over the queries in the qrels.

    Attributes:
        ndcg_at_10: nDCG@10 with trec_eval's gains (gain = graded relevance, discount
            ``1 / log2(rank + 1)``; Järvelin & Kekäläinen, TOIS 2002).
        recall_at_10: Share of a query's relevant documents (grade >= 1) in its top 10.
        recall_at_100: Same, in the top 100.
        mrr_at_10: Reciprocal rank of the first relevant document in the top 10 (0 when none).
        per_query: Query id -> {"ndcg_at_10", "recall_at_10", "recall_at_100", "mrr_at_10"} -> value,
            for every query in the qrels.
    """

    ndcg_at_10: float
    recall_at_10: float
    recall_at_100: float
    mrr_at_10: float
    per_query: dict[str, dict[str, float]]


@dataclass(frozen=True)
class LatencySummary:
    """Percentiles of latency samples, in milliseconds.

    Attributes:
        p50_ms: Median; ``None`` when there are no samples.
        p95_ms: 95th percentile (linear interpolation, numpy's default); ``None`` when there are no samples.
        mean_ms: Arithmetic mean; ``None`` when there are no samples.
        n: Number of samples.
    """

    p50_ms: float | None
    p95_ms: float | None
    mean_ms: float | None
    n: int


def _measures() -> dict[str, ir_measures.Measure]:
    return {
        "ndcg_at_10": nDCG @ 10,
        "recall_at_10": R @ 10,
        "recall_at_100": R @ 100,
        "mrr_at_10": RR @ 10,
    }


def retrieval_metrics(
    qrels: Mapping[str, Mapping[str, int]], run: Mapping[str, Mapping[str, float]]
) -> RetrievalMetrics:
    """Score a run with nDCG@10, recall@10, recall@100 and MRR@10.

    Documents are ranked by score descending, ties broken by document id descending (``trec_eval``'s
    rule, :func:`rag.evaluation.datasets.trec_order`). The run's scores are replaced by their ranks
    before evaluation because ``ir_measures`` computes ``RR@10`` with its MS MARCO provider, which breaks
    ties by id *ascending*, while ``pytrec_eval`` (nDCG, recall) breaks them by id descending.

    Queries of the run that are not in the qrels are ignored. A query in the qrels that is missing
    from the run (or has no documents) scores 0 on every measure and counts in the means, as with
    ``trec_eval -c``: ``ir_measures``' ``Evaluator.iter_calc`` yields each measure's default (0) for
    every judged query the provider did not score (``ir_measures/providers/base.py``). A query whose
    judgments are all 0 has no relevant document and also scores 0.

    Args:
        qrels: Query id -> {document id -> graded relevance, 0 = not relevant}.
        run: Query id -> {document id -> retrieval score, higher is better}.

    Returns:
        Means over the qrels' queries and the per-query values.

    Raises:
        ConfigError: ``qrels`` is empty (there is nothing to average over).
    """
    if not qrels:
        raise ConfigError("qrels is empty: load the relevance judgments of a split before scoring a run.")
    measures = _measures()
    name_of = {measure: name for name, measure in measures.items()}
    qrels_dict = {qid: dict(docs) for qid, docs in qrels.items()}
    # Strictly decreasing scores in trec_eval order, so that every provider sees the same ranking.
    run_dict = {
        qid: {docid: float(-rank) for rank, (docid, _) in enumerate(trec_order(docs), start=1)}
        for qid, docs in run.items()
        if qid in qrels_dict
    }

    evaluator = ir_measures.evaluator(list(measures.values()), qrels_dict)
    aggregate = evaluator.calc_aggregate(run_dict)
    per_query: dict[str, dict[str, float]] = {qid: {} for qid in qrels_dict}
    for metric in evaluator.iter_calc(run_dict):
        per_query[metric.query_id][name_of[metric.measure]] = float(metric.value)
    return RetrievalMetrics(
        ndcg_at_10=float(aggregate[measures["ndcg_at_10"]]),
        recall_at_10=float(aggregate[measures["recall_at_10"]]),
        recall_at_100=float(aggregate[measures["recall_at_100"]]),
        mrr_at_10=float(aggregate[measures["mrr_at_10"]]),
        per_query=per_query,
    )


def latency_summary(samples_ms: Sequence[float]) -> LatencySummary:
    """Summarise latency samples with numpy percentiles (``method="linear"``, numpy's default).

    Args:
        samples_ms: Latencies in milliseconds, any order.

    Returns:
        p50, p95 and mean in ms; all ``None`` (with ``n == 0``) when there are no samples.

    Raises:
        ConfigError: A sample is negative, NaN or infinite.
    """
    values = np.asarray(samples_ms, dtype=np.float64)
    if values.size == 0:
        return LatencySummary(p50_ms=None, p95_ms=None, mean_ms=None, n=0)
    if not np.all(np.isfinite(values)) or bool(np.any(values < 0)):
        bad = next(v for v in values.tolist() if not math.isfinite(v) or v < 0)
        raise ConfigError(f"Latency sample {bad!r} ms is invalid: samples must be finite and >= 0.")
    p50, p95 = np.percentile(values, [50, 95])
    return LatencySummary(
        p50_ms=float(p50), p95_ms=float(p95), mean_ms=float(values.mean()), n=int(values.size)
    )
