"""End-to-end evaluation on a tiny BEIR-shaped set the test writes, stored runs and comparison."""

from __future__ import annotations

import json

import pytest

from rag.cli import main
from rag.errors import RagError
from rag.evaluation.corpus import ingest_corpus
from rag.evaluation.retrieval_eval import evaluate_retrieval
from rag.evaluation.runs import compare_runs, get_run, store_run

CORPUS = [
    {"_id": "d1", "title": "Volcanoes", "text": "Volcanic eruptions release lava, ash and sulfur dioxide."},
    {"_id": "d2", "title": "Glaciers", "text": "Glaciers form where snow accumulates faster than it melts."},
    {"_id": "d3", "title": "Coral reefs", "text": "Coral reefs bleach when ocean temperatures rise."},
    {"_id": "d4", "title": "Deserts", "text": "Deserts receive less than 250 millimetres of rain per year."},
]
QUERIES = [
    {"_id": "q1", "text": "what do volcanic eruptions release"},
    {"_id": "q2", "text": "why do coral reefs bleach"},
    {"_id": "q3", "text": "how do glaciers form from snow"},
]
QRELS = "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td3\t1\nq3\td2\t1\n"


@pytest.fixture
def beir_dir(tmp_path):
    root = tmp_path / "tiny"
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in CORPUS))
    (root / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in QUERIES))
    (root / "qrels" / "test.tsv").write_text(QRELS)
    return root


def test_evaluate_retrieval_scores_every_mode_and_writes_runs(engine, beir_dir, tmp_path):
    name, results, counts = evaluate_retrieval(
        engine, beir_dir, "test", collection=engine.settings.collection, run_dir=tmp_path / "runs", depth=10
    )
    assert counts == {"new": 4}
    assert [r.mode for r in results] == [
        "lexical",
        "vector",
        "hybrid",
    ]  # no reranker: rerank skipped, not faked
    for result in results:
        # Each query's relevant document is ranked first: nDCG@10 = MRR@10 = recall = 1.
        assert result.metrics.ndcg_at_10 == pytest.approx(1.0), result.mode
        assert result.metrics.mrr_at_10 == pytest.approx(1.0)
        lines = result.run_path.read_text().splitlines()
        assert lines[0].split()[:4] == ["q1", "Q0", "d1", "1"]
        assert {"total", "lexical" if result.mode != "vector" else "vector"} <= set(result.latency)
    # The corpus is reused when unchanged.
    _, _, counts_again = evaluate_retrieval(
        engine, beir_dir, "test", collection=name, run_dir=tmp_path / "runs", modes=("lexical",)
    )
    assert counts_again == {"unchanged": 4}


def test_a_corpus_that_fails_to_ingest_stops_the_evaluation(engine, tmp_path):
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(RagError, match="the corpus could not be ingested"):
        ingest_corpus(engine, tmp_path / "empty.txt", engine.settings.collection)


def test_stored_runs_compare_per_metric_and_per_query(engine):
    common = {
        "kind": "retrieval",
        "dataset": "tiny",
        "split": "test",
        "collection": "c",
        "config": {"k1": 0.9},
    }
    a = store_run(
        engine,
        mode="lexical",
        metrics={"ndcg_at_10": 0.5},
        per_query={"q1": {"ndcg_at_10": 1.0}, "q2": {"ndcg_at_10": 0.0}, "q3": {"ndcg_at_10": 0.5}},
        **common,
    )
    b = store_run(
        engine,
        mode="hybrid",
        metrics={"ndcg_at_10": 0.6},
        per_query={"q1": {"ndcg_at_10": 0.5}, "q2": {"ndcg_at_10": 1.0}, "q3": {"ndcg_at_10": 0.5}},
        **common,
    )
    comparison = compare_runs(get_run(engine, a), get_run(engine, b))
    [delta] = comparison.deltas
    assert delta.metric == "ndcg_at_10" and delta.delta == pytest.approx(0.1)
    assert [w[0] for w in comparison.wins] == ["q2"] and [loss[0] for loss in comparison.losses] == ["q1"]
    assert comparison.ties == 1
    assert get_run(engine, a).config == {"k1": 0.9}


def test_cli_search_batch_writes_a_trec_run(engine, beir_dir, tmp_path, monkeypatch, capsys):
    list(engine.ingestor().ingest_paths([beir_dir / "corpus.jsonl"]))
    monkeypatch.setenv("RAG_DATA_DIR", str(engine.db.data_dir))
    monkeypatch.setenv("RAG_RERANKER_MODEL", "")
    run = tmp_path / "run.trec"
    status = main(
        [
            "search",
            "--queries",
            str(beir_dir / "queries.jsonl"),
            "--run",
            str(run),
            "--mode",
            "lexical",
            "--collection",
            engine.settings.collection,
            "--depth",
            "3",
        ]
    )
    assert status == 0
    lines = run.read_text().splitlines()
    assert "q2 Q0 d3 1" in "\n".join(lines)
    assert all(len(line.split()) == 6 and line.endswith("rag-lexical") for line in lines)
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["mode"] == "lexical"
