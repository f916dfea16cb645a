"""Stored evaluation runs (``eval_runs``): one mode on one dataset split, with per-query scores."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from rag.errors import NotFound

INSERT_RUN = """
INSERT INTO eval_runs (kind, dataset, split, mode, collection, config, metrics, per_query)
VALUES (%(kind)s, %(dataset)s, %(split)s, %(mode)s, %(collection)s, %(config)s, %(metrics)s, %(per_query)s)
RETURNING id
"""
_RUN_COLUMNS = "id, kind, dataset, split, mode, collection, config, metrics, per_query, created_at"
LIST_RUNS = f"SELECT {_RUN_COLUMNS} FROM eval_runs ORDER BY id DESC LIMIT %(limit)s"
GET_RUN = f"SELECT {_RUN_COLUMNS} FROM eval_runs WHERE id = %(id)s"


@dataclass(frozen=True)
class StoredRun:
    """A stored evaluation run (one mode on one dataset split).

    Attributes:
        kind: ``retrieval`` or ``answers``. config: Settings and model names that produced it.
        metrics: Metric name -> value. per_query: Metric name -> {query id -> value}.
    """

    id: int
    kind: str
    dataset: str
    split: str
    mode: str
    collection: str
    config: dict[str, Any]
    metrics: dict[str, Any]
    per_query: dict[str, Any]
    created_at: datetime


def insert_run(
    conn: psycopg.Connection,
    *,
    kind: str,
    dataset: str,
    split: str,
    mode: str,
    collection: str,
    config: dict[str, Any],
    metrics: dict[str, Any],
    per_query: dict[str, Any],
) -> int:
    """Insert a run; returns its id."""
    row = conn.execute(
        INSERT_RUN,
        {
            "kind": kind,
            "dataset": dataset,
            "split": split,
            "mode": mode,
            "collection": collection,
            "config": Jsonb(config),
            "metrics": Jsonb(metrics),
            "per_query": Jsonb(per_query),
        },
    ).fetchone()
    assert row is not None
    return int(row[0])


def list_runs(conn: psycopg.Connection, limit: int) -> list[StoredRun]:
    """Runs, newest first (per-query data included)."""
    return [StoredRun(*r) for r in conn.execute(LIST_RUNS, {"limit": limit}).fetchall()]


def get_run(conn: psycopg.Connection, run_id: int) -> StoredRun:
    """One run.

    Raises:
        NotFound: no such run (the message names ``rag eval runs``).
    """
    row = conn.execute(GET_RUN, {"id": run_id}).fetchone()
    if row is None:
        raise NotFound(f"evaluation run {run_id} does not exist: see `rag eval runs`")
    return StoredRun(*row)
