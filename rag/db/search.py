"""Retrieval inside PostgreSQL: Okapi BM25 over ``tsvector`` and HNSW cosine search over pgvector.

BM25 (Robertson & Zaragoza 2009, "The Probabilistic Relevance Framework: BM25 and Beyond"):

    score(q, c) = sum_{t in q} idf(t) * tf(t, c) * (k1 + 1) / (tf(t, c) + k1 * (1 - b + b * |c| / avgdl))
    idf(t)      = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))        (Lucene's non-negative variant)

The query and the chunks are analysed by the same PostgreSQL text-search configuration (English
Snowball stemming + stop words by default, per collection). ``tf`` is the number of positions of the
lexeme in the chunk's tsvector, ``|c|`` is ``chunks.lexeme_count``, and ``N``, ``avgdl``, ``df`` come
from ``collections`` / ``lexeme_stats``, which every write keeps current in its own transaction. So
the statistics are exact, transactional and incremental: nothing is rebuilt per query or per upload.

Which chunks get scored (:func:`bm25_search`): by default the highest-impact postings of each query
term (``rag.db.postings``, term-at-a-time after Anh & Moffat), so a query's work is bounded by its
term count, not by the collection; ``exact`` scores every chunk the GIN index on ``chunks.lexemes`` finds, linear in
the collection. Scores are exact either way; docs/performance.md measures what the heads miss.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg
from psycopg import sql

from rag.models import Passage

_BM25_TERMS = """
WITH query_terms AS (
    SELECT DISTINCT u.lexeme FROM unnest(to_tsvector(%(config)s::regconfig, %(query)s)) u
), corpus AS (
    SELECT chunk_count::float8 AS n,
           greatest(lexeme_total::float8 / nullif(chunk_count, 0), 1.0) AS avgdl
    FROM collections WHERE id = %(collection_id)s
), idf AS (
    SELECT q.lexeme, ln(1.0 + (corpus.n - s.doc_freq + 0.5) / (s.doc_freq + 0.5)) AS idf
    FROM query_terms q
    JOIN lexeme_stats s ON s.collection_id = %(collection_id)s AND s.lexeme = q.lexeme AND s.doc_freq > 0
    CROSS JOIN corpus
)"""

_CHUNK_FILTERS = """
      AND (%(document_ids)s::bigint[] IS NULL OR c.document_id = ANY(%(document_ids)s::bigint[]))
      AND (%(media_types)s::text[] IS NULL OR EXISTS (
            SELECT 1 FROM documents d WHERE d.id = c.document_id AND d.media_type = ANY(%(media_types)s::text[])))"""

# Exact BM25 of every chunk that holds a query term, from its tsvector: linear in the collection.
BM25_EXACT_SQL = f"""{_BM25_TERMS}, candidates AS (
    SELECT c.id, c.lexemes, c.lexeme_count
    FROM chunks c
    WHERE c.collection_id = %(collection_id)s
      AND c.lexemes @@ (SELECT string_agg(quote_literal(lexeme), ' | ')::tsquery FROM idf){_CHUNK_FILTERS}
)
SELECT cand.id,
       sum(idf.idf * (tf.tf * (%(k1)s + 1.0))
           / (tf.tf + %(k1)s * (1.0 - %(b)s + %(b)s * cand.lexeme_count / corpus.avgdl))) AS score
FROM candidates cand
CROSS JOIN LATERAL unnest(cand.lexemes) u
JOIN idf ON idf.lexeme = u.lexeme
CROSS JOIN LATERAL (SELECT coalesce(cardinality(u.positions), 1)::float8 AS tf) tf
CROSS JOIN corpus
GROUP BY cand.id
ORDER BY score DESC, cand.id
LIMIT %(limit)s
"""

# Exact BM25 of the chunks in ``candidates`` from their posting rows. LATERAL keeps it primary-key
# lookups per candidate: as a plain join the planner read every posting of the query terms for
# 1,000 candidates (a 1% filter at 100k chunks: p50 629 ms instead of tens).
_SCORE_CANDIDATES = """
SELECT cand.id, s.score
FROM candidates cand
JOIN chunks c ON c.id = cand.id
CROSS JOIN corpus
CROSS JOIN LATERAL (
    SELECT sum(idf.idf * (p.tf * (%(k1)s + 1.0))
               / (p.tf + %(k1)s * (1.0 - %(b)s + %(b)s * c.lexeme_count / corpus.avgdl))) AS score
    FROM idf JOIN postings p ON p.chunk_id = cand.id AND p.lexeme = idf.lexeme
) s
WHERE s.score IS NOT NULL
ORDER BY s.score DESC, cand.id
LIMIT %(limit)s
"""

# Term-at-a-time over impact-ordered postings (Anh & Moffat 2006): the head_size best postings of
# each query term, accumulated as sum(idf * impact); the best ``rescore`` accumulators are scored
# exactly. Chunks outside every head are never seen: the approximation (docs/performance.md).
_HEADS = """
    SELECT h.chunk_id AS id, sum(idf.idf * h.impact) AS accumulated
    FROM idf CROSS JOIN LATERAL (
        SELECT p.chunk_id, p.impact FROM postings p{filter_join}
        WHERE p.collection_id = %(collection_id)s AND p.lexeme = idf.lexeme{filters}
        ORDER BY p.impact DESC, p.chunk_id
        LIMIT %(head_size)s
    ) h
    GROUP BY h.chunk_id
    ORDER BY accumulated DESC, h.chunk_id
    LIMIT %(rescore)s"""

BM25_HEADS_SQL = f"""{_BM25_TERMS}, candidates AS MATERIALIZED ({_HEADS.format(filter_join="", filters="")}
){_SCORE_CANDIDATES}"""

BM25_FILTERED_HEADS_SQL = f"""{_BM25_TERMS}, candidates AS MATERIALIZED ({
    _HEADS.format(filter_join=" JOIN chunks c ON c.id = p.chunk_id", filters=_CHUNK_FILTERS)
}
){_SCORE_CANDIDATES}"""

# Exact BM25 of a small filtered set: every chunk that passes the filters is scored from its postings.
BM25_FILTERED_EXACT_SQL = f"""{_BM25_TERMS}, candidates AS MATERIALIZED (
    SELECT c.id FROM chunks c WHERE c.collection_id = %(collection_id)s{_CHUNK_FILTERS}
){_SCORE_CANDIDATES}"""

COUNT_FILTERED = f"""
SELECT count(*) FROM (
    SELECT 1 FROM chunks c WHERE c.collection_id = %(collection_id)s{_CHUNK_FILTERS} LIMIT %(cap)s
) f
"""

HEAD_SIZE = 1000
"""Postings read per query term, best impact first (the M of top-M term-at-a-time)."""

RESCORE_MIN = 300
"""Fewest accumulators scored exactly; a query asking for ``limit`` chunks rescores ``max(300, 3 * limit)``."""

FILTERED_EXACT_MAX = 20_000
"""A filter passing at most this many chunks is scored exactly over the filtered set (cost ~ its size);
a wider filter reads filtered posting heads instead."""


# pgvector 0.8 iterative index scans keep scanning the HNSW graph until enough rows pass the filters;
# relaxed_order may return rows slightly out of order, so the outer query sorts again (pgvector README,
# "Iterative Index Scans").
VECTOR_SQL = """
WITH nearest AS MATERIALIZED (
    SELECT c.id, (c.embedding::vector({dim})) <=> %(embedding)s::vector({dim}) AS distance
    FROM chunks c
    WHERE c.embedding_model = %(model)s
      AND c.collection_id = %(collection_id)s
      AND (%(document_ids)s::bigint[] IS NULL OR c.document_id = ANY(%(document_ids)s::bigint[]))
      AND (%(media_types)s::text[] IS NULL OR EXISTS (
            SELECT 1 FROM documents d WHERE d.id = c.document_id AND d.media_type = ANY(%(media_types)s::text[])))
    ORDER BY distance
    LIMIT %(limit)s
)
SELECT id, distance FROM nearest ORDER BY distance, id
"""

CHUNK_FROM_OCR_SQL = r"""
coalesce(c.page_start IS NOT NULL AND jsonb_typeof(d.metadata -> 'ocr_pages') = 'array' AND EXISTS (
    SELECT 1 FROM jsonb_array_elements_text(
        CASE WHEN jsonb_typeof(d.metadata -> 'ocr_pages') = 'array' THEN d.metadata -> 'ocr_pages' END) AS p(page)
    WHERE CASE WHEN p.page ~ '^[0-9]+$' AND length(p.page) < 10 THEN p.page::int END
          BETWEEN c.page_start AND coalesce(c.page_end, c.page_start)), false)
"""
"""SQL expression over chunk ``c`` and its document ``d``: one of the chunk's pages is in the
document's ``metadata["ocr_pages"]`` (written by the PDF and image loaders), i.e. its text came from
OCR. Derived at read time, so no column is stored; the CASEs keep user metadata of another shape
(a JSONL line's ``"ocr_pages": "x"``) from failing the cast."""

PASSAGES_SQL = (
    """
SELECT c.id, c.document_id, d.title, d.source_name, d.external_id, d.media_type, c.text, c.page_start,
       c.page_end, c.heading_path, """
    + CHUNK_FROM_OCR_SQL
    + """ AS from_ocr,
       CASE WHEN c.embedding_model = %(model)s THEN (c.embedding::vector({dim})) <=> %(embedding)s::vector({dim}) END
FROM chunks c JOIN documents d ON d.id = c.document_id
WHERE c.id = ANY(%(ids)s)
"""
)


@dataclass(frozen=True)
class Filters:
    """Metadata filters applied inside the SQL of both retrievers.

    Attributes:
        document_ids: Only these documents (``None`` = all).
        media_types: Only these MIME types (``None`` = all).
    """

    document_ids: Sequence[int] | None = None
    media_types: Sequence[str] | None = None

    def to_dict(self) -> dict[str, list[Any] | None]:
        """JSON-serialisable form (lists or ``None``); :meth:`from_dict` reads it back."""
        return {
            "document_ids": list(self.document_ids) if self.document_ids else None,
            "media_types": list(self.media_types) if self.media_types else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Filters:
        """Rebuild from :meth:`to_dict` output; empty lists mean no filter."""
        ids = data.get("document_ids")
        types = data.get("media_types")
        return cls(
            document_ids=tuple(int(i) for i in ids) if ids else None,
            media_types=tuple(str(t) for t in types) if types else None,
        )

    @property
    def active(self) -> bool:
        """True when any filter is set."""
        return bool(self.document_ids) or bool(self.media_types)

    def params(self) -> dict[str, object]:
        """Named SQL parameters for the filter clauses."""
        return {
            "document_ids": list(self.document_ids) if self.document_ids else None,
            "media_types": list(self.media_types) if self.media_types else None,
        }


def bm25_search(
    conn: psycopg.Connection,
    collection_id: int,
    text_search_config: str,
    query: str,
    limit: int,
    *,
    k1: float,
    b: float,
    filters: Filters = Filters(),
    exact: bool = False,
    head_size: int = HEAD_SIZE,
    rescore: int | None = None,
) -> list[tuple[int, float]]:
    """Top ``limit`` chunks by Okapi BM25 (formula in the module docstring).

    Scores are always exact; which chunks are scored depends on the strategy:

    - ``exact=True``: every chunk holding a query term (``BM25_EXACT_SQL``; linear in the collection,
      kept for evaluation and as the reference).
    - a filter passing at most :data:`FILTERED_EXACT_MAX` chunks: all of them (exact).
    - otherwise: the ``head_size`` highest-impact postings of each term (filtered when a filter is
      set), the best ``rescore`` of them by accumulated ``idf * impact`` scored exactly. A chunk in no
      term's head is missed; a term with ``df <= head_size`` is read whole, so small collections get
      the exact result (measured at scale in docs/performance.md).

    Args:
        head_size: Postings read per query term (:data:`HEAD_SIZE`).
        rescore: Accumulators scored exactly; default ``max(RESCORE_MIN, 3 * limit)``.

    Returns:
        ``(chunk_id, score)`` best first; empty when no query term is in the collection.
    """
    params: dict[str, object] = {
        "config": text_search_config,
        "query": query,
        "collection_id": collection_id,
        "limit": limit,
        "k1": k1,
        "b": b,
        "head_size": head_size,
        "rescore": rescore if rescore is not None else max(RESCORE_MIN, 3 * limit),
        **filters.params(),
    }
    if exact:
        statement = BM25_EXACT_SQL
    elif filters.active:
        count = conn.execute(COUNT_FILTERED, {**params, "cap": FILTERED_EXACT_MAX + 1}).fetchone()
        small = count is not None and count[0] <= FILTERED_EXACT_MAX
        statement = BM25_FILTERED_EXACT_SQL if small else BM25_FILTERED_HEADS_SQL
    else:
        statement = BM25_HEADS_SQL
    rows = conn.execute(statement, params).fetchall()
    return [(int(r[0]), float(r[1])) for r in rows]


def vector_search(
    conn: psycopg.Connection,
    collection_id: int,
    model: str,
    query_embedding: np.ndarray,
    limit: int,
    *,
    ef_search: int | None = None,
    filters: Filters = Filters(),
    exact: bool = False,
) -> list[tuple[int, float]]:
    """Top ``limit`` chunks by cosine distance through the model's partial HNSW index.

    Args:
        query_embedding: ``(d,)`` float32, L2-normalised.
        ef_search: HNSW candidate list size; default ``max(40, 2 * limit)`` (pgvector's default is
            40; it must be >= limit to return ``limit`` rows without iterative scans).
        exact: Compare with every chunk instead (index scans off: a sequential or bitmap scan and a
            sort), the reference for HNSW recall@k; linear in the collection.

    Returns:
        ``(chunk_id, cosine_distance)`` nearest first; distance = 1 - cosine similarity, in [0, 2].
    """
    dim = int(query_embedding.shape[0])
    ef = int(ef_search if ef_search is not None else max(40, 2 * limit))
    with conn.transaction():
        conn.execute("SELECT set_config('hnsw.ef_search', %(ef)s, true)", {"ef": str(min(max(ef, 1), 1000))})
        conn.execute("SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true)")
        if exact:
            conn.execute("SELECT set_config('enable_indexscan', 'off', true)")
        rows = conn.execute(
            sql.SQL(VECTOR_SQL).format(dim=sql.Literal(dim)),
            {
                "embedding": query_embedding,
                "model": model,
                "collection_id": collection_id,
                "limit": limit,
                **filters.params(),
            },
        ).fetchall()
    return [(int(r[0]), float(r[1])) for r in rows]


@dataclass(frozen=True)
class PassageRow(Passage):
    """A retrieved chunk's passage and document fields (:class:`rag.models.Passage`) and its distance.

    Attributes:
        cosine_distance: pgvector ``<=>`` to the query (1 - cosine similarity, in [0, 2]); ``None``
            when the chunk's vector comes from another model.
    """

    cosine_distance: float | None = None


def passages(
    conn: psycopg.Connection, chunk_ids: Sequence[int], model: str, query_embedding: np.ndarray
) -> dict[int, PassageRow]:
    """Passage, document fields and cosine distance to the query for each chunk id.

    Args:
        chunk_ids: Chunks to fetch (unknown ids are absent from the result).
        model: Embedding model of ``query_embedding``.
        query_embedding: ``(d,)`` float32, L2-normalised.

    Returns:
        chunk id -> :class:`PassageRow`.
    """
    if not chunk_ids:
        return {}
    dim = int(query_embedding.shape[0])
    rows = conn.execute(
        sql.SQL(PASSAGES_SQL).format(dim=sql.Literal(dim)),
        {"ids": list(chunk_ids), "model": model, "embedding": query_embedding},
    ).fetchall()
    return {
        int(r[0]): PassageRow(
            chunk_id=int(r[0]),
            document_id=int(r[1]),
            title=r[2],
            source_name=r[3],
            external_id=r[4],
            media_type=r[5],
            text=r[6],
            page_start=r[7],
            page_end=r[8],
            heading_path=tuple(r[9] or ()),
            from_ocr=bool(r[10]),
            cosine_distance=None if r[11] is None else float(r[11]),
        )
        for r in rows
    }
