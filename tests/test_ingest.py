"""Ingestion against the real embedded PostgreSQL and the packaged MiniLM."""

from __future__ import annotations

import numpy as np
import psycopg
import pytest
from psycopg import sql

from helpers import assert_bm25_statistics_match_recount, make_blank_pdf, make_encrypted_pdf, make_pdf
from rag.db.documents import PreparedDocument, write_documents
from rag.db.migrations import MIGRATIONS, applied_migrations, migrate
from rag.errors import NotFound
from rag.models import ChunkDraft, LoadedDocument, Section

PARAGRAPHS = [
    f"Paragraph {i} talks about topic number {i} with some distinct words like word{i}x." for i in range(40)
]


def _counts(engine) -> tuple[int, int, int]:
    """(documents, chunks, lexeme_stats rows) in the engine's collection (0s when it does not exist)."""
    with engine.db.connection() as conn:
        return conn.execute(
            "SELECT (SELECT count(*) FROM documents d JOIN collections c ON c.id = d.collection_id WHERE c.name = %(n)s),"
            " (SELECT count(*) FROM chunks ch JOIN collections c ON c.id = ch.collection_id WHERE c.name = %(n)s),"
            " (SELECT count(*) FROM lexeme_stats s JOIN collections c ON c.id = s.collection_id WHERE c.name = %(n)s)",
            {"n": engine.settings.collection},
        ).fetchone()


def test_new_unchanged_replaced_and_delete_cascade(engine):
    ingestor = engine.ingestor()
    text = "\n\n".join(PARAGRAPHS)
    [first] = ingestor.ingest_bytes(text.encode(), "notes.txt")
    assert first.status == "new" and first.chunks > 3 and first.embedded == first.chunks

    [again] = engine.ingestor().ingest_bytes(text.encode(), "notes.txt")
    assert again.status == "unchanged" and again.embedded == 0 and again.document_id == first.document_id

    changed = "\n\n".join(PARAGRAPHS[:-1] + ["A completely new closing paragraph about zebras."])
    [replaced] = engine.ingestor().ingest_bytes(changed.encode(), "notes.txt")
    assert replaced.status == "replaced"
    # Only the chunk(s) touching the changed tail are embedded again; the rest reuse vectors by sha256.
    assert 0 < replaced.embedded < replaced.chunks
    with pytest.raises(NotFound):
        engine.chunks(first.document_id)
    docs = engine.documents()
    assert [d.id for d in docs] == [replaced.document_id]
    assert_bm25_statistics_match_recount(engine)
    with engine.db.connection() as conn:
        assert (
            conn.execute(
                "SELECT count(*) FROM lexeme_stats WHERE lexeme = 'word39x' AND doc_freq > 0 AND collection_id = %(c)s",
                {"c": engine.collection().id},
            ).fetchone()[0]
            == 0
        )

    assert engine.delete_documents([replaced.document_id]) == 1
    assert _counts(engine) == (0, 0, 0)
    assert_bm25_statistics_match_recount(engine)


def test_multi_page_pdf_keeps_pages(engine):
    pdf = make_pdf(
        [
            "The first page is about apples. " * 20,
            "The second page is about volcanoes. " * 20,
            "The third page is about submarines. " * 20,
        ]
    )
    [result] = engine.ingestor().ingest_bytes(pdf, "three.pdf")
    assert result.status == "new"
    chunks = engine.chunks(result.document_id)
    pages = {(c.page_start, c.page_end) for c in chunks}
    assert any(start == 3 for start, _ in pages) and all(start == end for start, end in pages)
    volcano = [c for c in chunks if "volcanoes" in c.text]
    assert volcano and all(c.page_start <= 2 <= c.page_end for c in volcano)
    assert all(c.token_count <= 128 for c in chunks)  # the test settings' chunk_size


@pytest.mark.parametrize(
    ("filename", "data", "message"),
    [
        ("empty.txt", b"", "empty"),
        ("binary.txt", bytes(range(256)) * 8, "binary"),
        ("corrupt.pdf", b"%PDF-1.4\n1 0 obj <<>> garbage", ""),
        ("locked.pdf", None, "password"),
        ("scan.pdf", None, "no extractable text; the pages have no text layer and no images"),
        ("slides.pptx", b"PK\x03\x04whatever", "cannot be read as PPTX"),
        ("slides.key", b"PK\x03\x04whatever", "supported"),
    ],
)
def test_bad_input_fails_cleanly_and_leaves_no_rows(engine, filename, data, message):
    if filename == "locked.pdf":
        data = make_encrypted_pdf()
    if filename == "scan.pdf":
        data = make_blank_pdf()
    engine.ingestor().ingest_bytes(b"a good document about lighthouses", "good.txt")
    before = _counts(engine)
    [result] = engine.ingestor().ingest_bytes(data, filename)
    assert result.status == "failed"
    assert message.lower() in (result.error or "").lower()
    assert _counts(engine) == before


def test_oversize_file_rejected(engine, tmp_path):
    from rag.loaders import LoadOptions

    big = tmp_path / "big.txt"
    big.write_bytes(b"word " * 300_000)
    results = list(engine.ingestor(load_options=LoadOptions(max_file_bytes=1_000_000)).ingest_paths([big]))
    assert [r.status for r in results] == ["failed"]
    assert "MiB" in results[0].error
    assert _counts(engine) == (0, 0, 0)


def test_folder_ingest_reports_each_file_and_stores_the_good_ones(engine, tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.md").write_text("# Title A\n\nSome text about owls.\n")
    (tmp_path / "sub" / "b.txt").write_text("Text about penguins.")
    (tmp_path / "sub" / "c.xyz").write_text("unsupported")
    results = {r.source_name: r.status for r in engine.ingestor().ingest_paths([tmp_path])}
    assert results == {"a.md": "new", "b.txt": "new", "c.xyz": "failed"}
    assert _counts(engine)[0] == 2


def test_jsonl_beir_documents_keep_external_ids(engine, tmp_path):
    path = tmp_path / "corpus.jsonl"
    path.write_text(
        '{"_id": "d1", "title": "Owls", "text": "Owls hunt at night."}\n'
        '{"_id": "d2", "title": "Bees", "text": "Bees make honey."}\n'
    )
    results = list(engine.ingestor().ingest_paths([path]))
    assert [r.status for r in results] == ["new", "new"]
    assert {d.external_id for d in engine.documents()} == {"d1", "d2"}
    assert [r.status for r in engine.ingestor().ingest_paths([path])] == ["unchanged", "unchanged"]


def test_failed_write_leaves_nothing_behind(engine, embedder):
    collection = engine.ensure_collection()
    doc = LoadedDocument(
        title="t",
        source_name="x.txt",
        media_type="text/plain",
        sections=(Section("hello"),),
        content_sha256="ab" * 32,
        size_bytes=5,
    )
    chunk = ChunkDraft(0, "hello", "t\n", None, None, (), 0, 5, 4, "cd" * 32)
    # A 3-dimensional vector under the 384-d model's partial HNSW index fails inside the transaction,
    # after the document row was inserted.
    bad = PreparedDocument(doc, [chunk], np.ones((1, 3), dtype=np.float32))
    with engine.db.connection() as conn:
        from rag.db.collections import ensure_vector_index

        ensure_vector_index(conn, embedder.name, embedder.dimension)
        with pytest.raises(psycopg.Error):
            write_documents(conn, collection, [bad], embedder.name)
    assert _counts(engine) == (0, 0, 0)


def test_migrations_on_empty_and_existing_database(database):
    with database.pool.connection() as admin:  # the connecting superuser, not the app's role
        admin.autocommit = True
        for name in ("mig_empty", "mig_existing"):
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        base = admin.info.dsn
    with psycopg.connect(base.replace("dbname=postgres", "dbname=mig_empty"), autocommit=True) as conn:
        assert applied_migrations(conn) == []
        assert migrate(conn) == [m.name for m in MIGRATIONS]
        assert migrate(conn) == []
        assert [name for _, name in applied_migrations(conn)] == [m.name for m in MIGRATIONS]
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        assert {"collections", "documents", "chunks", "lexeme_stats", "conversations", "messages"} <= tables
    with psycopg.connect(base.replace("dbname=postgres", "dbname=mig_existing"), autocommit=True) as conn:
        assert migrate(conn, MIGRATIONS[:1]) == [MIGRATIONS[0].name]
        conn.execute("INSERT INTO collections (name) VALUES ('kept')")
        assert migrate(conn) == [m.name for m in MIGRATIONS[1:]]
        assert conn.execute("SELECT name FROM collections").fetchall() == [("kept",)]
