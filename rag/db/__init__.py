"""The database layer: the only code that issues SQL or touches the connection pool.

Modules (each holds its SQL as module-level constants with named parameters, and typed rows):
    database: :class:`Database`, the embedded PostgreSQL or ``DATABASE_URL``, and the pool.
    migrations: ordered schema migrations recorded in ``schema_migrations``.
    collections: collections, their settings, writer locks and HNSW indexes.
    documents: writing documents and chunks (binary COPY, BM25 statistics), deleting, ANALYZE.
    embeddings: reusing stored vectors, the model check, re-embedding.
    search: BM25 and HNSW queries, passages of retrieved chunks.
    listing: documents, chunks and status for display.
    conversations: conversations and stored chat turns.
    runs: stored evaluation runs.
"""

from rag.db.database import Database

__all__ = ["Database"]
