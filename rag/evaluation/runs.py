"""Evaluation runs stored in PostgreSQL (``eval_runs``), and their comparison."""

from __future__ import annotations

import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import rag
from rag.db.runs import StoredRun

if TYPE_CHECKING:
    from rag.engine import Engine


@dataclass(frozen=True)
class MetricDelta:
    """One metric of two runs: ``b - a``."""

    metric: str
    a: float | None
    b: float | None
    delta: float | None


@dataclass(frozen=True)
class RunComparison:
    """Per-metric deltas and per-query wins/losses of run B against run A on ``per_query_metric``."""

    a: StoredRun
    b: StoredRun
    deltas: list[MetricDelta]
    per_query_metric: str
    wins: list[tuple[str, float, float]]
    losses: list[tuple[str, float, float]]
    ties: int


def code_version() -> str:
    """``rag.__version__`` plus the git commit of the checkout when there is one."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(rag.__file__).resolve().parent,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"{rag.__version__}+{commit}" if commit else rag.__version__


def config_snapshot(engine: Engine, **extra: Any) -> dict[str, Any]:
    """Everything that can change a result: settings, model names, reranker status, code version."""
    settings = asdict(engine.settings)
    settings["data_dir"] = str(settings["data_dir"])
    settings.pop("database_url", None)  # may hold a password
    _, reranker = engine.reranker()
    return {
        "settings": settings,
        "embedding_model": engine.embedder.name,
        "reranker": {"name": reranker.name, "available": reranker.available},
        "code_version": code_version(),
        **extra,
    }


def store_run(engine: Engine, **fields: Any) -> int:
    """Insert a run; returns its id.

    Args:
        fields: ``kind``, ``dataset``, ``split``, ``mode``, ``collection``, ``config``, ``metrics``,
            ``per_query`` (see :func:`rag.db.runs.insert_run`).
    """
    return engine.store_run(**fields)


def list_runs(engine: Engine, limit: int = 200) -> list[StoredRun]:
    """Runs, newest first (per-query data included)."""
    return engine.runs(limit)


def get_run(engine: Engine, run_id: int) -> StoredRun:
    """One run.

    Raises:
        NotFound: no such run.
    """
    return engine.run(run_id)


def compare_runs(a: StoredRun, b: StoredRun, per_query_metric: str | None = None) -> RunComparison:
    """Compare run B with run A: metric deltas and the queries where B is better or worse.

    Args:
        per_query_metric: Metric for wins/losses (default ``ndcg_at_10`` for retrieval runs,
            ``answer_f1`` for answer runs).
    """
    metric = per_query_metric or ("ndcg_at_10" if a.kind == "retrieval" else "answer_f1")
    deltas = []
    for name in sorted(set(a.metrics) | set(b.metrics)):
        va, vb = a.metrics.get(name), b.metrics.get(name)
        if isinstance(va, (int, float)) or isinstance(vb, (int, float)):
            delta = vb - va if isinstance(va, (int, float)) and isinstance(vb, (int, float)) else None
            deltas.append(MetricDelta(name, va, vb, delta))
    wins, losses, ties = [], [], 0
    for qid in sorted(set(a.per_query) & set(b.per_query)):
        sa, sb = a.per_query[qid].get(metric), b.per_query[qid].get(metric)
        if sa is None or sb is None:
            continue
        if sb > sa + 1e-12:
            wins.append((qid, sa, sb))
        elif sa > sb + 1e-12:
            losses.append((qid, sa, sb))
        else:
            ties += 1
    wins.sort(key=lambda w: w[2] - w[1], reverse=True)
    losses.sort(key=lambda w: w[1] - w[2], reverse=True)
    return RunComparison(a, b, deltas, metric, wins, losses, ties)
