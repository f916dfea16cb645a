"""BM25, vector search, RRF, filters and model checks against the real database."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest

from rag import Filters
from rag.errors import ConfigError, EmbeddingModelMismatch
from rag.fusion import reciprocal_rank_fusion
from rag.retrieval import SearchParams


def _ingest_jsonl(engine, tmp_path, rows):
    path = tmp_path / "corpus.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    results = list(engine.ingestor().ingest_paths([path]))
    assert all(r.status == "new" for r in results), results
    return {d.external_id: d.id for d in engine.documents()}


def test_bm25_matches_hand_computation(engine, tmp_path):
    # Titles are indexed with the text (they are the chunk's context header), so every lexeme counts:
    #   d1: alpha cat cat dog  (|d| = 4)   d2: beta cat bird (|d| = 3)   d3: gamma fish fish fish (|d| = 4)
    _ingest_jsonl(
        engine,
        tmp_path,
        [
            {"_id": "d1", "title": "alpha", "text": "cat cat dog"},
            {"_id": "d2", "title": "beta", "text": "cat bird"},
            {"_id": "d3", "title": "gamma", "text": "fish fish fish"},
        ],
    )
    k1, b = 1.2, 0.75
    n, avgdl = 3, 11 / 3

    def idf(df):
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    def term(tf, df, dl):
        return idf(df) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))

    expected_d1 = term(2, 2, 4) + term(1, 1, 4)  # cat x2, dog x1
    expected_d2 = term(1, 2, 3)  # cat x1
    trace = engine.search("cats and dogs", SearchParams(mode="lexical", k=5, candidates=10, k1=k1, b=b))
    scores = {c.external_id: c.bm25_score for c in trace.candidates}
    assert [c.external_id for c in trace.hits] == ["d1", "d2"]  # d3 shares no term
    assert scores["d1"] == pytest.approx(expected_d1, rel=1e-9)
    assert scores["d2"] == pytest.approx(expected_d2, rel=1e-9)
    # Stemming + stop words: "cats" -> cat, "dogs" -> dog, "and" dropped.
    assert trace.hits[0].lexical_rank == 1


def test_bm25_statistics_are_incremental(engine, tmp_path):
    ids = _ingest_jsonl(
        engine,
        tmp_path,
        [
            {"_id": "d1", "title": "alpha", "text": "cat cat dog"},
            {"_id": "d2", "title": "beta", "text": "cat bird"},
        ],
    )
    before = engine.search("bird", SearchParams(mode="lexical", k1=1.2, b=0.75)).hits[0].bm25_score
    engine.delete_documents([ids["d1"]])
    after = engine.search("bird", SearchParams(mode="lexical", k1=1.2, b=0.75)).hits[0].bm25_score
    # N went 2 -> 1 and avgdl 3.5 -> 3: idf(bird) = ln(1 + 0.5/1.5); d2 is now exactly average length.
    assert after == pytest.approx(math.log(1 + 0.5 / 1.5) * 2.2 / (1 + 1.2), rel=1e-9)
    assert after != pytest.approx(before)


def test_vector_and_hybrid_find_the_semantic_match(engine, tmp_path):
    _ingest_jsonl(
        engine,
        tmp_path,
        [
            {
                "_id": "felines",
                "title": "Domestic cats",
                "text": "Cats are small carnivorous mammals kept as pets.",
            },
            {"_id": "ocean", "title": "Tides", "text": "The moon's gravity causes ocean tides."},
            {"_id": "cpu", "title": "Processors", "text": "A CPU executes machine instructions."},
        ],
    )
    vector = engine.search("kitten pet animal", SearchParams(mode="vector", k=3))
    assert vector.hits[0].external_id == "felines"
    assert vector.hits[0].cosine_distance < vector.hits[1].cosine_distance
    hybrid = engine.search("what causes tides", SearchParams(mode="hybrid", k=2))
    top = hybrid.hits[0]
    assert top.external_id == "ocean" and top.lexical_rank == 1 and top.vector_rank == 1
    assert top.rrf_score == pytest.approx(2 / 61)
    assert set(hybrid.timings_ms) >= {"query_embedding", "lexical", "vector", "fusion"}
    # Requested rerank without a reranker falls back to hybrid, visibly.
    fallback = engine.search("tides", SearchParams(mode="rerank"))
    assert fallback.requested_mode == "rerank" and fallback.params.mode == "hybrid" and not fallback.reranked
    assert fallback.reranker.reason


def test_filters_apply_inside_sql_and_still_return_k(engine, tmp_path):
    rows = [
        {"_id": f"doc{i}", "title": f"Report {i}", "text": f"Annual report number {i} about revenue."}
        for i in range(12)
    ]
    ids = _ingest_jsonl(engine, tmp_path, rows)
    engine.ingestor().ingest_bytes(b"# Revenue\n\nRevenue grew in the markdown note.", "note.md")
    wanted = [ids["doc3"], ids["doc7"]]
    for mode in ("lexical", "vector", "hybrid"):
        trace = engine.search(
            "revenue report", SearchParams(mode=mode, k=5, filters=Filters(document_ids=wanted))
        )
        assert {h.document_id for h in trace.hits} == set(wanted), mode
        md = engine.search(
            "revenue", SearchParams(mode=mode, k=5, filters=Filters(media_types=["text/markdown"]))
        )
        assert [h.source_name for h in md.hits] == ["note.md"], mode
    # A filter that matches many rows still fills k.
    full = engine.search(
        "annual report",
        SearchParams(
            mode="vector", k=10, ef_search=10, filters=Filters(media_types=["application/x-ndjson"])
        ),
    )
    assert len(full.hits) == 10


def test_embedding_model_mismatch_is_detected(engine, tmp_path):
    _ingest_jsonl(engine, tmp_path, [{"_id": "a", "title": "A", "text": "some text"}])

    class Renamed:
        def __init__(self, inner):
            self._inner = inner
            self.name = "another-model"

        def __getattr__(self, attr):
            return getattr(self._inner, attr)

    engine._embedder = Renamed(engine.embedder)
    with pytest.raises(EmbeddingModelMismatch, match="rag reembed"):
        engine.search("text", SearchParams(mode="vector"))
    # Lexical search does not depend on vectors and keeps working.
    assert engine.search("text", SearchParams(mode="lexical")).hits
    report = engine.reembed()
    assert (report.stale_chunks, report.embedded + report.reused) == (1, 1)
    assert engine.search("text", SearchParams(mode="vector")).hits


def test_rrf_arithmetic():
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["c", "a"]], weights=[1.0, 2.0], k=60)
    scores = dict(fused)
    assert scores["a"] == pytest.approx(1 / 61 + 2 / 62)
    assert scores["b"] == pytest.approx(1 / 62)  # absent from list 2: no contribution
    assert scores["c"] == pytest.approx(1 / 63 + 2 / 61)
    assert [item for item, _ in fused] == ["c", "a", "b"]
    assert reciprocal_rank_fusion([["x"], ["y"]], k=0) == [("x", 1.0), ("y", 1.0)]
    assert reciprocal_rank_fusion([["x", "x"]], k=60) == [("x", pytest.approx(1 / 61))]
    with pytest.raises(ConfigError):
        reciprocal_rank_fusion([["x"]], weights=[1.0, 1.0])
    with pytest.raises(ConfigError):
        reciprocal_rank_fusion([["x"]], k=-1)


def test_search_params_validation():
    with pytest.raises(ConfigError, match="unknown search mode"):
        replace(SearchParams(), mode="fuzzy").validate()
