"""Collections: named document sets with their own BM25 statistics, settings and HNSW indexes.

Names are unique in the installation. Row-level security (migration 6) shows a user only the
collections it owns or that are shared with it; :attr:`Collection.access` says which. Raw SQL with
named parameters (psycopg 3).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from rag.cleaning import has_control_characters
from rag.db.access import Access
from rag.errors import AccessDenied, ConfigError, NotFound
from rag.users import LOCAL_USER

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
        owner: The user who created it. access: What the acting user may do with it (``owner``,
            ``write`` or ``read``).
    """

    id: int
    name: str
    text_search_config: str
    settings: dict[str, Any]
    owner: str = LOCAL_USER
    access: Access = "owner"

    @property
    def writable(self) -> bool:
        """True when the acting user may add, replace and delete documents (owner or ``write`` member)."""
        return self.access in ("owner", "write")


_COLLECTION_COLUMNS = """
id, name, text_search_config::text, settings, owner,
CASE WHEN owner = rag_current_user() THEN 'owner'
     ELSE (SELECT m.access FROM collection_members m
           WHERE m.collection_id = collections.id AND m.member = rag_current_user()) END
"""
GET_COLLECTION = f"SELECT {_COLLECTION_COLUMNS} FROM collections WHERE name = %(name)s"
LIST_COLLECTIONS = f"SELECT {_COLLECTION_COLUMNS} FROM collections ORDER BY name"
CREATE_COLLECTION = """
INSERT INTO collections (name, text_search_config) VALUES (%(name)s, %(config)s::regconfig)
ON CONFLICT (name) DO NOTHING
"""
CREATE_VECTOR_INDEX = "SELECT rag_create_vector_index(%(name)s, %(model)s, %(dimension)s)"


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
    return Collection(*row)


def get_collection(conn: psycopg.Connection, name: str) -> Collection:
    """Return the collection called ``name``.

    Raises:
        NotFound: no such collection (the message lists how to create one: ingest into it).
        ConfigError: ``name`` is not a valid collection name (:func:`check_collection_name`).
    """
    collection = find_collection(conn, name)
    if collection is None:
        raise NotFound(
            f"collection {name!r} does not exist yet (or is not shared with you): ingest documents into it first"
        )
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
    """Return the collection ``name``, creating it (owned by the acting user) if missing.

    Raises:
        ConfigError: the name is invalid (:func:`check_collection_name`) or the text-search
            configuration does not exist.
        AccessDenied: another user's collection has this name and is not shared with the acting user.
    """
    check_collection_name(name)
    check_text_search_config(conn, text_search_config)
    conn.execute(CREATE_COLLECTION, {"name": name, "config": text_search_config})
    try:
        return get_collection(conn, name)
    except NotFound:  # the insert met a row this user cannot see
        raise AccessDenied(
            f"another user's collection is called {name!r}: choose another name, or ask its owner to share it "
            f"with you (`rag share {name} YOUR-NAME --write`)"
        ) from None


def list_collections(conn: psycopg.Connection) -> list[Collection]:
    """The collections the acting user can read, by name."""
    return [Collection(*row) for row in conn.execute(LIST_COLLECTIONS).fetchall()]


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
    # CREATE INDEX needs the table owner's rights: a SECURITY DEFINER function of migration 6 runs it.
    conn.execute(CREATE_VECTOR_INDEX, {"name": name, "model": model, "dimension": int(dimension)})


def lock_collection(conn: psycopg.Connection, collection_id: int) -> None:
    """Serialise writers of one collection until the current transaction ends."""
    conn.execute(
        "SELECT pg_advisory_xact_lock(%(ns)s, %(id)s)",
        {"ns": _COLLECTION_LOCK_NAMESPACE % 2**31, "id": collection_id % 2**31},
    )
