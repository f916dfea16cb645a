"""Stored embeddings: reuse by chunk sha256, the model check before vector search, re-embedding.

Every chunk records the model that embedded it (``chunks.embedding_model``), so a model change is
detected before a query compares vectors from two models, and re-embedding touches only stale chunks
(STYLE.md practice 5).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import psycopg

from rag.db.collections import Collection
from rag.errors import EmbeddingModelMismatch

REUSABLE_EMBEDDINGS = """
SELECT DISTINCT ON (sha256) sha256, embedding FROM chunks
WHERE sha256 = ANY(%(shas)s) AND embedding_model = %(model)s AND embedding IS NOT NULL
"""
# Three range probes of the (collection_id, embedding_model) B-tree: O(log n) however large the
# collection, where the GROUP BY below reads every chunk of it (linear in the collection).
ANY_OTHER_MODEL = """
SELECT EXISTS (SELECT 1 FROM chunks WHERE collection_id = %(collection_id)s AND embedding_model IS NULL)
    OR EXISTS (SELECT 1 FROM chunks WHERE collection_id = %(collection_id)s AND embedding_model < %(model)s)
    OR EXISTS (SELECT 1 FROM chunks WHERE collection_id = %(collection_id)s AND embedding_model > %(model)s)
"""
OTHER_MODELS = """
SELECT embedding_model, count(*) FROM chunks
WHERE collection_id = %(collection_id)s AND embedding_model IS DISTINCT FROM %(model)s
GROUP BY embedding_model
"""
COUNT_STALE = """
SELECT count(*) FROM chunks
WHERE collection_id = %(collection_id)s AND embedding_model IS DISTINCT FROM %(model)s
"""
STALE_CHUNKS = """
SELECT id, sha256, context || text FROM chunks
WHERE collection_id = %(collection_id)s AND embedding_model IS DISTINCT FROM %(model)s
ORDER BY id LIMIT %(limit)s
"""
SET_EMBEDDING = "UPDATE chunks SET embedding = %(embedding)s, embedding_model = %(model)s WHERE id = %(id)s"


@dataclass(frozen=True)
class StaleChunk:
    """A chunk whose vector comes from another model than the configured one.

    Attributes:
        id: Chunk id. sha256: Hex sha256 of the embedding input. embedding_input: Context header
            plus passage, the exact text to embed.
    """

    id: int
    sha256: str
    embedding_input: str


def reusable_embeddings(conn: psycopg.Connection, shas: Sequence[str], model: str) -> dict[str, np.ndarray]:
    """Embeddings already stored for these chunk hashes by ``model``.

    Returns:
        sha256 -> ``(d,)`` float32 vector; missing hashes are absent.
    """
    if not shas:
        return {}
    rows = conn.execute(REUSABLE_EMBEDDINGS, {"shas": list(set(shas)), "model": model}).fetchall()
    return {sha: np.asarray(vec.to_numpy(), dtype=np.float32) for sha, vec in rows}


def check_embedding_model(conn: psycopg.Connection, collection: Collection, model: str) -> None:
    """Raise if the collection holds vectors from another model than ``model``.

    ``model`` is the stored name, which includes the backend (``all-MiniLM-L6-v2@onnx-qint8``):
    vectors of one model from two runtimes or precisions are not comparable either.

    Raises:
        EmbeddingModelMismatch: names the stored model(s) and the two ways out.
    """
    params = {"collection_id": collection.id, "model": model}
    other = conn.execute(ANY_OTHER_MODEL, params).fetchone()
    if not other or not other[0]:
        return
    rows = conn.execute(OTHER_MODELS, params).fetchall()
    if rows:
        stored = ", ".join(f"{name or 'none'} ({count} chunks)" for name, count in rows)
        raise EmbeddingModelMismatch(
            f"collection {collection.name!r} has vectors from {stored}, but the configured embedding model is "
            f"{model!r}: run `rag reembed --collection {collection.name}` or set RAG_EMBEDDING_MODEL to the stored model "
            "(a stored name@runtime-precision also needs RAG_EMBEDDING_BACKEND and RAG_EMBEDDING_QUANTIZATION)"
        )


def count_stale(conn: psycopg.Connection, collection_id: int, model: str) -> int:
    """Chunks of the collection not embedded by ``model``."""
    row = conn.execute(COUNT_STALE, {"collection_id": collection_id, "model": model}).fetchone()
    return int(row[0]) if row else 0


def stale_chunks(conn: psycopg.Connection, collection_id: int, model: str, limit: int) -> list[StaleChunk]:
    """Up to ``limit`` chunks not embedded by ``model``, lowest id first."""
    rows = conn.execute(
        STALE_CHUNKS, {"collection_id": collection_id, "model": model, "limit": limit}
    ).fetchall()
    return [StaleChunk(int(r[0]), r[1], r[2]) for r in rows]


def set_embeddings(conn: psycopg.Connection, vectors: dict[int, np.ndarray], model: str) -> None:
    """Store new vectors by chunk id and record ``model`` on them, in one transaction.

    Args:
        vectors: chunk id -> ``(d,)`` float32, L2-normalised.
    """
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            SET_EMBEDDING,
            [
                {"embedding": np.asarray(vector, dtype=np.float32), "model": model, "id": chunk_id}
                for chunk_id, vector in vectors.items()
            ],
        )
