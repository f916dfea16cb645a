"""Run one background ingest job: load its bytes, ingest them with the Ingestor, record progress.

The worker (:mod:`rag.queue`) calls :func:`run_job` with a job id. The job is run as its owner
(row-level security applies as for an upload), with the unchanged :class:`rag.ingest.Ingestor`; its
progress events become the job's stage and counts (written at most every
:data:`PROGRESS_INTERVAL_S`, and at every stage change), and a cancel request is honoured at the
next event, i.e. between batches. A batch is one transaction, so a cancelled or killed job leaves
whole documents or none; running it again deduplicates by content hash, so nothing is stored twice.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from rag.db.jobs import finish_job, job_input, job_owner, start_job, update_progress
from rag.errors import DatabaseError, RagError
from rag.ingest import IngestProgress

if TYPE_CHECKING:
    from rag.engine import Engine

_log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 0.5
"""Longest time between two progress writes of a running job (seconds); the UI refreshes each second."""

_STAGES = {"parse": "parsing", "chunk": "chunking", "embed": "embedding", "store": "storing"}


class _Cancelled(Exception):
    """Raised from the progress callback to stop a job whose cancel was requested."""


def run_job(engine: Engine, job_id: int) -> str:
    """Run job ``job_id`` to its end; return its final stage (``done``, ``failed``, ``cancelled``, ``skipped``).

    ``skipped``: the job was already finished or cancelled, or does not exist (a retried procrastinate job
    of a job another worker completed).

    Raises:
        DatabaseError: the database went away; the job stays unfinished and the queue runs it again.
    """
    with engine.db.connection() as conn:
        owner = job_owner(conn, job_id)
    if owner is None:
        return "skipped"
    view = engine.for_user(owner)
    with view.db.connection() as conn:
        job = start_job(conn, job_id)
        data = None if job is None else job_input(conn, job_id)
    if job is None:
        return "skipped"
    if data is None:
        with view.db.connection() as conn:
            finish_job(conn, job_id, "failed", error="the uploaded bytes are gone: upload the file again")
        return "failed"
    last_write = 0.0
    last_stage = ""

    def on_progress(event: IngestProgress) -> None:
        nonlocal last_write, last_stage
        stage = _STAGES[event.stage]
        now = time.monotonic()
        if stage == last_stage and now - last_write < PROGRESS_INTERVAL_S:
            return
        last_write, last_stage = now, stage
        with view.db.connection() as conn:
            cancel = update_progress(
                conn,
                job_id,
                stage=stage,
                pages_done=event.pages_done,
                pages_total=event.pages_total,
                documents_done=event.documents_done,
                chunks_done=event.chunks_done,
                embedded=event.embedded,
            )
        if cancel:
            raise _Cancelled

    options = dict(job.options)
    try:
        ingestor = view.ingestor(
            job.collection,
            load_options=view.load_options(**options.get("load_options", {})),
            on_progress=on_progress,
            chunk_size=options.get("chunk_size"),
            chunk_overlap=options.get("chunk_overlap"),
        )
        results = ingestor.ingest_bytes(data, job.source_name)
    except _Cancelled:
        with view.db.connection() as conn:
            finish_job(conn, job_id, "cancelled")
        return "cancelled"
    except DatabaseError:
        raise
    except RagError as exc:
        with view.db.connection() as conn:
            finish_job(conn, job_id, "failed", error=str(exc))
        return "failed"
    chunks = sum(r.chunks for r in results)
    embedded = sum(r.embedded for r in results)
    failed = [r for r in results if r.status == "failed"]
    with view.db.connection() as conn:
        if failed:
            finish_job(
                conn,
                job_id,
                "failed",
                error=failed[0].error or "failed",
                chunks_done=chunks,
                embedded=embedded,
            )
            return "failed"
        statuses = sorted({r.status for r in results})
        finish_job(
            conn,
            job_id,
            "done",
            outcome=f"{', '.join(statuses)} ({chunks} chunks, {embedded} embedded)",
            chunks_done=chunks,
            embedded=embedded,
        )
    return "done"
