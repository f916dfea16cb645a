"""The rows of one CSV or JSONL file are stored all together or not at all (issue 12).

A file of many rows spans several embedding batches; before, each batch was committed on its own, so a
bad row or a crash in the middle left the first batches stored. These tests use the real database and
the packaged MiniLM; the crash is a real process killed with SIGKILL.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import rag.ingest
from helpers import assert_bm25_statistics_match_recount
from rag.ingest import Ingestor

ROWS = 60
REPO = Path(__file__).resolve().parents[1]


def _write_corpus(path: Path, rows: int = ROWS, repeat_first: bool = False) -> Path:
    lines = [
        {"_id": f"r{i}", "title": f"Row {i}", "text": f"Row {i} is about the creature number {i}, word{i}y."}
        for i in range(rows)
    ]
    if repeat_first:
        lines.append(lines[0])  # the same line again: the same bytes, stored as "#r0@line<N>"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def _ingestor(engine, embedder, batch_chunks: int = 8) -> Ingestor:
    return Ingestor(
        engine.db,
        embedder,
        engine.settings.collection,
        chunk_size=engine.settings.chunk_size,
        chunk_overlap=engine.settings.chunk_overlap,
        batch_chunks=batch_chunks,
    )


def _documents_in(engine) -> int:
    with engine.db.connection() as conn:
        return conn.execute(
            "SELECT count(*) FROM documents d JOIN collections c ON c.id = d.collection_id WHERE c.name = %(n)s",
            {"n": engine.settings.collection},
        ).fetchone()[0]


def test_a_file_of_many_batches_is_stored_whole(engine, embedder, tmp_path):
    events = []
    ingestor = _ingestor(engine, embedder)
    ingestor.on_progress = events.append
    results = list(ingestor.ingest_paths([_write_corpus(tmp_path / "rows.jsonl")]))
    assert [r.status for r in results] == ["new"] * ROWS
    assert sum(1 for e in events if e.stage == "embed") > 3  # really several batches
    assert _documents_in(engine) == ROWS
    assert_bm25_statistics_match_recount(engine)


def test_a_failed_write_of_one_row_stores_nothing_of_its_file(engine, embedder, tmp_path, monkeypatch):
    real_write = rag.ingest.write_documents

    def write_failing_on_row_41(conn, collection, items, model):
        if any(item.document.source_name.endswith("#r41") for item in items):
            raise ValueError("row r41 does not fit")  # a data error, raised inside the transaction
        return real_write(conn, collection, items, model)

    monkeypatch.setattr(rag.ingest, "write_documents", write_failing_on_row_41)
    corpus = _write_corpus(tmp_path / "rows.jsonl")
    other = tmp_path / "other.md"
    other.write_text("# Other\n\nA separate file about owls, stored on its own.\n")
    results = list(_ingestor(engine, embedder).ingest_paths([corpus, other]))
    by_name = {r.source_name: r for r in results}
    assert set(by_name) == {"rows.jsonl", "other.md"}
    assert by_name["rows.jsonl"].status == "failed"
    assert "nothing from rows.jsonl was stored" in by_name["rows.jsonl"].error
    assert by_name["other.md"].status == "new"
    assert [d.source_name for d in engine.documents()] == ["other.md"]
    assert_bm25_statistics_match_recount(engine)


def test_a_new_collection_is_not_left_behind_by_a_failed_file(engine, embedder, tmp_path, monkeypatch):
    def always_fail(conn, collection, items, model):
        raise ValueError("no room")

    monkeypatch.setattr(rag.ingest, "write_documents", always_fail)
    results = list(_ingestor(engine, embedder).ingest_paths([_write_corpus(tmp_path / "rows.jsonl")]))
    assert [r.status for r in results] == ["failed"]
    assert engine.settings.collection not in engine.collections()


def test_a_row_repeated_in_its_file_is_stored_once(engine, embedder, tmp_path):
    path = tmp_path / "rows.jsonl"
    _write_corpus(path, rows=20, repeat_first=True)
    results = list(_ingestor(engine, embedder).ingest_paths([path]))
    statuses = {r.source_name: r.status for r in results}
    assert statuses["rows.jsonl#r0@line21"] == "unchanged"
    assert sum(1 for s in statuses.values() if s == "new") == 20
    first = next(r for r in results if r.source_name == "rows.jsonl#r0")
    again = next(r for r in results if r.source_name == "rows.jsonl#r0@line21")
    assert again.document_id == first.document_id is not None
    assert _documents_in(engine) == 20


_KILLED_INGEST = textwrap.dedent(
    """
    import sys
    from rag.config import Settings
    from rag.db import Database
    from rag.embedding import load_embedder
    from rag.ingest import Ingestor

    url, collection, path = sys.argv[1:4]
    db = Database.open(Settings(database_url=url))
    embedder = load_embedder(Settings().embedding_model)
    def report(event):
        print(event.stage, flush=True)
    ingestor = Ingestor(db, embedder, collection, chunk_size=128, chunk_overlap=16, batch_chunks=8,
                        on_progress=report)
    for result in ingestor.ingest_paths([__import__("pathlib").Path(path)]):
        print("result", result.status, flush=True)
    """
)


@pytest.mark.slow
def test_a_killed_ingest_leaves_nothing_of_a_half_done_file(engine, embedder, database, tmp_path):
    corpus = _write_corpus(tmp_path / "rows.jsonl", rows=200)
    conninfo = database.pool.conninfo
    process = subprocess.Popen(
        [sys.executable, "-c", _KILLED_INGEST, conninfo, engine.settings.collection, str(corpus)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        embeds = 0
        deadline = time.monotonic() + 240
        for line in process.stdout:  # kill it after several batches were embedded (written, before)
            embeds += line.strip() == "embed"
            if embeds >= 6 or time.monotonic() > deadline:
                break
        assert embeds >= 6, process.stderr.read()
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert _documents_in(engine) == 0
    # The file ingested again after the crash is complete, with exact BM25 statistics.
    results = list(_ingestor(engine, embedder).ingest_paths([corpus]))
    assert [r.status for r in results] == ["new"] * 200
    assert _documents_in(engine) == 200
    assert_bm25_statistics_match_recount(engine)
