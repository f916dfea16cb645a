"""The task queue of background ingestion: a procrastinate App on this app's PostgreSQL.

Why procrastinate (docs/background-ingestion.md): a well-kept PostgreSQL-only task queue (psycopg 3,
LISTEN/NOTIFY wake-ups, ``SELECT ... FOR UPDATE SKIP LOCKED`` claiming, worker heartbeats and
stalled-job retry in 3.x), so any number of workers on any number of machines share the queue with
no broker beside the database this app already needs.

A procrastinate job carries only ``{"job_id": n}``; the job itself (stage, counts, bytes) is this
app's ``ingest_jobs`` row (:mod:`rag.db.jobs`). A worker that is killed stops sending heartbeats;
after :data:`STALLED_WORKER_TIMEOUT_S` another worker finds its ``doing`` jobs
(``JobManager.get_stalled_jobs``) and puts them back in the queue (``retry_job``), and the job is run
again from its start (idempotent: :mod:`rag.job_runner`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import TYPE_CHECKING, Any

import procrastinate
from procrastinate.exceptions import ConnectorException

from rag.db.jobs import unfinished_queue_jobs
from rag.job_runner import run_job

if TYPE_CHECKING:
    from rag.engine import Engine

_log = logging.getLogger(__name__)

TASK_NAME = "rag.ingest"
QUEUE = "ingest"
HEARTBEAT_INTERVAL_S = 2.0
"""How often a worker records that it is alive (seconds; procrastinate's default is 10)."""
STALLED_WORKER_TIMEOUT_S = 8.0
"""A worker silent for this long (seconds) counts as dead and its running jobs are retried: four missed
heartbeats, so a busy but alive worker (heartbeats run on its event loop, the ingest in a thread) is never
taken for dead."""
STALLED_CHECK_INTERVAL_S = 2.0
"""How often a worker looks for stalled jobs (seconds)."""

_engines: dict[int, Engine] = {}


def build_app(conninfo: str, engine: Engine | None = None) -> procrastinate.App:
    """A procrastinate App on ``conninfo`` with the ingest task; ``engine`` runs its jobs (worker side).

    Args:
        conninfo: libpq connection string (``DATABASE_URL`` or the embedded server's URI).
        engine: The engine whose models a worker uses; not needed to enqueue.
    """
    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(conninfo=conninfo, min_size=1, max_size=4)
    )
    app_key = id(app)
    if engine is not None:
        _engines[app_key] = engine

    @app.task(name=TASK_NAME, queue=QUEUE, pass_context=True)
    def ingest(context: procrastinate.JobContext, job_id: int) -> str:
        eng = _engines[id(context.app)] if context.app is not None else None
        if eng is None:  # pragma: no cover - a worker is always built with its engine
            raise RuntimeError("this procrastinate App was built without an engine")
        return run_job(eng, job_id)

    return app


def defer_job(app: procrastinate.App, job_id: int) -> int:
    """Queue the ingest of job ``job_id`` on an opened App; return procrastinate's job id."""
    return app.configure_task(TASK_NAME, queue=QUEUE).defer(job_id=job_id)


async def _retry_stalled(app: procrastinate.App) -> int:
    jobs = await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=STALLED_WORKER_TIMEOUT_S)
    count = 0
    for job in jobs:
        try:
            await app.job_manager.retry_job(job)
        except ConnectorException:
            continue  # another worker (or this one's other loop) retried it first: no longer "doing"
        _log.warning("retried job %s of a worker that stopped", job.id)
        count += 1
    return count


async def run_worker_async(
    app: procrastinate.App,
    *,
    concurrency: int = 1,
    until_empty: bool = False,
    stop: threading.Event | None = None,
) -> None:
    """Run a worker until cancelled (or, ``until_empty``, until no job is queued or running anywhere).

    Alongside the worker a loop retries the jobs of dead workers every :data:`STALLED_CHECK_INTERVAL_S`.
    """
    async with app.open_async():

        async def watch_stalled() -> None:
            while True:
                await _retry_stalled(app)
                await asyncio.sleep(STALLED_CHECK_INTERVAL_S)

        # until_empty checks for stalled jobs itself between its runs.
        watcher = asyncio.create_task(watch_stalled()) if not until_empty else None
        try:
            options: dict[str, Any] = {
                "queues": [QUEUE],
                "concurrency": concurrency,
                "update_heartbeat_interval": HEARTBEAT_INTERVAL_S,
                "stalled_worker_timeout": STALLED_WORKER_TIMEOUT_S,
                "install_signal_handlers": stop is None,
            }
            if until_empty:
                # A dead worker's job stays "doing" until it is found stalled: wait for it too.
                while True:
                    await _retry_stalled(app)
                    await app.run_worker_async(wait=False, **options)
                    if await unfinished_queue_jobs(app, QUEUE) == 0:
                        break
                    await asyncio.sleep(STALLED_CHECK_INTERVAL_S)
            else:
                worker = asyncio.create_task(app.run_worker_async(wait=True, **options))
                while not worker.done():
                    if stop is not None and stop.is_set():
                        worker.cancel()
                        break
                    await asyncio.sleep(0.5)
                try:
                    await worker
                except asyncio.CancelledError:
                    pass
        finally:
            if watcher is not None:
                watcher.cancel()


def conninfo_of(engine: Engine) -> str:
    """The connection string of the engine's database (``DATABASE_URL`` or the embedded server)."""
    return engine.db.conninfo


def run_worker(engine: Engine, *, concurrency: int = 1, until_empty: bool = False) -> None:
    """Run a worker in this thread (``rag worker``); returns when interrupted or, ``until_empty``, when idle."""
    app = build_app(conninfo_of(engine), engine)
    asyncio.run(run_worker_async(app, concurrency=concurrency, until_empty=until_empty))


class WorkerThread:
    """A worker running on a daemon thread of this process (the app's in-process worker).

    Attributes:
        thread: The thread. stop_event: Set by :meth:`stop`.
    """

    def __init__(self, engine: Engine, concurrency: int = 1) -> None:
        self.stop_event = threading.Event()
        self._app = build_app(conninfo_of(engine), engine)
        self.thread = threading.Thread(
            target=lambda: asyncio.run(
                run_worker_async(self._app, concurrency=concurrency, stop=self.stop_event)
            ),
            name="rag-worker",
            daemon=True,
        )
        self.thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ask the worker to stop and wait up to ``timeout_s`` seconds (a running job finishes or is retried later)."""
        self.stop_event.set()
        self.thread.join(timeout_s)

    @property
    def alive(self) -> bool:
        """True while the worker thread runs."""
        return self.thread.is_alive()
