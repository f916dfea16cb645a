"""All SQL of background ingestion jobs (tables of migration 8, :mod:`rag.db.jobs_schema`).

Every function takes a connection lent by :meth:`rag.db.Database.connection`, so row-level security
limits it to the acting user's own jobs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

import procrastinate
import psycopg
from psycopg.types.json import Jsonb

JobStage = Literal["queued", "parsing", "chunking", "embedding", "storing", "done", "failed", "cancelled"]
"""Stage of an ingest job (the order of :data:`rag.db.jobs_schema.JOB_STAGES`)."""

FINISHED_STAGES: tuple[JobStage, ...] = ("done", "failed", "cancelled")
"""Stages that end a job."""


@dataclass(frozen=True)
class Job:
    """One background ingest job: one file into one collection (a row of ``ingest_jobs``).

    Attributes:
        id: Job id (``ingest_jobs.id``). owner: The user who enqueued it. collection: Target collection.
        source_name: File name (the document's source name). size_bytes: The file's size (bytes).
        sha256: Hex sha256 of the file's bytes. stage: :data:`JobStage`.
        pages_done, pages_total: OCR'd pages read / to read (0 when no OCR).
        documents_done: Documents of the file finished. chunks_done: Chunks stored so far.
        chunks_total: Chunks of the file once known (``None`` before it is chunked). embedded: Chunks embedded.
        outcome: One-line summary when done (e.g. ``new (12 chunks)``). error: Why it failed, else ``None``.
        attempts: Runs started (a killed worker's job is run again: 2). queue_job_id: procrastinate's job id.
        created_at, started_at, finished_at: Timestamps (UTC, timezone-aware); the last two may be ``None``.
    """

    id: int
    owner: str
    collection: str
    source_name: str
    size_bytes: int
    sha256: str
    stage: JobStage
    pages_done: int
    pages_total: int
    documents_done: int
    chunks_done: int
    chunks_total: int | None
    embedded: int
    outcome: str | None
    error: str | None
    attempts: int
    queue_job_id: int | None
    cancel_requested: bool
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    options: dict[str, Any]

    @property
    def finished(self) -> bool:
        """True when the job is done, failed or cancelled."""
        return self.stage in FINISHED_STAGES

    @property
    def seconds(self) -> float | None:
        """Run time in seconds (to now while running); ``None`` before it started."""
        if self.started_at is None:
            return None
        end = self.finished_at or dt.datetime.now(dt.UTC)
        return max((end - self.started_at).total_seconds(), 0.0)


_COLUMNS = (
    "id, owner, collection, source_name, size_bytes, sha256, stage, pages_done, pages_total, documents_done, "
    "chunks_done, chunks_total, embedded, outcome, error, attempts, queue_job_id, cancel_requested, created_at, "
    "started_at, finished_at, options"
)


def _job(row: tuple[Any, ...]) -> Job:
    return Job(*row)


def create_job(
    conn: psycopg.Connection,
    collection: str,
    source_name: str,
    data: bytes,
    sha256: str,
    options: dict[str, Any],
) -> Job:
    """Insert a queued job and its input bytes (one transaction); return it.

    Args:
        options: JSON-able ingest options (chunk size/overlap, CSV mode); the worker applies them.
    """
    with conn.transaction():
        row = conn.execute(
            f"INSERT INTO ingest_jobs (collection, source_name, size_bytes, sha256, options) "  # noqa: S608
            f"VALUES (%(collection)s, %(source_name)s, %(size)s, %(sha256)s, %(options)s) RETURNING {_COLUMNS}",
            {
                "collection": collection,
                "source_name": source_name,
                "size": len(data),
                "sha256": sha256,
                "options": Jsonb(options),
            },
        ).fetchone()
        assert row is not None
        conn.execute(
            "INSERT INTO ingest_job_inputs (job_id, data) VALUES (%(id)s, %(data)b)",
            {"id": row[0], "data": data},
        )
    return _job(row)


def set_queue_job_id(conn: psycopg.Connection, job_id: int, queue_job_id: int) -> None:
    """Record the procrastinate job that carries ``job_id``."""
    conn.execute(
        "UPDATE ingest_jobs SET queue_job_id = %(queue)s WHERE id = %(id)s",
        {"id": job_id, "queue": queue_job_id},
    )


def get_job(conn: psycopg.Connection, job_id: int) -> Job | None:
    """The job, or ``None`` when it does not exist or is another user's."""
    row = conn.execute(f"SELECT {_COLUMNS} FROM ingest_jobs WHERE id = %(id)s", {"id": job_id}).fetchone()  # noqa: S608
    return None if row is None else _job(row)


def list_jobs(conn: psycopg.Connection, limit: int = 200, collection: str | None = None) -> list[Job]:
    """The acting user's jobs, newest first (at most ``limit``), optionally of one collection."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM ingest_jobs "  # noqa: S608
        "WHERE (%(collection)s::text IS NULL OR collection = %(collection)s) ORDER BY id DESC LIMIT %(limit)s",
        {"collection": collection, "limit": limit},
    ).fetchall()
    return [_job(r) for r in rows]


def open_job_hashes(conn: psycopg.Connection, collection: str) -> dict[str, str]:
    """``{source_name: sha256}`` of the collection's jobs not finished yet (queued or running)."""
    rows = conn.execute(
        "SELECT source_name, sha256 FROM ingest_jobs WHERE collection = %(collection)s AND finished_at IS NULL",
        {"collection": collection},
    ).fetchall()
    return {r[0]: r[1] for r in rows}


def job_owner(conn: psycopg.Connection, job_id: int) -> str | None:
    """Who owns a job (any user's; for the worker, before it acts as that user); ``None``: no such job."""
    row = conn.execute("SELECT rag_ingest_job_owner(%(id)s)", {"id": job_id}).fetchone()
    return None if row is None else row[0]


def start_job(conn: psycopg.Connection, job_id: int) -> Job | None:
    """Mark a job as being parsed and count the attempt; ``None`` when it is finished (nothing to do).

    A job found mid-stage (its worker was killed) is started again from the beginning: ingestion is
    idempotent (documents are deduplicated by content hash, one file is one transaction).
    """
    row = conn.execute(
        f"UPDATE ingest_jobs SET stage = 'parsing', attempts = attempts + 1, started_at = now(), "  # noqa: S608
        "finished_at = NULL, error = NULL, chunks_done = 0, embedded = 0, documents_done = 0, updated_at = now() "
        f"WHERE id = %(id)s AND finished_at IS NULL AND NOT cancel_requested RETURNING {_COLUMNS}",
        {"id": job_id},
    ).fetchone()
    return None if row is None else _job(row)


def job_input(conn: psycopg.Connection, job_id: int) -> bytes | None:
    """The job's uploaded bytes, or ``None`` when they are gone."""
    row = conn.execute("SELECT data FROM ingest_job_inputs WHERE job_id = %(id)s", {"id": job_id}).fetchone()
    return None if row is None else bytes(row[0])


def update_progress(conn: psycopg.Connection, job_id: int, **counts: int | str | None) -> bool:
    """Set the stage and counts of a running job; return True when a cancel was requested.

    Args:
        counts: Any of ``stage``, ``pages_done``, ``pages_total``, ``documents_done``, ``chunks_done``,
            ``embedded``, ``chunks_total``.
    """
    allowed = (
        "stage",
        "pages_done",
        "pages_total",
        "documents_done",
        "chunks_done",
        "embedded",
        "chunks_total",
    )
    values = {key: counts.get(key) for key in allowed}
    row = conn.execute(
        "UPDATE ingest_jobs SET stage = coalesce(%(stage)s, stage), "
        "pages_done = coalesce(%(pages_done)s, pages_done), pages_total = coalesce(%(pages_total)s, pages_total), "
        "documents_done = coalesce(%(documents_done)s, documents_done), "
        "chunks_done = coalesce(%(chunks_done)s, chunks_done), embedded = coalesce(%(embedded)s, embedded), "
        "chunks_total = coalesce(%(chunks_total)s, chunks_total), updated_at = now() "
        "WHERE id = %(id)s AND finished_at IS NULL RETURNING cancel_requested",
        {**values, "id": job_id},
    ).fetchone()
    return row is None or bool(row[0])


def finish_job(
    conn: psycopg.Connection,
    job_id: int,
    stage: JobStage,
    *,
    outcome: str | None = None,
    error: str | None = None,
    chunks_done: int | None = None,
    embedded: int | None = None,
) -> None:
    """End a job as ``done``, ``failed`` or ``cancelled``; its input bytes go unless it failed (for Retry)."""
    with conn.transaction():
        conn.execute(
            "UPDATE ingest_jobs SET stage = %(stage)s, outcome = %(outcome)s, error = %(error)s, "
            "chunks_done = coalesce(%(chunks)s, chunks_done), embedded = coalesce(%(embedded)s, embedded), "
            "chunks_total = CASE WHEN %(stage)s = 'done' THEN coalesce(%(chunks)s, chunks_done) ELSE chunks_total END, "
            "finished_at = now(), updated_at = now() WHERE id = %(id)s",
            {
                "id": job_id,
                "stage": stage,
                "outcome": outcome,
                "error": error,
                "chunks": chunks_done,
                "embedded": embedded,
            },
        )
        if stage != "failed":
            conn.execute("DELETE FROM ingest_job_inputs WHERE job_id = %(id)s", {"id": job_id})


def request_cancel(conn: psycopg.Connection, job_id: int) -> Job | None:
    """Cancel a job: a queued one ends ``cancelled`` now; a running one is flagged and stops at its next batch.

    Returns:
        The job after the change, or ``None`` when it does not exist, is another user's or already finished.
    """
    with conn.transaction():
        row = conn.execute(
            "UPDATE ingest_jobs SET cancel_requested = true, updated_at = now(), "
            "stage = CASE WHEN stage = 'queued' THEN 'cancelled' ELSE stage END, "
            "finished_at = CASE WHEN stage = 'queued' THEN now() ELSE finished_at END "
            "WHERE id = %(id)s AND finished_at IS NULL RETURNING stage",
            {"id": job_id},
        ).fetchone()
        if row is not None and row[0] == "cancelled":
            conn.execute("DELETE FROM ingest_job_inputs WHERE job_id = %(id)s", {"id": job_id})
    return None if row is None else get_job(conn, job_id)


def requeue_job(conn: psycopg.Connection, job_id: int) -> Job | None:
    """Put a failed job back in the queue (its bytes are kept on failure); ``None`` when it cannot be retried."""
    row = conn.execute(
        f"UPDATE ingest_jobs SET stage = 'queued', error = NULL, outcome = NULL, finished_at = NULL, "  # noqa: S608
        "cancel_requested = false, updated_at = now() WHERE id = %(id)s AND stage = 'failed' "
        f"AND EXISTS (SELECT 1 FROM ingest_job_inputs i WHERE i.job_id = %(id)s) RETURNING {_COLUMNS}",
        {"id": job_id},
    ).fetchone()
    return None if row is None else _job(row)


def document_hashes(conn: psycopg.Connection, collection: str) -> dict[str, str]:
    """``{source_name: sha256}`` of a collection's documents (for folder sync); empty when it does not exist."""
    rows = conn.execute(
        "SELECT d.source_name, d.sha256 FROM documents d JOIN collections c ON c.id = d.collection_id "
        "WHERE c.name = %(collection)s",
        {"collection": collection},
    ).fetchall()
    return {r[0]: r[1] for r in rows}


def document_ids_by_source(
    conn: psycopg.Connection, collection_id: int, source_names: list[str]
) -> list[int]:
    """Ids of a collection's documents with these source names."""
    rows = conn.execute(
        "SELECT id FROM documents WHERE collection_id = %(collection)s AND source_name = ANY(%(names)s)",
        {"collection": collection_id, "names": source_names},
    ).fetchall()
    return [r[0] for r in rows]


def open_queue_app(app: procrastinate.App, db: Any) -> procrastinate.App:
    """Open a procrastinate App for enqueueing on ``db``'s own pool (a :class:`rag.db.Database`); return it.

    Its statements run on the pool's connections as the connecting role (procrastinate's tables have no
    row-level security), outside :meth:`~rag.db.Database.connection`'s ``rag_app`` role.
    """
    return app.open(db.pool)


async def unfinished_queue_jobs(app: procrastinate.App, queue: str) -> int:
    """Procrastinate jobs of ``queue`` that are waiting (``todo``) or running (``doing``), in any worker."""
    rows = await app.connector.execute_query_all_async(
        "SELECT count(*) AS n FROM procrastinate_jobs WHERE status IN ('todo', 'doing') AND queue_name = %(q)s",
        q=queue,
    )
    return int(rows[0]["n"])
