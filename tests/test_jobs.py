"""Background ingestion: jobs through procrastinate and real workers against the real database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from rag import NotFound
from rag.queue import build_app, conninfo_of, run_worker_async

BEES = "Honey bees collect nectar and turn it into honey inside the hive during the summer. "
ANTS = "Leafcutter ants grow a fungus garden underground and feed it with fresh leaves every day. "
REPO = Path(__file__).resolve().parents[1]


def drain(engine) -> None:
    """Run one in-process worker until no job is queued or running (every test's jobs)."""
    import asyncio

    app = build_app(conninfo_of(engine), engine)
    asyncio.run(run_worker_async(app, until_empty=True, stop=threading.Event()))


def _user(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}@example.com"


def _collection_counts(database, collection: str) -> dict[str, object]:
    """Documents, chunks and BM25 statistics of a collection, read without row-level security."""
    with database.pool.connection() as conn:
        row = conn.execute(
            "SELECT c.id, c.chunk_count, c.lexeme_total FROM collections c WHERE c.name = %(name)s",
            {"name": collection},
        ).fetchone()
        assert row is not None, collection
        cid = row[0]
        docs = conn.execute(
            "SELECT source_name, sha256, (SELECT count(*) FROM chunks k WHERE k.document_id = d.id) "
            "FROM documents d WHERE collection_id = %(id)s ORDER BY source_name",
            {"id": cid},
        ).fetchall()
        chunks = conn.execute(
            "SELECT count(*) FROM chunks WHERE collection_id = %(id)s", {"id": cid}
        ).fetchone()[0]
        stats = conn.execute(
            "SELECT count(*), coalesce(sum(doc_freq), 0) FROM lexeme_stats WHERE collection_id = %(id)s",
            {"id": cid},
        ).fetchone()
        postings = conn.execute(
            "SELECT count(*) FROM postings WHERE collection_id = %(id)s", {"id": cid}
        ).fetchone()[0]
    return {
        "documents": docs,
        "chunks": chunks,
        "chunk_count": row[1],
        "lexeme_total": row[2],
        "lexeme_stats": tuple(stats),
        "postings": postings,
    }


def test_enqueued_files_are_ingested_by_a_worker_like_inline(engine, database):
    files = [("bees.txt", (BEES * 30).encode()), ("ants.txt", (ANTS * 30).encode())]
    background = engine.settings.collection
    jobs = engine.enqueue_files(files, background)
    assert [j.stage for j in jobs] == ["queued", "queued"]
    assert all(j.queue_job_id for j in jobs)
    drain(engine)
    finished = [engine.job(j.id) for j in jobs]
    assert [j.stage for j in finished] == ["done", "done"], [j.error for j in finished]
    assert all(
        j.attempts == 1 and j.finished_at is not None and j.chunks_total == j.chunks_done for j in finished
    )
    inline = f"{background}-inline"
    engine.ingest_files(files, inline)
    got, want = _collection_counts(database, background), _collection_counts(database, inline)
    assert got == want
    assert sum(j.chunks_done for j in finished) == want["chunks"] > 2
    with database.pool.connection() as conn:  # the uploaded bytes go when the job is done
        ids = [j.id for j in jobs]
        assert conn.execute(
            "SELECT count(*) FROM ingest_job_inputs WHERE job_id = ANY(%(ids)s)", {"ids": ids}
        ).fetchone() == (0,)


def test_a_failed_job_records_its_reason_and_can_be_retried(engine, database):
    alice = engine.for_user(_user("alice"))
    bob = engine.for_user(_user("bob"))
    collection = engine.settings.collection
    alice.ingest_files([("bees.txt", BEES.encode())], collection)
    alice.share_collection(bob.user, "write", collection)
    (job,) = bob.enqueue_files([("ants.txt", (ANTS * 5).encode())], collection)
    alice.share_collection(bob.user, "read", collection)  # Bob loses write access before a worker runs it
    drain(engine)
    failed = bob.job(job.id)
    assert failed.stage == "failed"
    assert "read-only" in failed.error or "read" in failed.error.lower(), failed.error
    alice.share_collection(bob.user, "write", collection)
    assert bob.retry_job(job.id).stage == "queued"
    drain(engine)
    done = bob.job(job.id)
    assert (done.stage, done.attempts, done.error) == ("done", 2, None)
    assert {d.source_name for d in alice.documents(collection)} == {"bees.txt", "ants.txt"}
    with pytest.raises(NotFound):
        bob.retry_job(job.id)  # only failed jobs


def test_cancel_a_queued_job(engine):
    (job,) = engine.enqueue_files([("bees.txt", BEES.encode())], engine.settings.collection)
    assert engine.cancel_job(job.id).stage == "cancelled"
    drain(engine)
    assert engine.job(job.id).stage == "cancelled"
    assert engine.documents(engine.settings.collection) == []
    with pytest.raises(NotFound):
        engine.cancel_job(job.id)


def _many_chunks_text(n: int) -> bytes:
    return "\n\n".join(f"Paragraph {i}: {BEES} {ANTS} number {i} of {n}." for i in range(n)).encode()


def test_cancel_a_running_job_stops_it_between_batches(engine):
    collection = engine.settings.collection
    (job,) = engine.enqueue_files([("big.txt", _many_chunks_text(1500))], collection)
    worker = engine.start_worker()
    try:
        deadline = time.monotonic() + 120
        while engine.job(job.id).stage in ("queued", "parsing", "chunking") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert engine.job(job.id).stage in ("embedding", "storing")
        engine.cancel_job(job.id)
        while not engine.job(job.id).finished and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        worker.stop()
    assert engine.job(job.id).stage == "cancelled"
    assert [d.source_name for d in engine.documents(collection)] == []  # one document: all or nothing


def test_folder_sync_enqueues_new_and_changed_files_and_removes_gone_ones(engine, tmp_path):
    collection = engine.settings.collection
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.txt").write_text(BEES * 3)
    (tmp_path / "sub" / "b.txt").write_text(ANTS * 3)
    first = engine.sync_folder(tmp_path, collection)
    assert sorted(j.source_name for j in first.enqueued) == ["a.txt", "sub/b.txt"]
    assert engine.sync_folder(tmp_path, collection).enqueued == ()  # queued already: not twice
    drain(engine)
    again = engine.sync_folder(tmp_path, collection)
    assert (again.enqueued, sorted(again.unchanged), again.removed) == ((), ["a.txt", "sub/b.txt"], ())
    (tmp_path / "a.txt").write_text(ANTS * 4)
    (tmp_path / "sub" / "b.txt").unlink()
    (tmp_path / "c.txt").write_text(BEES * 2)
    changed = engine.sync_folder(tmp_path, collection)
    assert sorted(j.source_name for j in changed.enqueued) == ["a.txt", "c.txt"]
    assert changed.removed == ("sub/b.txt",)
    drain(engine)
    docs = {d.source_name: d for d in engine.documents(collection)}
    assert sorted(docs) == ["a.txt", "c.txt"]
    assert "Leafcutter" in engine.chunks(docs["a.txt"].id)[0].text


def test_another_user_cannot_see_or_cancel_my_jobs(engine, database):
    alice = engine.for_user(_user("alice"))
    bob = engine.for_user(_user("bob"))
    (job,) = alice.enqueue_files([("bees.txt", BEES.encode())], engine.settings.collection)
    assert [j.id for j in alice.jobs()] == [job.id]
    assert bob.jobs() == []
    with pytest.raises(NotFound):
        bob.job(job.id)
    with pytest.raises(NotFound):
        bob.cancel_job(job.id)
    with database.as_user(bob.user).connection() as conn:
        assert conn.execute(
            "SELECT count(*) FROM ingest_job_inputs WHERE job_id = %(id)s", {"id": job.id}
        ).fetchone() == (0,)
        assert (
            conn.execute("UPDATE ingest_jobs SET stage = 'done' WHERE id = %(id)s", {"id": job.id}).rowcount
            == 0
        )
    assert alice.cancel_job(job.id).stage == "cancelled"


def _worker_process(engine, *args: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "DATABASE_URL": conninfo_of(engine),
        "RAG_CHUNK_SIZE": str(engine.settings.chunk_size),
        "RAG_CHUNK_OVERLAP": str(engine.settings.chunk_overlap),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "rag.cli", "worker", *args],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def test_a_killed_worker_loses_nothing_and_duplicates_nothing(engine, database):
    collection = engine.settings.collection
    files = [("big.txt", _many_chunks_text(1500)), ("bees.txt", (BEES * 20).encode())]
    jobs = engine.enqueue_files(files, collection, chunk_size=engine.settings.chunk_size)
    first = _worker_process(engine)
    try:
        deadline = time.monotonic() + 240
        while engine.job(jobs[0].id).stage != "embedding" and time.monotonic() < deadline:
            assert first.poll() is None, first.stdout.read().decode() if first.stdout else ""
            time.sleep(0.1)
        assert engine.job(jobs[0].id).stage == "embedding"
        time.sleep(0.5)  # mid-batch: embedding the file's chunks
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
    assert not engine.job(jobs[0].id).finished
    second = _worker_process(engine, "--until-empty")
    out, _ = second.communicate(timeout=300)
    assert second.returncode == 0, out.decode()
    big, bees = (engine.job(j.id) for j in jobs)
    assert (big.stage, bees.stage) == ("done", "done"), (big.error, bees.error)
    assert big.attempts == 2
    inline = f"{collection}-inline"
    engine.ingest_files(files, inline)
    assert _collection_counts(database, collection) == _collection_counts(database, inline)
