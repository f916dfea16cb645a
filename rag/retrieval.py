"""The retrieval pipeline: lexical (BM25) + vector (HNSW) -> RRF -> cross-encoder -> top-k, traced.

Every call returns a :class:`RetrievalTrace` holding every candidate's view from every stage and the
per-stage latency in ms, so the CLI, the Inspector page and evaluation all see the same facts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import psycopg

from rag.db.collections import Collection
from rag.db.embeddings import check_embedding_model
from rag.db.search import Filters, bm25_search, passages, vector_search
from rag.embedding import Embedder
from rag.errors import ConfigError
from rag.fusion import reciprocal_rank_fusion
from rag.models import Candidate, Passage, SearchMode
from rag.rerank import Reranker, RerankerStatus

MODES: tuple[SearchMode, ...] = ("lexical", "vector", "hybrid", "rerank")

PASSAGE_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Passage))
"""The fields a :class:`Candidate` takes over from its database row."""


@dataclass(frozen=True)
class SearchParams:
    """Parameters of one retrieval.

    Attributes:
        mode: ``lexical`` (BM25 only), ``vector`` (HNSW only), ``hybrid`` (RRF of both) or ``rerank``
            (hybrid, then the cross-encoder reorders the fused top ``candidates``).
        k: Passages returned (top-k).
        candidates: N, the fused list length handed to the reranker (and each retriever's depth).
        rrf_k: RRF constant. lexical_weight, vector_weight: RRF list weights.
        ef_search: HNSW ``ef_search``; ``None`` derives it from the candidate count.
        k1, b: BM25 parameters.
        exact_bm25: Score every chunk holding a query term (the evaluation reference) instead of the
            impact-ordered posting heads (``rag.db.search.bm25_search``).
        filters: Document id / media type filters.
    """

    mode: SearchMode = "hybrid"
    k: int = 5
    candidates: int = 30
    rrf_k: float = 60.0
    lexical_weight: float = 1.0
    vector_weight: float = 1.0
    ef_search: int | None = None
    k1: float = 0.9
    b: float = 0.4
    exact_bm25: bool = False
    filters: Filters = field(default_factory=Filters)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form; :meth:`from_dict` reads it back."""
        data = asdict(self)
        data["filters"] = self.filters.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchParams:
        """Rebuild from :meth:`to_dict` output (unknown keys are ignored, missing ones get defaults)."""
        known = {f: data[f] for f in cls.__dataclass_fields__ if f in data and f != "filters"}
        return cls(**known, filters=Filters.from_dict(data.get("filters") or {}))

    def validate(self) -> None:
        """Raises ConfigError for an unknown mode or inconsistent sizes."""
        if self.mode not in MODES:
            raise ConfigError(f"unknown search mode {self.mode!r}: use one of {', '.join(MODES)}")
        if self.k <= 0 or self.candidates <= 0:
            raise ConfigError("k and candidates must be positive")


@dataclass(frozen=True)
class RetrievalTrace:
    """Everything that happened in one retrieval.

    Attributes:
        query: The query text searched (after any rewriting).
        params: The parameters used (``mode`` is the effective mode: ``rerank`` falls back to
            ``hybrid`` when no reranker is loaded).
        requested_mode: The mode asked for.
        candidates: Every candidate seen, in final order (kept first, then cut ones).
        timings_ms: Stage -> milliseconds (``query_embedding``, ``lexical``, ``vector``, ``fusion``,
            ``rerank``, ``details``).
        embedding_model: Embedder name. reranker: status of the reranker.
    """

    query: str
    params: SearchParams
    requested_mode: SearchMode
    candidates: tuple[Candidate, ...]
    timings_ms: dict[str, float]
    embedding_model: str
    reranker: RerankerStatus

    @property
    def hits(self) -> tuple[Candidate, ...]:
        """The kept candidates, best first."""
        return tuple(c for c in self.candidates if c.kept)

    @property
    def reranked(self) -> bool:
        """True when the cross-encoder actually ran."""
        return self.params.mode == "rerank"

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (``--json`` output, stored answers); :meth:`from_dict` reads it back."""
        data = asdict(self)
        data["params"] = self.params.to_dict()
        data["candidates"] = [asdict(c) for c in self.candidates]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RetrievalTrace:
        """Rebuild a trace from :meth:`to_dict` output (e.g. read back from a stored answer)."""
        params = SearchParams.from_dict(data.get("params") or {})
        reranker = data.get("reranker") or {}
        return cls(
            query=data.get("query", ""),
            params=params,
            requested_mode=data.get("requested_mode", params.mode),
            candidates=tuple(Candidate.from_dict(c) for c in data.get("candidates") or ()),
            timings_ms={str(k): float(v) for k, v in (data.get("timings_ms") or {}).items()},
            embedding_model=data.get("embedding_model", ""),
            reranker=RerankerStatus(
                name=reranker.get("name", ""),
                available=bool(reranker.get("available", False)),
                reason=reranker.get("reason"),
            ),
        )


def retrieve(
    conn: psycopg.Connection,
    collection: Collection,
    query: str,
    params: SearchParams,
    embedder: Embedder,
    reranker: Reranker | None,
    reranker_status: RerankerStatus,
    on_rerank: Callable[[int], None] | None = None,
) -> RetrievalTrace:
    """Run one retrieval and return its full trace.

    Args:
        conn, collection, query, params, embedder, reranker, reranker_status: What to search, how,
            and with which models.
        on_rerank: Called with the number of candidates just before the cross-encoder scores them
            (the slow stage on CPU), so a UI can say so; not called when nothing is reranked.

    Raises:
        ConfigError: invalid parameters.
        EmbeddingModelMismatch: the collection's vectors come from another model (vector modes).
    """
    params.validate()
    requested = params.mode
    if requested == "rerank" and reranker is None:
        params = replace(params, mode="hybrid")
    timings: dict[str, float] = {}
    depth = max(params.candidates, params.k)
    lexical: list[tuple[int, float]] = []
    vector: list[tuple[int, float]] = []

    started = time.perf_counter()
    query_embedding = embedder.embed_query(query)
    timings["query_embedding"] = _ms(started)

    if params.mode != "vector":
        started = time.perf_counter()
        lexical = bm25_search(
            conn,
            collection.id,
            collection.text_search_config,
            query,
            depth,
            k1=params.k1,
            b=params.b,
            filters=params.filters,
            exact=params.exact_bm25,
        )
        timings["lexical"] = _ms(started)
    if params.mode != "lexical":
        check_embedding_model(conn, collection, embedder.name)
        started = time.perf_counter()
        vector = vector_search(
            conn,
            collection.id,
            embedder.name,
            query_embedding,
            depth,
            ef_search=params.ef_search,
            filters=params.filters,
        )
        timings["vector"] = _ms(started)

    started = time.perf_counter()
    lexical_rank = {cid: rank for rank, (cid, _) in enumerate(lexical, start=1)}
    vector_rank = {cid: rank for rank, (cid, _) in enumerate(vector, start=1)}
    if params.mode == "lexical":
        ordered = [(cid, score) for cid, score in lexical]
        rrf: dict[int, float] = {}
    elif params.mode == "vector":
        ordered = [(cid, 1.0 - dist) for cid, dist in vector]
        rrf = {}
    else:
        fused = reciprocal_rank_fusion(
            [[cid for cid, _ in lexical], [cid for cid, _ in vector]],
            [params.lexical_weight, params.vector_weight],
            k=params.rrf_k,
        )
        rrf = dict(fused)
        ordered = fused[:depth]
    timings["fusion"] = _ms(started)

    started = time.perf_counter()
    all_ids = list(dict.fromkeys([cid for cid, _ in ordered] + list(lexical_rank) + list(vector_rank)))
    details = passages(conn, all_ids, embedder.name, query_embedding)
    timings["details"] = _ms(started)

    rerank_scores: dict[int, float] = {}
    if params.mode == "rerank" and reranker is not None:
        started = time.perf_counter()
        pool_ids = [cid for cid, _ in ordered[: params.candidates]]
        if on_rerank is not None:
            on_rerank(len(pool_ids))
        scores = reranker.score(query, [details[cid].text for cid in pool_ids])
        rerank_scores = {cid: float(s) for cid, s in zip(pool_ids, scores, strict=True)}
        # The reranked pool first, then the rest of the fused list in fused order (for deep runs).
        ordered = (
            sorted(rerank_scores.items(), key=lambda pair: pair[1], reverse=True)
            + ordered[params.candidates :]
        )
        timings["rerank"] = _ms(started)

    final_rank = {cid: rank for rank, (cid, _) in enumerate(ordered[: params.k], start=1)}
    lexical_score = dict(lexical)
    vector_distance = dict(vector)
    order = [cid for cid, _ in ordered] + [cid for cid in all_ids if cid not in {c for c, _ in ordered}]
    candidates = []
    for cid in order:
        row = details.get(cid)
        if row is None:
            continue
        passage = {name: getattr(row, name) for name in PASSAGE_FIELDS}
        candidates.append(
            Candidate(
                **passage,
                lexical_rank=lexical_rank.get(cid),
                bm25_score=lexical_score.get(cid),
                vector_rank=vector_rank.get(cid),
                cosine_distance=vector_distance.get(cid, row.cosine_distance),
                rrf_score=rrf.get(cid),
                rerank_score=rerank_scores.get(cid),
                final_rank=final_rank.get(cid),
                kept=cid in final_rank,
            )
        )
    return RetrievalTrace(
        query=query,
        params=params,
        requested_mode=requested,
        candidates=tuple(candidates),
        timings_ms=timings,
        embedding_model=embedder.name,
        reranker=reranker_status,
    )


def documents_from_trace(candidates: Sequence[Candidate], score_of) -> list[tuple[str, float]]:
    """Collapse chunks to documents: each document scored by its best chunk (for TREC runs).

    Args:
        candidates: Candidates in final order.
        score_of: Function Candidate -> float (higher is better).

    Returns:
        ``(external_id or document id, score)`` best first, one entry per document.
    """
    best: dict[str, float] = {}
    for candidate in candidates:
        key = candidate.external_id or str(candidate.document_id)
        score = score_of(candidate)
        if key not in best or score > best[key]:
            best[key] = score
    return sorted(best.items(), key=lambda pair: pair[1], reverse=True)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000.0, 3)
