"""Ordered, named schema migrations, recorded in ``schema_migrations``.

Each migration runs in its own transaction under an advisory lock, so two processes starting at once
(the Streamlit app and the CLI) never apply one twice. Pattern after simonw/llm
``embeddings_migrations.py``: append new migrations, never edit an applied one.

Design notes:
- ``chunks.embedding`` is an untyped ``vector`` so several embedding models (of different dimensions)
  can coexist; each model gets a partial HNSW expression index
  ``((embedding::vector(d))) WHERE embedding_model = <name>`` created on first use
  (``rag.db.collections.ensure_vector_index``).
- Lexical retrieval is Okapi BM25 computed in SQL: ``chunks.lexemes`` (tsvector, GIN-indexed) finds
  candidates and gives term frequencies (positions per lexeme), ``chunks.lexeme_count`` is the
  document length, and ``lexeme_stats`` / ``collections.chunk_count`` / ``collections.lexeme_total``
  hold document frequencies, N and the average length, maintained in the same transaction as every
  chunk insert or delete (``rag.db.documents``) and read by the BM25 query in ``rag.db.search``.
  ``postings`` (migration 5) holds one row per (chunk, lexeme) with its tf and BM25 impact, B-tree
  ordered by impact per term, so a query reads each term's best postings (``rag.db.postings``).
- ``document_originals`` (migration 7) keeps each whole-file document's bytes, written with the
  document and deleted with it (``rag.db.originals``).
- ``ingest_jobs`` / ``ingest_job_inputs`` and procrastinate's queue tables (migration 8,
  ``rag.db.jobs_schema``) carry background ingestion.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg

from rag.db.access_schema import USERS_AND_ROW_LEVEL_SECURITY
from rag.db.jobs_schema import JOBS_SCHEMA
from rag.db.originals import DOCUMENT_ORIGINALS

# Any constant works; it only has to be the same in every process of this app.
_MIGRATION_LOCK_KEY = 7_273_012_201


@dataclass(frozen=True)
class Migration:
    """One schema step: ``id`` orders them, ``name`` documents them, ``sql`` is run as one script."""

    id: int
    name: str
    sql: str


MIGRATIONS: Sequence[Migration] = (
    Migration(
        1,
        "documents_and_chunks",
        """
        CREATE EXTENSION IF NOT EXISTS vector;

        CREATE TABLE collections (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            name text NOT NULL UNIQUE,
            text_search_config regconfig NOT NULL DEFAULT 'english',
            settings jsonb NOT NULL DEFAULT '{}'::jsonb,
            chunk_count bigint NOT NULL DEFAULT 0 CHECK (chunk_count >= 0),
            lexeme_total bigint NOT NULL DEFAULT 0 CHECK (lexeme_total >= 0),
            created_at timestamptz NOT NULL DEFAULT now()
        );

        CREATE TABLE documents (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            collection_id bigint NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
            title text NOT NULL,
            source_name text NOT NULL,
            media_type text NOT NULL,
            size_bytes bigint NOT NULL CHECK (size_bytes >= 0),
            sha256 text NOT NULL,
            external_id text,
            metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
            page_count integer,
            status text NOT NULL DEFAULT 'ready' CHECK (status IN ('ready', 'stale_embeddings')),
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            UNIQUE (collection_id, sha256),
            UNIQUE (collection_id, source_name)
        );
        CREATE INDEX documents_external_id_idx ON documents (collection_id, external_id);
        CREATE INDEX documents_media_type_idx ON documents (collection_id, media_type);
        CREATE INDEX documents_metadata_idx ON documents USING gin (metadata jsonb_path_ops);

        CREATE TABLE chunks (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            document_id bigint NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
            collection_id bigint NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
            ordinal integer NOT NULL,
            text text NOT NULL,
            context text NOT NULL DEFAULT '',
            page_start integer,
            page_end integer,
            heading_path text[] NOT NULL DEFAULT '{}',
            char_start integer NOT NULL,
            char_end integer NOT NULL,
            token_count integer NOT NULL,
            sha256 text NOT NULL,
            embedding vector,
            embedding_model text,
            lexemes tsvector NOT NULL,
            lexeme_count integer NOT NULL,
            UNIQUE (document_id, ordinal)
        );
        CREATE INDEX chunks_lexemes_idx ON chunks USING gin (lexemes);
        CREATE INDEX chunks_collection_model_idx ON chunks (collection_id, embedding_model);
        CREATE INDEX chunks_sha256_idx ON chunks (sha256);

        -- BM25 document frequency of each lexeme per collection.
        CREATE TABLE lexeme_stats (
            collection_id bigint NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
            lexeme text NOT NULL,
            doc_freq bigint NOT NULL CHECK (doc_freq >= 0),
            PRIMARY KEY (collection_id, lexeme)
        );
        """,
    ),
    Migration(
        2,
        "conversations_and_messages",
        """
        CREATE TABLE conversations (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            title text NOT NULL,
            collection_id bigint REFERENCES collections (id) ON DELETE SET NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX conversations_updated_idx ON conversations (updated_at DESC);

        -- One row per chat turn; assistant rows keep the answer's citations and its full trace
        -- (retrieval candidates, timings, exact LLM messages, tokens, cost) for the Inspector.
        CREATE TABLE messages (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            conversation_id bigint NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
            role text NOT NULL CHECK (role IN ('user', 'assistant')),
            content text NOT NULL,
            citations jsonb NOT NULL DEFAULT '[]'::jsonb,
            trace jsonb,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX messages_conversation_idx ON messages (conversation_id, id);
        """,
    ),
    Migration(
        3,
        "evaluation_runs",
        """
        -- One row per evaluated mode: the full configuration snapshot and the metrics, so any two
        -- runs can be compared (rag eval compare) and per-query results drilled into.
        CREATE TABLE eval_runs (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            kind text NOT NULL CHECK (kind IN ('retrieval', 'answers')),
            dataset text NOT NULL,
            split text NOT NULL,
            mode text NOT NULL,
            collection text NOT NULL,
            config jsonb NOT NULL,
            metrics jsonb NOT NULL,
            per_query jsonb NOT NULL DEFAULT '{}'::jsonb,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX eval_runs_created_idx ON eval_runs (created_at DESC);
        """,
    ),
    Migration(
        4,
        "installation_preferences",
        """
        -- Choices made in the app for the whole installation (e.g. the LLM picked on the Settings
        -- page), so every browser session and the CLI use them after a restart.
        CREATE TABLE preferences (
            key text PRIMARY KEY,
            value jsonb NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        """,
    ),
    Migration(
        5,
        "impact_ordered_postings",
        """
        -- One row per (chunk, lexeme): the posting list of BM25 in a B-tree, so a query reads the
        -- highest-impact postings of each term instead of every chunk that contains it
        -- (rag.db.postings). impact is the BM25 term-frequency factor computed with the collection's
        -- impact_avgdl; it only orders a term's postings, scores are computed exactly from tf.
        -- No foreign key: its per-row check cost a third of a bulk write; rag.db.documents deletes
        -- a chunk's postings in the transaction that deletes the chunk.
        CREATE TABLE postings (
            chunk_id bigint NOT NULL,
            collection_id bigint NOT NULL,
            impact real NOT NULL,
            tf smallint NOT NULL CHECK (tf > 0),
            lexeme text NOT NULL,
            PRIMARY KEY (chunk_id, lexeme)
        );
        CREATE INDEX postings_impact_idx ON postings (collection_id, lexeme, impact DESC, chunk_id);

        -- The average chunk length (lexemes) the stored impacts were computed with.
        ALTER TABLE collections ADD COLUMN impact_avgdl double precision;
        UPDATE collections SET impact_avgdl = greatest(lexeme_total::float8 / chunk_count, 1.0)
        WHERE chunk_count > 0;

        INSERT INTO postings (chunk_id, collection_id, impact, tf, lexeme)
        SELECT c.id, c.collection_id,
               t.tf * (0.9 + 1.0) / (t.tf + 0.9 * (1.0 - 0.4 + 0.4 * c.lexeme_count / col.impact_avgdl)),
               t.tf, u.lexeme
        FROM chunks c
        JOIN collections col ON col.id = c.collection_id
        CROSS JOIN LATERAL unnest(c.lexemes) u
        CROSS JOIN LATERAL (SELECT coalesce(cardinality(u.positions), 1) AS tf) t;
        """,
    ),
    Migration(6, "users_and_row_level_security", USERS_AND_ROW_LEVEL_SECURITY),
    Migration(7, "document_originals", DOCUMENT_ORIGINALS),
    Migration(8, "ingest_jobs_and_procrastinate", JOBS_SCHEMA),
)


def applied_migrations(conn: psycopg.Connection) -> list[tuple[int, str]]:
    """Return ``(id, name)`` of the migrations recorded in the database, in order.

    An empty list for a database that was never migrated.
    """
    exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return []
    return [(row[0], row[1]) for row in conn.execute("SELECT id, name FROM schema_migrations ORDER BY id")]


@contextmanager
def migration_lock(conn: psycopg.Connection) -> Iterator[None]:
    """Hold the schema lock (a session advisory lock) on ``conn`` for the ``with`` block.

    Every schema change of this app (``CREATE EXTENSION``, the migrations) runs under it, so several
    processes starting at once on a fresh database never race on one DDL statement.

    Args:
        conn: An autocommit connection.
    """
    conn.execute("SELECT pg_advisory_lock(%(key)s)", {"key": _MIGRATION_LOCK_KEY})
    try:
        yield
    finally:
        conn.execute("SELECT pg_advisory_unlock(%(key)s)", {"key": _MIGRATION_LOCK_KEY})


def migrate(conn: psycopg.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> list[str]:
    """Apply the migrations that are not recorded yet, each in its own transaction.

    Args:
        conn: An autocommit connection (transactions are opened here).
        migrations: Ordered migrations; ``MIGRATIONS`` by default.

    Returns:
        Names of the migrations applied now (empty when the schema is current).

    Raises:
        psycopg.Error: a migration failed; it is rolled back and the error propagates.
    """
    applied_now: list[str] = []
    with migration_lock(conn):
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " id integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {migration_id for migration_id, _ in applied_migrations(conn)}
        for migration in sorted(migrations, key=lambda m: m.id):
            if migration.id in done:
                continue
            with conn.transaction():
                conn.execute(migration.sql.encode())  # our own constant DDL, run as one script
                conn.execute(
                    "INSERT INTO schema_migrations (id, name) VALUES (%(id)s, %(name)s)",
                    {"id": migration.id, "name": migration.name},
                )
            applied_now.append(migration.name)
    return applied_now
