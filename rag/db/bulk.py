"""Bulk loads into a fresh database: search indexes built after the rows, then VACUUM ANALYZE; sizes.

pgvector-python ``examples/loading/example.py``: COPY the rows, build the indexes afterwards (one
sorted build instead of a random insert per row), then refresh the planner statistics. Dropping the
indexes affects every collection of the database, so this is for loading a database nobody queries
yet (``benchmarks/scale.py``); normal ingestion keeps the indexes and only runs ANALYZE.
"""

from __future__ import annotations

import time

import psycopg
from psycopg import sql

from rag.db.collections import ensure_vector_index, vector_index_name

POSTINGS_IMPACT_INDEX = "postings_impact_idx"
"""The B-tree of impact-ordered posting lists (migration 5, ``rag.db.postings``)."""

CREATE_POSTINGS_IMPACT_INDEX = "CREATE INDEX IF NOT EXISTS postings_impact_idx ON postings (collection_id, lexeme, impact DESC, chunk_id)"

RELATION_SIZES = """
SELECT c.relname, pg_total_relation_size(c.oid)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i')
ORDER BY pg_total_relation_size(c.oid) DESC
"""


def drop_search_indexes(conn: psycopg.Connection, model: str) -> None:
    """Drop the impact B-tree and the model's HNSW index before a bulk load (autocommit connection)."""
    conn.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(POSTINGS_IMPACT_INDEX)))
    conn.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(vector_index_name(model))))


def build_search_indexes(
    conn: psycopg.Connection, model: str, dimension: int, *, maintenance_work_mem_mb: int = 2048
) -> dict[str, float]:
    """Build the impact B-tree and the model's HNSW index (if missing) after a bulk load.

    Args:
        conn: An autocommit connection.
        maintenance_work_mem_mb: Memory for the builds in MiB; an HNSW graph that does not fit is
            built much more slowly (pgvector README, "Index Build Time").

    Returns:
        Build time in seconds per index (``postings_impact`` and ``hnsw``).
    """
    conn.execute(
        "SELECT set_config('maintenance_work_mem', %(mem)s, false)",
        {"mem": f"{int(maintenance_work_mem_mb)}MB"},
    )
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    conn.execute(CREATE_POSTINGS_IMPACT_INDEX)
    seconds["postings_impact"] = time.perf_counter() - started
    started = time.perf_counter()
    ensure_vector_index(conn, model, dimension)
    seconds["hnsw"] = time.perf_counter() - started
    conn.execute("RESET maintenance_work_mem")
    return seconds


def vacuum_analyze(conn: psycopg.Connection) -> None:
    """VACUUM (ANALYZE) the search tables.

    It refreshes the planner statistics and sets the visibility map that lets the posting-list reads
    be index-only scans.

    Raises:
        psycopg.Error: ``conn`` is inside a transaction (VACUUM cannot run there).
    """
    conn.execute("VACUUM (ANALYZE) chunks, documents, lexeme_stats, postings")


def relation_sizes(conn: psycopg.Connection) -> dict[str, int]:
    """Bytes per table and index of the schema, plus ``database`` for the whole database.

    A table's figure is ``pg_total_relation_size``: it includes its TOAST data and indexes.
    """
    sizes = {str(name): int(size) for name, size in conn.execute(RELATION_SIZES).fetchall()}
    row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    sizes["database"] = int(row[0]) if row else 0
    return sizes


def collection_chunk_count(conn: psycopg.Connection, name: str) -> int | None:
    """Chunks of the collection ``name`` (its maintained ``chunk_count``), ``None`` when it does not exist."""
    row = conn.execute("SELECT chunk_count FROM collections WHERE name = %(name)s", {"name": name}).fetchone()
    return None if row is None else int(row[0])


def drop_collection(conn: psycopg.Connection, name: str) -> None:
    """Delete the collection ``name`` with its postings, then (cascade) documents, chunks and statistics."""
    conn.execute(
        "DELETE FROM postings WHERE collection_id IN (SELECT id FROM collections WHERE name = %(name)s)",
        {"name": name},
    )
    conn.execute("DELETE FROM collections WHERE name = %(name)s", {"name": name})


def document_ids(conn: psycopg.Connection, collection_id: int) -> list[int]:
    """Every document id of the collection, ascending."""
    rows = conn.execute(
        "SELECT id FROM documents WHERE collection_id = %(c)s ORDER BY id", {"c": collection_id}
    ).fetchall()
    return [int(r[0]) for r in rows]
