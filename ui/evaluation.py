"""pandas frames and small decisions of the Evaluation page (no streamlit here, so they are unit-tested).

The page shows the runs that ``rag eval retrieval`` and ``rag eval answers`` store in PostgreSQL
(through :class:`rag.Engine`): a runs table, retrieval metrics per mode, per-stage latency, the
comparison of two runs (metric deltas, per-query wins and losses, configuration differences) and
per-query values. Every function here takes :class:`rag.StoredRun` values (or a
:class:`rag.RunComparison`) and returns plain values or ``pandas.DataFrame``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from pandas.io.formats.style import Styler

from rag import MODES, RunComparison, StoredRun
from ui.tables import STAGE_ORDER

RETRIEVAL_METRICS: dict[str, str] = {
    "ndcg_at_10": "nDCG@10",
    "recall_at_10": "R@10",
    "recall_at_100": "R@100",
    "mrr_at_10": "MRR@10",
}
"""Retrieval metrics of a run (keys of ``StoredRun.metrics``) -> chart label, in chart order."""

TABLE_METRICS: dict[str, str] = {
    "ndcg_at_10": "nDCG@10",
    "recall_at_100": "R@100",
    "mrr_at_10": "MRR@10",
    "abstention_balanced_accuracy": "balanced accuracy",
    "citation_validity": "citation validity",
    "answer_f1": "F1",
}
"""Key metrics of the runs table: three of retrieval runs, three of answer runs (empty otherwise)."""

RUN_COLUMNS: tuple[str, ...] = (
    "id",
    "when",
    "kind",
    "dataset",
    "split",
    "mode",
    "collection",
    *TABLE_METRICS.values(),
    "code version",
)
"""Columns of :func:`runs_frame`, in display order."""

HIGHER_IS_BETTER: frozenset[str] = frozenset(
    {
        *RETRIEVAL_METRICS,
        "queries_per_s",
        "citation_validity",
        "gold_citation_rate",
        "abstention_precision",
        "abstention_recall",
        "abstention_balanced_accuracy",
        "answer_f1",
        "rouge_l",
        "valid_citations",
        "gold_cited",
    }
)
"""Metrics (run-level and per-query) where a larger value is an improvement."""

LOWER_IS_BETTER: frozenset[str] = frozenset(
    {"dangling_markers_total", "uncited_answers", "dangling_markers", "latency_p50_ms", "latency_p95_ms"}
)
"""Metrics where a smaller value is an improvement; any other metric (counts, threshold, tokens) is neutral."""

GREEN = "color: #1a7f37"
RED = "color: #cf222e"


class _Missing:
    """The value of a configuration key that one of the two snapshots does not have."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
"""Marks a key absent from one side of a :class:`ConfigDifference`."""


@dataclass(frozen=True)
class ConfigDifference:
    """One flattened configuration key whose value differs between run A and run B.

    Attributes:
        key: Dotted path in the snapshot, e.g. ``settings.rrf_k``.
        a: Value in run A's snapshot, or :data:`MISSING`.
        b: Value in run B's snapshot, or :data:`MISSING`.
    """

    key: str
    a: Any
    b: Any


# -- runs table -----------------------------------------------------------------------------------


def code_version(run: StoredRun) -> str:
    """The ``code_version`` recorded in the run's config snapshot (``""`` for older runs)."""
    return str(run.config.get("code_version") or "")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def runs_frame(runs: Sequence[StoredRun]) -> pd.DataFrame:
    """One row per run (:data:`RUN_COLUMNS`): identity, key metrics of its kind, code version.

    A metric the run's kind does not have is empty (``NaN``), so one table holds both kinds.
    """
    rows = [
        {
            "id": r.id,
            "when": pd.Timestamp(r.created_at),
            "kind": r.kind,
            "dataset": r.dataset,
            "split": r.split,
            "mode": r.mode,
            "collection": r.collection,
            **{label: _number(r.metrics.get(name)) for name, label in TABLE_METRICS.items()},
            "code version": code_version(r),
        }
        for r in runs
    ]
    frame = pd.DataFrame(rows, columns=list(RUN_COLUMNS))
    for label in TABLE_METRICS.values():
        frame[label] = frame[label].astype("float64")
    return frame


def filter_runs(
    runs: Iterable[StoredRun], kinds: Iterable[str] = (), datasets: Iterable[str] = ()
) -> list[StoredRun]:
    """The runs of the given kinds and datasets; an empty selection means "all"."""
    kinds, datasets = set(kinds), set(datasets)
    return [r for r in runs if (not kinds or r.kind in kinds) and (not datasets or r.dataset in datasets)]


def run_label(run: StoredRun) -> str:
    """``#12 · retrieval · scifact/test · hybrid · 2026-05-01 14:03``, for run pickers."""
    return (
        f"#{run.id} · {run.kind} · {run.dataset}/{run.split} · {run.mode} · {run.created_at:%Y-%m-%d %H:%M}"
    )


# -- metrics per mode and latency -----------------------------------------------------------------


def evaluation_sets(runs: Iterable[StoredRun]) -> list[tuple[str, str]]:
    """``(dataset, split)`` pairs that have retrieval runs, most recently run first."""
    seen: dict[tuple[str, str], None] = {}
    for run in sorted((r for r in runs if r.kind == "retrieval"), key=lambda r: r.id, reverse=True):
        seen.setdefault((run.dataset, run.split), None)
    return list(seen)


def _mode_order(mode: str) -> tuple[int, str]:
    return (MODES.index(mode) if mode in MODES else len(MODES), mode)


def latest_per_mode(runs: Iterable[StoredRun], dataset: str, split: str) -> list[StoredRun]:
    """The newest retrieval run of each mode on ``dataset``/``split``, in pipeline order of the modes."""
    latest: dict[str, StoredRun] = {}
    for run in runs:
        if run.kind != "retrieval" or run.dataset != dataset or run.split != split:
            continue
        if run.mode not in latest or run.id > latest[run.mode].id:
            latest[run.mode] = run
    return [latest[m] for m in sorted(latest, key=_mode_order)]


def mode_metrics_frame(runs: Sequence[StoredRun]) -> pd.DataFrame:
    """Long frame ``mode, metric, value, run`` of :data:`RETRIEVAL_METRICS` (the grouped bar chart's data).

    Metrics a run does not have are left out rather than drawn as 0.
    """
    rows = [
        {"mode": r.mode, "metric": label, "value": value, "run": r.id}
        for r in runs
        for name, label in RETRIEVAL_METRICS.items()
        if (value := _number(r.metrics.get(name))) is not None
    ]
    return pd.DataFrame(rows, columns=["mode", "metric", "value", "run"])


def latency_frame(run: StoredRun) -> pd.DataFrame:
    """Per-stage latency of a retrieval run: ``stage, p50 ms, p95 ms, mean ms, queries``.

    Stages follow the pipeline order (:data:`ui.tables.STAGE_ORDER`), unknown ones after them
    alphabetically, ``total`` last. Empty for runs without ``latency_ms`` (answer runs).
    """
    latency: Mapping[str, Mapping[str, Any]] = run.metrics.get("latency_ms") or {}
    stages = [s for s in STAGE_ORDER if s in latency]
    stages += sorted(s for s in latency if s not in STAGE_ORDER and s != "total")
    stages += ["total"] if "total" in latency else []
    rows = [
        {
            "stage": s,
            "p50 ms": _number(latency[s].get("p50_ms")),
            "p95 ms": _number(latency[s].get("p95_ms")),
            "mean ms": _number(latency[s].get("mean_ms")),
            "queries": latency[s].get("n"),
        }
        for s in stages
    ]
    frame = pd.DataFrame(rows, columns=["stage", "p50 ms", "p95 ms", "mean ms", "queries"])
    frame["queries"] = frame["queries"].astype("Int64")
    return frame


# -- comparison -----------------------------------------------------------------------------------


def default_pair(runs: Sequence[StoredRun]) -> tuple[int, int]:
    """Run ids ``(a, b)`` to compare first: the newest run as B and a baseline A for it.

    A is the newest earlier run on B's kind, dataset and split, else the next run, else B itself
    (only one run).

    Raises:
        ValueError: ``runs`` is empty.
    """
    if not runs:
        raise ValueError("default_pair needs at least one run")
    ordered = sorted(runs, key=lambda r: r.id, reverse=True)
    b = ordered[0]
    same = [r for r in ordered[1:] if (r.kind, r.dataset, r.split) == (b.kind, b.dataset, b.split)]
    a = same[0] if same else ordered[1] if len(ordered) > 1 else b
    return a.id, b.id


def direction(metric: str) -> int:
    """``1`` when larger is better, ``-1`` when smaller is better, ``0`` for neutral metrics."""
    if metric in HIGHER_IS_BETTER:
        return 1
    if metric in LOWER_IS_BETTER:
        return -1
    return 0


def delta_style(metric: str, delta: float | None) -> str:
    """CSS for a ``B - A`` cell: green for an improvement, red for a regression, none otherwise."""
    if delta is None or (isinstance(delta, float) and math.isnan(delta)) or abs(delta) < 1e-12:
        return ""
    sign = direction(metric) * (1 if delta > 0 else -1)
    return GREEN if sign > 0 else RED if sign < 0 else ""


def deltas_frame(comparison: RunComparison) -> pd.DataFrame:
    """``metric, A, B, B − A`` for every numeric metric of the two runs (``NaN`` when one lacks it)."""
    frame = pd.DataFrame(
        [(d.metric, d.a, d.b, d.delta) for d in comparison.deltas], columns=["metric", "A", "B", "B − A"]
    )
    for column in ("A", "B", "B − A"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    return frame


def style_deltas(frame: pd.DataFrame) -> Styler:
    """:func:`deltas_frame` with the ``B − A`` column coloured by :func:`delta_style` and 4 decimals."""

    def colours(row: pd.Series) -> list[str]:
        delta = row["B − A"]
        css = delta_style(row["metric"], None if pd.isna(delta) else float(delta))
        return [css if column == "B − A" else "" for column in row.index]

    return (
        frame.style.apply(colours, axis=1)
        .format("{:.4f}", subset=["A", "B"], na_rep="–")
        .format("{:+.4f}", subset=["B − A"], na_rep="–")
    )


def per_query_metrics(*runs: StoredRun) -> list[str]:
    """Per-query metrics with numeric (or boolean) values that every given run has, in a stable order.

    The retrieval metrics come first in :data:`RETRIEVAL_METRICS` order, then the others alphabetically.
    """
    sets = []
    for run in runs:
        names = {
            name
            for values in run.per_query.values()
            for name, value in values.items()
            if isinstance(value, int | float) and name != "query"
        }
        sets.append(names)
    common = set.intersection(*sets) if sets else set()
    known = [m for m in RETRIEVAL_METRICS if m in common]
    return known + sorted(common - set(known))


def default_per_query_metric(run: StoredRun, metrics: Sequence[str]) -> str | None:
    """The metric ``compare_runs`` would use for ``run`` when available, else the first of ``metrics``."""
    preferred = "ndcg_at_10" if run.kind == "retrieval" else "answer_f1"
    if preferred in metrics:
        return preferred
    return metrics[0] if metrics else None


def query_text(qid: str, *runs: StoredRun) -> str:
    """The query text stored with ``qid`` in the first run that has it (``""`` when none does)."""
    for run in runs:
        text = (run.per_query.get(qid) or {}).get("query")
        if text:
            return str(text)
    return ""


def outcomes_frame(items: Sequence[tuple[str, float, float]], a: StoredRun, b: StoredRun) -> pd.DataFrame:
    """Wins or losses of a comparison as rows ``query id, query, A, B, B − A`` (largest change first)."""
    rows = [
        {
            "query id": qid,
            "query": query_text(qid, b, a),
            "A": float(sa),
            "B": float(sb),
            "B − A": float(sb) - float(sa),
        }
        for qid, sa, sb in items
    ]
    return pd.DataFrame(rows, columns=["query id", "query", "A", "B", "B − A"])


def run_snapshot(run: StoredRun) -> dict[str, Any]:
    """What to diff between two runs: the config snapshot plus the run's own fields under ``run.``.

    The mode, dataset and collection are columns of the run rather than part of ``config``, yet they
    are often the setting that changed (``rag eval retrieval`` stores one run per mode).
    """
    own = {"mode": run.mode, "kind": run.kind, "dataset": run.dataset, "split": run.split}
    return {"run": {**own, "collection": run.collection}, **run.config}


def flatten_config(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested dicts into dotted keys: ``{"settings": {"k": 8}}`` -> ``{"settings.k": 8}``.

    Lists and other values are leaves (compared whole); an empty dict stays as a leaf ``{}`` so that
    its key is not lost.
    """
    flat: dict[str, Any] = {}
    for key, value in config.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten_config(value, prefix=f"{path}."))
        else:
            flat[path] = value
    return flat


def config_diff(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[ConfigDifference]:
    """Keys of the flattened snapshots whose values differ (or exist on one side only), sorted by key.

    ``1`` and ``1.0`` are equal; ``True`` and ``1`` are not (a flag is not a count).
    """
    flat_a, flat_b = flatten_config(a), flatten_config(b)
    differences = []
    for key in sorted(flat_a.keys() | flat_b.keys()):
        va, vb = flat_a.get(key, MISSING), flat_b.get(key, MISSING)
        if not _same(va, vb):
            differences.append(ConfigDifference(key, va, vb))
    return differences


def _same(a: Any, b: Any) -> bool:
    if a is MISSING or b is MISSING:
        return False
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


def format_value(value: Any) -> str:
    """A configuration value as text: strings as they are, ``(not set)`` for :data:`MISSING`, else JSON."""
    if value is MISSING:
        return "(not set)"
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str, sort_keys=True)


def config_diff_frame(differences: Sequence[ConfigDifference]) -> pd.DataFrame:
    """``setting, run A, run B`` as text (one column type, whatever the values are)."""
    return pd.DataFrame(
        [(d.key, format_value(d.a), format_value(d.b)) for d in differences],
        columns=["setting", "run A", "run B"],
    )


# -- per-query drill-down -------------------------------------------------------------------------


def per_query_frame(run: StoredRun, sort_by: str | None = None) -> pd.DataFrame:
    """One row per query of ``run``: ``query id, query``, its numeric metrics, then other text fields.

    Args:
        run: A stored run.
        sort_by: Metric to sort on, worst first: ascending when larger is better or the metric is
            neutral, descending when smaller is better; missing values last, ties by query id.
    """
    metrics = per_query_metrics(run)
    texts = sorted(
        {
            name
            for values in run.per_query.values()
            for name, value in values.items()
            if isinstance(value, str) and name != "query"
        }
    )
    rows = [
        {
            "query id": qid,
            "query": str(values.get("query") or ""),
            **{m: values.get(m) for m in metrics},
            **{t: values.get(t) for t in texts},
        }
        for qid, values in run.per_query.items()
    ]
    frame = pd.DataFrame(rows, columns=["query id", "query", *metrics, *texts])
    frame = frame.sort_values("query id", kind="stable")
    if sort_by is not None and sort_by in frame.columns:
        ascending = direction(sort_by) >= 0
        frame = frame.sort_values(sort_by, ascending=ascending, na_position="last", kind="stable")
    return frame.reset_index(drop=True)
