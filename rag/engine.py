"""The engine: one object the CLI and the Streamlit pages call (no SQL or model code outside ``rag``).

It owns the database pool and lazily loads the embedder and the reranker once per process.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np

from rag.config import Settings
from rag.db import Database
from rag.embedding import Embedder, load_embedder
from rag.errors import NotFound
from rag.ingest import Ingestor, ProgressCallback
from rag.loaders import LoadOptions
from rag.rerank import Reranker, RerankerStatus, load_reranker
from rag.retrieval import RetrievalTrace, SearchParams, retrieve
from rag.store import (
    Collection,
    delete_documents,
    ensure_collection,
    ensure_vector_index,
    get_collection,
    reusable_embeddings,
)


@dataclass(frozen=True)
class DocumentInfo:
    """A stored document with its counts (a row of ``rag docs`` and the Corpus page)."""

    id: int
    collection: str
    title: str
    source_name: str
    media_type: str
    size_bytes: int
    page_count: int | None
    chunk_count: int
    embedding_models: tuple[str, ...]
    external_id: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ChunkInfo:
    """A stored chunk for display."""

    id: int
    ordinal: int
    text: str
    page_start: int | None
    page_end: int | None
    heading_path: tuple[str, ...]
    token_count: int
    char_start: int
    char_end: int
    embedding_model: str | None


@dataclass(frozen=True)
class DatabaseStatus:
    """What ``rag db`` prints: where the data is and how much there is."""

    location: str
    embedded: bool
    server_version: str
    pgvector_version: str
    collections: int
    documents: int
    chunks: int
    chunks_by_model: dict[str, int]
    migrations: list[str]


@dataclass(frozen=True)
class ReembedReport:
    """Outcome of ``reembed``: chunks re-embedded and chunks whose vector was reused by sha256."""

    collection: str
    model: str
    stale_chunks: int
    embedded: int
    reused: int


class Engine:
    """Entry point of the engine.

    Args:
        settings: Configuration (``Settings.from_env()`` by default).
        db: An open database; opened from ``settings`` when omitted (started lazily on first use).

    Raises:
        DatabaseError: on first use, when the database cannot be opened.
    """

    def __init__(self, settings: Settings | None = None, db: Database | None = None) -> None:
        self.settings = settings or Settings.from_env()
        self._db = db
        self._lock = threading.RLock()
        self._embedder: Embedder | None = None
        self._reranker: Reranker | None = None
        self._reranker_status: RerankerStatus | None = None

    # -- resources --------------------------------------------------------------------------------

    @property
    def db(self) -> Database:
        """The open database (started on first access)."""
        with self._lock:
            if self._db is None:
                self._db = Database.open(self.settings)
            return self._db

    @property
    def embedder(self) -> Embedder:
        """The configured embedding model, loaded once.

        Raises:
            ModelNotAvailable: the model is not installed locally.
        """
        with self._lock:
            if self._embedder is None:
                self._embedder = load_embedder(self.settings.embedding_model)
            return self._embedder

    def reranker(self) -> tuple[Reranker | None, RerankerStatus]:
        """The cross-encoder (or None) and its status, loaded once."""
        with self._lock:
            if self._reranker_status is None:
                self._reranker, self._reranker_status = load_reranker(self.settings.reranker_model)
            return self._reranker, self._reranker_status

    def close(self) -> None:
        """Close the pool (the embedded server stops when its last user exits)."""
        if self._db is not None:
            self._db.close()
            self._db = None

    # -- collections & documents ------------------------------------------------------------------

    def collection(self, name: str | None = None) -> Collection:
        """Return a collection (``settings.collection`` by default).

        Raises:
            NotFound: it does not exist yet.
        """
        with self.db.pool.connection() as conn:
            return get_collection(conn, name or self.settings.collection)

    def ensure_collection(self, name: str | None = None, text_search_config: str = "english") -> Collection:
        """Return the collection, creating it when missing."""
        with self.db.pool.connection() as conn:
            return ensure_collection(conn, name or self.settings.collection, text_search_config)

    def collections(self) -> list[str]:
        """Names of all collections."""
        with self.db.pool.connection() as conn:
            return [r[0] for r in conn.execute("SELECT name FROM collections ORDER BY name")]

    def ingestor(
        self,
        collection: str | None = None,
        *,
        load_options: LoadOptions | None = None,
        on_progress: ProgressCallback | None = None,
        chunk_size: int | None = None,
        chunk_overlap: int | None = None,
        text_search_config: str = "english",
    ) -> Ingestor:
        """An :class:`Ingestor` for a collection with the configured model and chunking."""
        settings = self.settings
        if chunk_size is not None or chunk_overlap is not None:
            settings = settings.with_(
                chunk_size=chunk_size if chunk_size is not None else settings.chunk_size,
                chunk_overlap=chunk_overlap if chunk_overlap is not None else settings.chunk_overlap,
            )
        return Ingestor(
            self.db,
            self.embedder,
            collection or settings.collection,
            chunk_size=settings.chunk_size,
            chunk_overlap=settings.chunk_overlap,
            load_options=load_options or LoadOptions(max_file_bytes=settings.max_file_bytes),
            on_progress=on_progress,
            text_search_config=text_search_config,
            embedding_batch_size=settings.embedding_batch_size,
        )

    def documents(self, collection: str | None = None, search: str | None = None) -> list[DocumentInfo]:
        """Documents of a collection with chunk counts, newest first; ``search`` filters title/source."""
        with self.db.pool.connection() as conn:
            rows = conn.execute(
                """
                SELECT d.id, c.name, d.title, d.source_name, d.media_type, d.size_bytes, d.page_count,
                       count(ch.id), coalesce(array_agg(DISTINCT ch.embedding_model)
                                              FILTER (WHERE ch.embedding_model IS NOT NULL), '{}'),
                       d.external_id, d.created_at, d.updated_at
                FROM documents d JOIN collections c ON c.id = d.collection_id
                LEFT JOIN chunks ch ON ch.document_id = d.id
                WHERE c.name = %(collection)s
                  AND (%(search)s::text IS NULL OR d.title ILIKE '%%' || %(search)s || '%%'
                       OR d.source_name ILIKE '%%' || %(search)s || '%%')
                GROUP BY d.id, c.name ORDER BY d.created_at DESC, d.id DESC
                """,
                {"collection": collection or self.settings.collection, "search": search or None},
            ).fetchall()
        return [DocumentInfo(*r[:8], tuple(r[8]), *r[9:]) for r in rows]

    def chunks(self, document_id: int) -> list[ChunkInfo]:
        """Chunks of one document in order.

        Raises:
            NotFound: no such document.
        """
        with self.db.pool.connection() as conn:
            rows = conn.execute(
                "SELECT id, ordinal, text, page_start, page_end, heading_path, token_count, char_start, char_end,"
                " embedding_model FROM chunks WHERE document_id = %(id)s ORDER BY ordinal",
                {"id": document_id},
            ).fetchall()
            if (
                not rows
                and conn.execute("SELECT 1 FROM documents WHERE id = %(id)s", {"id": document_id}).fetchone()
                is None
            ):
                raise NotFound(f"document {document_id} does not exist")
        return [
            ChunkInfo(r[0], r[1], r[2], r[3], r[4], tuple(r[5] or ()), r[6], r[7], r[8], r[9]) for r in rows
        ]

    def chunk_token_counts(self, collection: str | None = None) -> list[int]:
        """Token count of every chunk in a collection (for the chunk length distribution), in one query."""
        with self.db.pool.connection() as conn:
            rows = conn.execute(
                "SELECT ch.token_count FROM chunks ch JOIN collections c ON c.id = ch.collection_id "
                "WHERE c.name = %(collection)s",
                {"collection": collection or self.settings.collection},
            ).fetchall()
        return [r[0] for r in rows]

    def delete_documents(self, document_ids: Sequence[int], collection: str | None = None) -> int:
        """Delete documents (chunks cascade; BM25 statistics updated). Returns how many were deleted."""
        target = self.collection(collection)
        with self.db.pool.connection() as conn:
            return delete_documents(conn, target, document_ids)

    def reembed(self, collection: str | None = None, batch_size: int = 256) -> ReembedReport:
        """Re-embed the chunks whose stored model differs from the configured one.

        Chunks are processed in batches, each committed on its own (so an interrupted run keeps its
        progress); vectors already stored for the same chunk sha256 by the configured model are reused.
        """
        target = self.collection(collection)
        embedder = self.embedder
        with self.db.pool.connection() as conn:
            ensure_vector_index(conn, embedder.name, embedder.dimension)
            stale = conn.execute(
                "SELECT count(*) FROM chunks WHERE collection_id = %(id)s AND embedding_model IS DISTINCT FROM %(m)s",
                {"id": target.id, "m": embedder.name},
            ).fetchone()[0]
        embedded = reused = 0
        while True:
            with self.db.pool.connection() as conn:
                rows = conn.execute(
                    "SELECT id, sha256, context || text FROM chunks WHERE collection_id = %(id)s "
                    "AND embedding_model IS DISTINCT FROM %(m)s ORDER BY id LIMIT %(n)s",
                    {"id": target.id, "m": embedder.name, "n": batch_size},
                ).fetchall()
                if not rows:
                    break
                known = reusable_embeddings(conn, [r[1] for r in rows], embedder.name)
                todo = {r[1]: r[2] for r in rows if r[1] not in known}
                if todo:
                    known.update(zip(todo, embedder.embed(list(todo.values())), strict=True))
                embedded += len(todo)
                reused += len(rows) - len(todo)
                with conn.transaction(), conn.cursor() as cur:
                    cur.executemany(
                        "UPDATE chunks SET embedding = %(e)s, embedding_model = %(m)s WHERE id = %(id)s",
                        [
                            {"e": np.asarray(known[r[1]], dtype=np.float32), "m": embedder.name, "id": r[0]}
                            for r in rows
                        ],
                    )
        return ReembedReport(target.name, embedder.name, int(stale), embedded, reused)

    def status(self) -> DatabaseStatus:
        """Where the database is, versions and counts."""
        db = self.db
        with db.pool.connection() as conn:
            server_version = conn.execute("SHOW server_version").fetchone()[0]
            pgvector = conn.execute(
                "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
            ).fetchone()[0]
            counts = conn.execute(
                "SELECT (SELECT count(*) FROM collections), (SELECT count(*) FROM documents), (SELECT count(*) FROM chunks)"
            ).fetchone()
            by_model = dict(
                conn.execute(
                    "SELECT coalesce(embedding_model, 'none'), count(*) FROM chunks GROUP BY 1 ORDER BY 1"
                ).fetchall()
            )
            migrations = [r[0] for r in conn.execute("SELECT name FROM schema_migrations ORDER BY id")]
        return DatabaseStatus(
            db.location, db.embedded, server_version, pgvector, *counts, by_model, migrations
        )

    # -- retrieval --------------------------------------------------------------------------------

    def default_params(self, **overrides: object) -> SearchParams:
        """SearchParams from the settings (``rerank`` when a reranker loads, else ``hybrid``)."""
        s = self.settings
        params = SearchParams(
            mode="rerank", k=s.top_k, candidates=s.candidates, rrf_k=float(s.rrf_k), k1=s.bm25_k1, b=s.bm25_b
        )
        return replace(params, **overrides)  # type: ignore[arg-type]

    def search(
        self, query: str, params: SearchParams | None = None, collection: str | None = None
    ) -> RetrievalTrace:
        """Retrieve passages for ``query``; returns the full trace (``trace.hits`` are the top-k).

        Raises:
            NotFound: the collection does not exist. ConfigError: bad parameters.
            EmbeddingModelMismatch: stored vectors come from another model.
        """
        [trace] = self.iter_search([query], params or self.default_params(), collection)
        return trace

    def _status_without_loading(self) -> RerankerStatus:
        if self._reranker_status is not None:
            return self._reranker_status
        return RerankerStatus(name=self.settings.reranker_model, available=False, reason="not requested")

    def iter_search(
        self, queries: Sequence[str], params: SearchParams, collection: str | None = None
    ) -> Iterator[RetrievalTrace]:
        """Run many queries on one connection (batch mode)."""
        target = self.collection(collection)
        reranker, status = (
            self.reranker() if params.mode == "rerank" else (None, self._status_without_loading())
        )
        with self.db.pool.connection() as conn:
            for query in queries:
                yield retrieve(conn, target, query, params, self.embedder, reranker, status)
