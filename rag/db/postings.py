"""Impact-ordered BM25 posting rows: kept with every chunk write, read head-first by lexical search.

Why: BM25 over the ``tsvector`` GIN index reads every chunk that contains any query term, so a query
costs time linear in the collection (121 ms at 10k chunks, 1.3 s at 100k; docs/performance.md). An
impact-ordered index (Anh & Moffat 2006, "Pruned query evaluation using pre-computed impacts") keeps
each term's postings sorted by their contribution, so a query can read only the best ones.

Layout: ``postings(chunk_id, collection_id, impact, tf, lexeme)``, one row per distinct lexeme of a
chunk, with a B-tree on ``(collection_id, lexeme, impact DESC, chunk_id)`` (a term's posting list in
impact order) and the primary key ``(chunk_id, lexeme)`` (a chunk's term frequencies; cascade
deletes). ``impact`` is BM25's term-frequency factor

    impact(t, c) = tf * (k1 + 1) / (tf + k1 * (1 - b + b * |c| / impact_avgdl))

with the default ``k1 = 0.9``, ``b = 0.4`` (``rag.config``) and the collection's ``impact_avgdl``:
the average length when the collection's first chunks were written, refreshed lazily by
:func:`refresh_impacts` once the true average drifts by more than :data:`AVGDL_DRIFT`. Impacts only
ORDER a posting list; scores are always computed from ``tf``, ``|c|`` and the current ``N``,
``avgdl`` and ``df`` (``rag.db.search``), so a stale impact can change which chunks are read first,
never a score.

Every write keeps the rows in the same transaction as the chunks (``rag.db.documents``), under the
collection's advisory lock; a chunk's postings are deleted in the transaction that deletes it
(:func:`delete_postings`; no foreign key, whose per-row check cost a third of a bulk write).
"""

from __future__ import annotations

from collections.abc import Sequence

import psycopg

from rag.db.collections import lock_collection

IMPACT_K1 = 0.9
"""BM25 ``k1`` of the stored impacts (``rag.config`` default; a query may use another, see module doc)."""

IMPACT_B = 0.4
"""BM25 ``b`` of the stored impacts (``rag.config`` default)."""

AVGDL_DRIFT = 0.2
"""Relative change of the average chunk length after which the stored impacts are recomputed.

At b = 0.4 a 20% longer average moves a chunk's length factor ``1 - b + b * |c| / avgdl`` by at most
8%, small next to the spread of impacts in a posting list; recomputing rewrites every posting row.
"""

_IMPACT = (
    "t.tf * (%(k1)s + 1.0) / (t.tf + %(k1)s * (1.0 - %(b)s + %(b)s * c.lexeme_count / col.impact_avgdl))"
)

SET_FIRST_IMPACT_AVGDL = """
UPDATE collections SET impact_avgdl = greatest(lexeme_total::float8 / chunk_count, 1.0)
WHERE id = %(collection_id)s AND impact_avgdl IS NULL AND chunk_count > 0
"""

ADD_POSTINGS = f"""
INSERT INTO postings (chunk_id, collection_id, impact, tf, lexeme)
SELECT c.id, c.collection_id, {_IMPACT}, t.tf, u.lexeme
FROM chunks c
JOIN collections col ON col.id = c.collection_id
CROSS JOIN LATERAL unnest(c.lexemes) u
CROSS JOIN LATERAL (SELECT coalesce(cardinality(u.positions), 1) AS tf) t
WHERE c.document_id = ANY(%(document_ids)s)
"""

DELETE_POSTINGS = """
DELETE FROM postings
WHERE chunk_id IN (SELECT id FROM chunks WHERE collection_id = %(collection_id)s AND document_id = ANY(%(document_ids)s))
"""

AVGDL_NOW_AND_STORED = """
SELECT greatest(lexeme_total::float8 / nullif(chunk_count, 0), 1.0), impact_avgdl
FROM collections WHERE id = %(collection_id)s
"""

RECOMPUTE_IMPACTS = f"""
UPDATE postings p SET impact = {_IMPACT.replace("t.tf", "p.tf")}
FROM chunks c JOIN collections col ON col.id = c.collection_id
WHERE p.chunk_id = c.id AND p.collection_id = %(collection_id)s AND c.collection_id = %(collection_id)s
"""


def add_postings(conn: psycopg.Connection, collection_id: int, document_ids: Sequence[int]) -> None:
    """Write the posting rows of the documents' chunks (call inside the write transaction).

    The chunks and the collection's ``chunk_count`` / ``lexeme_total`` must already include them:
    the collection's first write fixes ``impact_avgdl`` from its own chunks.
    """
    params = {
        "collection_id": collection_id,
        "document_ids": list(document_ids),
        "k1": IMPACT_K1,
        "b": IMPACT_B,
    }
    conn.execute(SET_FIRST_IMPACT_AVGDL, params)
    conn.execute(ADD_POSTINGS, params)


def delete_postings(conn: psycopg.Connection, collection_id: int, document_ids: Sequence[int]) -> None:
    """Delete the posting rows of the documents' chunks (call in the transaction deleting them).

    Ids of other collections' documents are ignored.
    """
    conn.execute(DELETE_POSTINGS, {"collection_id": collection_id, "document_ids": list(document_ids)})


def refresh_impacts(conn: psycopg.Connection, collection_id: int, *, drift: float = AVGDL_DRIFT) -> bool:
    """Recompute the collection's stored impacts when its average chunk length drifted.

    Lazy by design (the "avgdl refreshed lazily" of the issue): one UPDATE of every posting row of the
    collection, run after bulk loads only when ``|avgdl - impact_avgdl| > drift * impact_avgdl``.

    Args:
        conn: A connection not inside a transaction.
        drift: Relative tolerance (default :data:`AVGDL_DRIFT`).

    Returns:
        True when the impacts were recomputed.
    """
    params = {"collection_id": collection_id, "k1": IMPACT_K1, "b": IMPACT_B}
    with conn.transaction():
        lock_collection(conn, collection_id)
        row = conn.execute(AVGDL_NOW_AND_STORED, params).fetchone()
        if row is None or row[0] is None or row[1] is None or abs(row[0] - row[1]) <= drift * row[1]:
            return False
        conn.execute(
            "UPDATE collections SET impact_avgdl = %(avgdl)s WHERE id = %(collection_id)s",
            {**params, "avgdl": row[0]},
        )
        conn.execute(RECOMPUTE_IMPACTS, params)
    return True
