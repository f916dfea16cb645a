"""Collections: named document sets with their own BM25 statistics, settings and HNSW indexes.

Raw SQL with named parameters (psycopg 3); DDL identifiers are composed with ``psycopg.sql``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from rag.errors import ConfigError, NotFound

_COLLECTION_LOCK_NAMESPACE = 7_273_012_202
_INDEX_LOCK_KEY = 7_273_012_203


@dataclass(frozen=True)
class Collection:
    """A named set of documents with its own BM25 statistics and settings.

    Attributes:
        id, name: Identity.
        text_search_config: PostgreSQL text-search configuration used for BM25 (e.g. ``english``).
        settings: JSON settings (e.g. ``abstain_threshold`` written by calibration).
    """

    id: int
    name: str
    text_search_config: str
    settings: dict[str, Any]


GET_COLLECTION = "SELECT id, name, text_search_config::text, settings FROM collections WHERE name = %(name)s"
CREATE_COLLECTION = """
INSERT INTO collections (name, text_search_config) VALUES (%(name)s, %(config)s::regconfig)
ON CONFLICT (name) DO NOTHING
"""


def get_collection(conn: psycopg.Connection, name: str) -> Collection:
    """Return the collection called ``name``.

    Raises:
        NotFound: no such collection (the message lists how to create one: ingest into it).
    """
    row = conn.execute(GET_COLLECTION, {"name": name}).fetchone()
    if row is None:
        raise NotFound(f"collection {name!r} does not exist yet: ingest documents into it first")
    return Collection(id=row[0], name=row[1], text_search_config=row[2], settings=row[3])


def ensure_collection(conn: psycopg.Connection, name: str, text_search_config: str = "english") -> Collection:
    """Return the collection ``name``, creating it with ``text_search_config`` if missing.

    Raises:
        ConfigError: the name is empty or the text-search configuration does not exist.
    """
    if not name.strip():
        raise ConfigError("a collection name must not be empty")
    exists = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_ts_config WHERE cfgname = %(config)s)",
        {"config": text_search_config},
    ).fetchone()
    if not exists or not exists[0]:
        raise ConfigError(
            f"text-search configuration {text_search_config!r} does not exist: see `SELECT cfgname FROM pg_ts_config`"
        )
    conn.execute(CREATE_COLLECTION, {"name": name, "config": text_search_config})
    return get_collection(conn, name)


def list_collections(conn: psycopg.Connection) -> list[Collection]:
    """All collections, by name."""
    rows = conn.execute(
        "SELECT id, name, text_search_config::text, settings FROM collections ORDER BY name"
    ).fetchall()
    return [Collection(id=r[0], name=r[1], text_search_config=r[2], settings=r[3]) for r in rows]


def update_collection_settings(conn: psycopg.Connection, collection_id: int, changes: dict[str, Any]) -> None:
    """Merge ``changes`` into the collection's JSON settings (e.g. a calibrated abstention threshold)."""
    conn.execute(
        "UPDATE collections SET settings = settings || %(changes)s WHERE id = %(id)s",
        {"changes": Jsonb(changes), "id": collection_id},
    )


def vector_index_name(model: str) -> str:
    """Name of the partial HNSW index for ``model`` (stable, <= 63 bytes)."""
    return "chunks_hnsw_" + hashlib.sha1(model.encode()).hexdigest()[:16]


def ensure_vector_index(conn: psycopg.Connection, model: str, dimension: int) -> None:
    """Create the partial HNSW index (``vector_cosine_ops``) for ``model`` if it is missing.

    The index is on ``(embedding::vector(dimension))`` restricted to ``embedding_model = model``;
    queries must use the same expression and predicate (``rag.search``). HNSW parameters are
    pgvector's defaults (m = 16, ef_construction = 64; pgvector README).

    Raises:
        ConfigError: ``dimension`` is not in pgvector's indexable range 1..2000.
    """
    if not 1 <= int(dimension) <= 2000:
        raise ConfigError(f"HNSW indexes support 1 to 2,000 dimensions; the embedding model has {dimension}")
    name = vector_index_name(model)
    exists = conn.execute("SELECT to_regclass(%(name)s) IS NOT NULL", {"name": name}).fetchone()
    if exists and exists[0]:
        return
    with conn.transaction():
        # Two processes starting on a fresh database would both create it: the second fails on the
        # catalog's unique name even with IF NOT EXISTS, so creators queue on a lock and look again.
        conn.execute("SELECT pg_advisory_xact_lock(%(key)s)", {"key": _INDEX_LOCK_KEY})
        # DDL takes no bind parameters: identifiers and literals are composed by psycopg.sql, never
        # by string formatting.
        conn.execute(
            sql.SQL(
                "CREATE INDEX IF NOT EXISTS {name} ON chunks USING hnsw ((embedding::vector({dim})) vector_cosine_ops) "
                "WHERE embedding_model = {model}"
            ).format(name=sql.Identifier(name), dim=sql.Literal(int(dimension)), model=sql.Literal(model))
        )


def lock_collection(conn: psycopg.Connection, collection_id: int) -> None:
    """Serialise writers of one collection until the current transaction ends."""
    conn.execute(
        "SELECT pg_advisory_xact_lock(%(ns)s, %(id)s)",
        {"ns": _COLLECTION_LOCK_NAMESPACE % 2**31, "id": collection_id % 2**31},
    )
