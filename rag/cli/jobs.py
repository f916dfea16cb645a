"""Background ingestion commands: ``rag worker``, ``rag jobs`` and ``rag sync`` (``rag ingest --background``: :mod:`rag.cli.corpus`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from rag.cli.common import EXIT_FAILED, EXIT_OK, open_engine, print_json, print_table, printable


def cmd_worker(args: argparse.Namespace) -> int:
    """Run a worker that ingests queued jobs (every user's, each as its owner) until Ctrl-C.

    With ``--until-empty`` it returns once no job is queued or running anywhere (jobs of a killed
    worker included: they are retried after the heartbeat timeout).
    """
    from rag.queue import run_worker

    with open_engine(args) as engine:
        engine.embedder  # load the model before the first job  # noqa: B018
        run_worker(engine, concurrency=args.concurrency, until_empty=args.until_empty)
    return EXIT_OK


def cmd_jobs(args: argparse.Namespace) -> int:
    """List the acting user's ingest jobs, newest first (``--json`` for machines)."""
    with open_engine(args) as engine:
        jobs = engine.jobs(limit=args.limit, collection=args.collection)
    if args.json:
        print_json(
            [
                {
                    "id": j.id,
                    "collection": j.collection,
                    "file": j.source_name,
                    "stage": j.stage,
                    "chunks": j.chunks_done,
                    "attempts": j.attempts,
                    "error": j.error,
                    "outcome": j.outcome,
                }
                for j in jobs
            ]
        )
        return EXIT_OK
    print_table(
        ["id", "collection", "file", "stage", "chunks", "attempts", "seconds", "error / outcome"],
        [
            [
                str(j.id),
                printable(j.collection),
                printable(j.source_name),
                j.stage,
                str(j.chunks_done),
                str(j.attempts),
                "" if j.seconds is None else f"{j.seconds:.1f}",
                printable(j.error or j.outcome or ""),
            ]
            for j in jobs
        ],
    )
    return EXIT_OK


def cmd_sync(args: argparse.Namespace) -> int:
    """Enqueue new and changed files of a folder and delete the documents whose files are gone."""
    with open_engine(args) as engine:
        report = engine.sync_folder(Path(args.directory), args.collection)
    for job in report.enqueued:
        print(f"queued    {printable(job.source_name)}  (job {job.id})")
    for name in report.removed:
        print(f"removed   {printable(name)}")
    for name, reason in report.skipped:
        print(f"skipped   {printable(name)}  {printable(reason)}")
    print(
        f"{len(report.enqueued)} queued, {len(report.unchanged)} unchanged, {len(report.removed)} removed, "
        f"{len(report.skipped)} skipped"
    )
    return EXIT_FAILED if report.skipped else EXIT_OK


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``worker``, ``jobs`` and ``sync`` to the ``rag`` parser's subcommands."""
    p = subparsers.add_parser("worker", help="run a background ingestion worker (any number, any machine)")
    p.add_argument("--concurrency", type=int, default=1, help="jobs run at once by this worker (default 1)")
    p.add_argument("--until-empty", action="store_true", help="exit when no job is queued or running")
    p.set_defaults(func=cmd_worker)
    p = subparsers.add_parser("jobs", help="list your background ingest jobs")
    p.add_argument("--collection", help="only jobs into this collection")
    p.add_argument("--limit", type=int, default=50, help="most jobs listed (default 50)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_jobs)
    p = subparsers.add_parser(
        "sync", help="make a collection follow a folder (enqueue new/changed, delete gone)"
    )
    p.add_argument("directory", help="the folder (on this machine)")
    p.add_argument("--collection", required=True, help="the collection that mirrors the folder")
    p.set_defaults(func=cmd_sync)
