"""Writes of documents and their chunks, and the dedup lookup before them (raw SQL, psycopg 3).

Write path (pgvector-python ``examples/loading``): chunks go into a session temp table by binary
COPY, then one ``INSERT ... SELECT`` computes each chunk's ``tsvector`` with the collection's
text-search configuration, and the BM25 statistics (``lexeme_stats``, ``collections.chunk_count``,
``collections.lexeme_total``) and the impact-ordered posting rows (``rag.db.postings``) are updated in
the same transaction. Writers to one collection are
serialised by a transaction-level advisory lock so BM25 statistics never race.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import psycopg
from psycopg.types.json import Jsonb

from rag.db.collections import Collection, lock_collection
from rag.db.originals import INSERT_ORIGINAL
from rag.db.postings import add_postings, delete_postings
from rag.models import ChunkDraft, LoadedDocument


@dataclass(frozen=True)
class PreparedDocument:
    """A document ready to write: its chunks and one embedding per chunk.

    Attributes:
        document: The loaded document.
        chunks: Its chunks, ordinals 0..n-1.
        embeddings: ``(n, d)`` float32, L2-normalised, row i for chunk i.
        replaces_id: Id of the older version (same source name) to delete in the same transaction.
        embedded: How many of the chunks were embedded now (the rest reused stored vectors).
    """

    document: LoadedDocument
    chunks: Sequence[ChunkDraft]
    embeddings: np.ndarray
    replaces_id: int | None = None
    embedded: int = 0


FIND_EXISTING = """
SELECT id, source_name, sha256 FROM documents
WHERE collection_id = %(collection_id)s AND (sha256 = ANY(%(shas)s) OR source_name = ANY(%(names)s))
"""


def find_existing(
    conn: psycopg.Connection, collection_id: int, documents: Sequence[LoadedDocument]
) -> tuple[dict[str, int], dict[str, tuple[int, str]]]:
    """Look up stored documents with the same bytes or the same source name.

    Returns:
        ``(by_sha, by_name)``: sha256 -> document id, and source name -> (document id, sha256).
    """
    rows = conn.execute(
        FIND_EXISTING,
        {
            "collection_id": collection_id,
            "shas": [d.content_sha256 for d in documents],
            "names": [d.source_name for d in documents],
        },
    ).fetchall()
    by_sha = {sha: doc_id for doc_id, _, sha in rows}
    by_name = {name: (doc_id, sha) for doc_id, name, sha in rows}
    return by_sha, by_name


_CREATE_STAGING = """
CREATE TEMP TABLE IF NOT EXISTS chunk_staging (
    doc_index integer, ordinal integer, text text, context text, page_start integer, page_end integer,
    heading_path text[], char_start integer, char_end integer, token_count integer, sha256 text,
    embedding vector
) ON COMMIT DELETE ROWS
"""
_COPY_STAGING = (
    "COPY chunk_staging (doc_index, ordinal, text, context, page_start, page_end, heading_path, char_start,"
    " char_end, token_count, sha256, embedding) FROM STDIN WITH (FORMAT BINARY)"
)
_STAGING_TYPES = [
    "int4",
    "int4",
    "text",
    "text",
    "int4",
    "int4",
    "text[]",
    "int4",
    "int4",
    "int4",
    "text",
    "vector",
]

INSERT_DOCUMENT = """
INSERT INTO documents (collection_id, title, source_name, media_type, size_bytes, sha256, external_id,
                       metadata, page_count)
VALUES (%(collection_id)s, %(title)s, %(source_name)s, %(media_type)s, %(size_bytes)s, %(sha256)s,
        %(external_id)s, %(metadata)s, %(page_count)s)
RETURNING id
"""

INSERT_CHUNKS_FROM_STAGING = """
INSERT INTO chunks (document_id, collection_id, ordinal, text, context, page_start, page_end, heading_path,
                    char_start, char_end, token_count, sha256, embedding, embedding_model, lexemes, lexeme_count)
SELECT d.id, %(collection_id)s, s.ordinal, s.text, s.context, s.page_start, s.page_end, s.heading_path,
       s.char_start, s.char_end, s.token_count, s.sha256, s.embedding, %(model)s, ts.lexemes,
       (SELECT coalesce(sum(coalesce(cardinality(u.positions), 1)), 0) FROM unnest(ts.lexemes) u)
FROM chunk_staging s
JOIN unnest(%(document_ids)s::bigint[]) WITH ORDINALITY AS d(id, doc_index) ON d.doc_index = s.doc_index + 1
CROSS JOIN LATERAL (SELECT to_tsvector(%(config)s::regconfig, s.context || s.text) AS lexemes) ts
ORDER BY d.id, s.ordinal
"""

ADD_LEXEME_STATS = """
INSERT INTO lexeme_stats (collection_id, lexeme, doc_freq)
SELECT %(collection_id)s, u.lexeme, count(*)
FROM chunks c CROSS JOIN LATERAL unnest(c.lexemes) u
WHERE c.document_id = ANY(%(document_ids)s)
GROUP BY u.lexeme
ON CONFLICT (collection_id, lexeme) DO UPDATE SET doc_freq = lexeme_stats.doc_freq + EXCLUDED.doc_freq
"""

ADD_COLLECTION_TOTALS = """
UPDATE collections SET
    chunk_count = chunk_count + t.n * %(sign)s,
    lexeme_total = lexeme_total + t.total * %(sign)s
FROM (SELECT count(*) AS n, coalesce(sum(lexeme_count), 0) AS total
      FROM chunks WHERE document_id = ANY(%(document_ids)s)) t
WHERE collections.id = %(collection_id)s
"""

SUBTRACT_LEXEME_STATS = """
UPDATE lexeme_stats s SET doc_freq = s.doc_freq - gone.n
FROM (SELECT u.lexeme, count(*) AS n
      FROM chunks c CROSS JOIN LATERAL unnest(c.lexemes) u
      WHERE c.document_id = ANY(%(document_ids)s)
      GROUP BY u.lexeme) gone
WHERE s.collection_id = %(collection_id)s AND s.lexeme = gone.lexeme
"""


def _delete_documents_in_tx(conn: psycopg.Connection, collection_id: int, document_ids: list[int]) -> int:
    """Subtract the documents' BM25 statistics and postings, then delete them (chunks cascade)."""
    params = {"collection_id": collection_id, "document_ids": document_ids}
    delete_postings(conn, collection_id, document_ids)
    conn.execute(SUBTRACT_LEXEME_STATS, params)
    conn.execute(ADD_COLLECTION_TOTALS, {**params, "sign": -1})
    conn.execute("DELETE FROM lexeme_stats WHERE collection_id = %(collection_id)s AND doc_freq <= 0", params)
    cur = conn.execute(
        "DELETE FROM documents WHERE collection_id = %(collection_id)s AND id = ANY(%(document_ids)s)", params
    )
    return cur.rowcount


def write_documents(
    conn: psycopg.Connection, collection: Collection, items: Sequence[PreparedDocument], model: str
) -> list[int]:
    """Store documents with their chunks and embeddings in ONE transaction.

    Older versions named by ``replaces_id`` are deleted in the same transaction, and each document's
    ``original`` bytes (when it has them) are stored in ``document_originals`` in it too
    (:mod:`rag.db.originals`), so a failure leaves the database exactly as it was.

    Args:
        conn: A connection not inside a transaction.
        collection: Target collection.
        items: Documents to write; ``embeddings`` row count must equal the chunk count.
        model: Embedding model name stored on every chunk.

    Returns:
        The new document ids, in ``items`` order.

    Raises:
        ValueError: an item's embeddings do not match its chunks.
        psycopg.Error: any database error (the transaction is rolled back).
    """
    for item in items:
        if len(item.chunks) != item.embeddings.shape[0]:
            raise ValueError(
                f"{item.document.source_name}: {len(item.chunks)} chunks but {item.embeddings.shape[0]} embeddings"
            )
    with conn.transaction():
        lock_collection(conn, collection.id)
        replaced = [item.replaces_id for item in items if item.replaces_id is not None]
        if replaced:
            _delete_documents_in_tx(conn, collection.id, replaced)
        # One pipelined round trip for all documents (an INSERT per document cost 18 ms each on a
        # loaded machine, more than the chunks' COPY); RETURNING gives one result set per row.
        cursor = conn.cursor()
        cursor.executemany(
            INSERT_DOCUMENT,
            [
                {
                    "collection_id": collection.id,
                    "title": item.document.title,
                    "source_name": item.document.source_name,
                    "media_type": item.document.media_type,
                    "size_bytes": item.document.size_bytes,
                    "sha256": item.document.content_sha256,
                    "external_id": item.document.external_id,
                    "metadata": Jsonb(item.document.metadata),
                    "page_count": item.document.page_count,
                }
                for item in items
            ],
            returning=True,
        )
        document_ids: list[int] = []
        while True:
            row = cursor.fetchone()
            assert row is not None
            document_ids.append(row[0])
            if not cursor.nextset():
                break
        # The originals in the same transaction: a document is never stored without its file.
        # Pipelined like the documents; the bytes are sent as binary, never as hex text.
        originals = [(item, doc_id) for item, doc_id in zip(items, document_ids, strict=True)]
        if any(item.document.original is not None for item, _ in originals):
            conn.cursor().executemany(
                INSERT_ORIGINAL,
                (
                    {
                        "document_id": doc_id,
                        "media_type": item.document.media_type,
                        "size_bytes": len(item.document.original),
                        "sha256": item.document.content_sha256,
                        "data": item.document.original,
                    }
                    for item, doc_id in originals
                    if item.document.original is not None
                ),
            )
        conn.execute(_CREATE_STAGING)
        with conn.cursor().copy(_COPY_STAGING) as copy:
            copy.set_types(_STAGING_TYPES)
            for doc_index, item in enumerate(items):
                for chunk, vector in zip(item.chunks, item.embeddings, strict=True):
                    copy.write_row(
                        (
                            doc_index,
                            chunk.ordinal,
                            chunk.text,
                            chunk.context,
                            chunk.page_start,
                            chunk.page_end,
                            list(chunk.heading_path),
                            chunk.char_start,
                            chunk.char_end,
                            chunk.token_count,
                            chunk.sha256,
                            vector,
                        )
                    )
        params = {
            "collection_id": collection.id,
            "document_ids": document_ids,
            "model": model,
            "config": collection.text_search_config,
        }
        conn.execute(INSERT_CHUNKS_FROM_STAGING, params)
        conn.execute(ADD_LEXEME_STATS, params)
        conn.execute(ADD_COLLECTION_TOTALS, {**params, "sign": 1})
        add_postings(conn, collection.id, document_ids)
    return document_ids


def delete_documents(conn: psycopg.Connection, collection: Collection, document_ids: Sequence[int]) -> int:
    """Delete documents (and, by cascade, their chunks) and update BM25 statistics, atomically.

    Returns:
        How many documents were deleted (ids of other collections are ignored).
    """
    with conn.transaction():
        lock_collection(conn, collection.id)
        return _delete_documents_in_tx(conn, collection.id, list(document_ids))


ANALYZE_TABLES = "ANALYZE chunks, documents, lexeme_stats, postings"


def analyze(conn: psycopg.Connection) -> None:
    """Refresh the planner statistics of the tables a bulk load changed.

    Without it a fresh collection is planned from empty-table estimates and BM25 / HNSW queries may
    take a sequential scan (pgvector-python ``examples/loading/example.py`` runs ANALYZE after COPY).
    """
    conn.execute(ANALYZE_TABLES)
