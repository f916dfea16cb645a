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

from rag.cleaning import has_control_characters
from rag.errors import ConfigError, NotFound

_COLLECTION_LOCK_NAMESPACE = 7_273_012_202
_VECTOR_INDEX_LOCK_KEY = 7_273_012_203
MAX_COLLECTION_NAME_CHARS = 200
"""Longest collection name (characters): it is shown in the sidebar and in every message."""


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


def check_collection_name(name: str) -> None:
    """Refuse a name no collection may have: blank, over 200 characters, or with control characters.

    Raises:
        ConfigError: The message names the problem (NUL and other control characters are shown
            escaped, e.g. ``'a\\x00b'``).
    """
    if not name.strip():
        raise ConfigError("a collection name must not be empty")
    if has_control_characters(name):
        raise ConfigError(
            f"the collection name {name!r} contains control characters (NUL, tab, newline...): "
            "use letters, digits, spaces and punctuation only"
        )
    if len(name) > MAX_COLLECTION_NAME_CHARS:
        raise ConfigError(
            f"a collection name has at most {MAX_COLLECTION_NAME_CHARS} characters; this one has {len(name)}"
        )


def find_collection(conn: psycopg.Connection, name: str) -> Collection | None:
    """Return the collection called ``name``, or ``None`` when there is none.

    Raises:
        ConfigError: ``name`` is not a valid collection name (:func:`check_collection_name`).
    """
    check_collection_name(name)
    row = conn.execute(GET_COLLECTION, {"name": name}).fetchone()
    if row is None:
        return None
    return Collection(id=row[0], name=row[1], text_search_config=row[2], settings=row[3])


def get_collection(conn: psycopg.Connection, name: str) -> Collection:
    """Return the collection called ``name``.

    Raises:
        NotFound: no such collection (the message lists how to create one: ingest into it).
        ConfigError: ``name`` is not a valid collection name (:func:`check_collection_name`).
    """
    collection = find_collection(conn, name)
    if collection is None:
        raise NotFound(f"collection {name!r} does not exist yet: ingest documents into it first")
    return collection


def check_text_search_config(conn: psycopg.Connection, text_search_config: str) -> None:
    """Raise ``ConfigError`` unless ``text_search_config`` names a PostgreSQL text-search configuration."""
    exists = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_ts_config WHERE cfgname = %(config)s)",
        {"config": text_search_config},
    ).fetchone()
    if not exists or not exists[0]:
        raise ConfigError(
            f"text-search configuration {text_search_config!r} does not exist: see `SELECT cfgname FROM pg_ts_config`"
        )


def ensure_collection(conn: psycopg.Connection, name: str, text_search_config: str = "english") -> Collection:
    """Return the collection ``name``, creating it with ``text_search_config`` if missing.

    Raises:
        ConfigError: the name is invalid (:func:`check_collection_name`) or the text-search
            configuration does not exist.
    """
    check_collection_name(name)
    check_text_search_config(conn, text_search_config)
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
    # Two first ingests at once would both pass the check below and race on CREATE INDEX.
    conn.execute("SELECT pg_advisory_xact_lock(%(key)s)", {"key": _VECTOR_INDEX_LOCK_KEY})
    exists = conn.execute("SELECT to_regclass(%(name)s) IS NOT NULL", {"name": name}).fetchone()
    if exists and exists[0]:
        return
    # DDL takes no bind parameters: identifiers and literals are composed by psycopg.sql, never by
    # string formatting.
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
