"""Original files (migration 7): kept with their document, in one transaction, under row-level security."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import uuid
from pathlib import Path

import psycopg
import pytest

from helpers import make_pdf
from rag import NotFound
from rag.config import Settings
from rag.db import Database
from rag.db.bulk import drop_collection
from rag.engine import Engine

POLICY = b"# Warranty\n\nThe warranty lasts two years from the date of purchase.\n"


def _user(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}@example.com"


def _originals(database: Database, document_ids: list[int]) -> int:
    """Rows of document_originals for these documents, counted past row-level security."""
    with database.pool.connection() as conn:
        row = conn.execute(
            "SELECT count(*) FROM document_originals WHERE document_id = ANY(%(ids)s)", {"ids": document_ids}
        ).fetchone()
    return int(row[0])


def _ingest(engine: Engine, data: bytes, name: str) -> int:
    (result,) = engine.ingestor().ingest_bytes(data, name)
    assert result.status in ("new", "replaced"), result
    assert result.document_id is not None
    return result.document_id


def test_original_is_kept_with_its_document_and_deleted_with_it(engine, database):
    pdf = make_pdf(["The warranty lasts two years.", "Returns are accepted within 30 days."])
    document_id = _ingest(engine, pdf, "manual.pdf")
    original = engine.original(document_id)
    assert original.data == pdf
    assert original.media_type == "application/pdf"
    assert original.filename == "manual.pdf"
    assert original.sha256 == hashlib.sha256(pdf).hexdigest()

    assert engine.delete_documents([document_id]) == 1
    assert _originals(database, [document_id]) == 0
    with pytest.raises(NotFound, match="no document"):
        engine.original(document_id)


def test_a_new_version_replaces_the_original(engine, database):
    first = _ingest(engine, POLICY, "policy.md")
    second = _ingest(engine, POLICY + b"\n# Returns\n\nReturns within 30 days.\n", "policy.md")
    assert first != second
    assert _originals(database, [first]) == 0
    assert engine.original(second).data.endswith(b"Returns within 30 days.\n")


def test_dropping_the_collection_removes_its_originals(engine, database):
    document_id = _ingest(engine, POLICY, "policy.md")
    with database.pool.connection() as conn:
        drop_collection(conn, engine.settings.collection)
    assert _originals(database, [document_id]) == 0


def test_rows_of_a_file_keep_no_original(engine):
    lines = b'{"_id": "a", "title": "A", "text": "Bees make honey."}\n{"_id": "b", "title": "B", "text": "Ants dig."}\n'
    results = engine.ingestor().ingest_bytes(lines, "corpus.jsonl")
    assert [r.status for r in results] == ["new", "new"]
    with pytest.raises(NotFound, match="not kept"):
        engine.original(results[0].document_id)


def test_a_failed_write_stores_neither_document_nor_original(engine, database, monkeypatch):
    import rag.db.documents as documents

    def fail(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(documents, "add_postings", fail)  # the last step of the transaction
    (result,) = engine.ingestor().ingest_bytes(POLICY, "policy.md")
    assert result.status == "failed"
    with database.pool.connection() as conn:
        documents_left, originals_left = conn.execute(
            "SELECT count(d.id), count(o.document_id) FROM documents d "
            "LEFT JOIN document_originals o ON o.document_id = d.id "
            "WHERE d.collection_id IN (SELECT id FROM collections WHERE name = %(c)s)",
            {"c": engine.settings.collection},
        ).fetchone()
    assert (documents_left, originals_left) == (0, 0)


def test_originals_follow_the_collection_readers(engine, database):
    alice = engine.for_user(_user("alice"))
    bob = engine.for_user(_user("bob"))
    document_id = _ingest(alice, POLICY, "policy.md")
    with pytest.raises(NotFound):
        bob.original(document_id)
    with database.as_user(bob.user).connection() as conn:
        assert conn.execute("SELECT count(*) FROM document_originals").fetchone()[0] == 0

    alice.share_collection(bob.user, "read")
    assert bob.original(document_id).data == POLICY
    # A reader cannot delete the original nor attach one to a document it cannot write.
    with database.as_user(bob.user).connection() as conn:
        assert (
            conn.execute(
                "DELETE FROM document_originals WHERE document_id = %(d)s", {"d": document_id}
            ).rowcount
            == 0
        )
    assert _originals(database, [document_id]) == 1
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        with database.as_user(bob.user).connection() as conn:
            conn.execute("DELETE FROM document_originals WHERE document_id = %(d)s", {"d": document_id})
            conn.execute(
                "INSERT INTO document_originals (document_id, media_type, size_bytes, sha256, data) "
                "VALUES (%(d)s, 'text/plain', 1, 'x', 'x'::bytea)",
                {"d": document_id},
            )


def test_originals_survive_a_restart_of_the_server(settings, embedder):
    """Its own embedded PostgreSQL, stopped and started again: the original is read back.

    The data directory is outside pytest's tree, as in ``db_fixtures.database``: the server runs as
    another user, and a concurrent pytest session resets that tree to mode 0700.
    """
    data_dir = Path(tempfile.mkdtemp(prefix="rag-test-restart-"))
    try:
        _restart_and_read(settings, embedder, data_dir)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def _restart_and_read(settings, embedder, data_dir: Path) -> None:
    first = Database.open(Settings(data_dir=data_dir, database_url=None))
    try:
        engine = Engine(settings, db=first)
        engine._embedder = embedder
        document_id = _ingest(engine, POLICY, "policy.md")
    finally:
        first.close()
        first._server.cleanup()  # cleanup_mode="stop": the server stops, the data stays
    assert not (data_dir / "pgdata" / "postmaster.pid").exists()
    second = Database.open(Settings(data_dir=data_dir, database_url=None))
    try:
        assert Engine(settings, db=second).original(document_id).data == POLICY
    finally:
        second.close()
        second._server.cleanup()


def test_a_batch_is_written_before_its_originals_pass_the_byte_bound(engine, monkeypatch):
    import rag.ingest as ingest

    batches: list[int] = []
    real_write = ingest.write_documents

    def spy(conn, collection, items, model):
        batches.append(len(items))
        return real_write(conn, collection, items, model)

    monkeypatch.setattr(ingest, "write_documents", spy)
    ingestor = engine.ingestor()
    ingestor.batch_original_bytes = len(POLICY) + 1  # two files are over the bound
    sources = [
        (f"p{i}.md", lambda i=i: iter([_doc(ingestor, POLICY + f"\n{i} bees.\n".encode(), f"p{i}.md")]))
        for i in range(4)
    ]
    results = list(ingestor.ingest_sources(sources))
    assert [r.status for r in results] == ["new"] * 4
    assert max(batches) <= 2 and sum(batches) == 4


def _doc(ingestor, data: bytes, name: str):
    from rag.loaders import load_bytes

    (document,) = load_bytes(data, name, ingestor.load_options)
    return document
