"""Tests of rag.evaluation: dataset readers, retrieval metrics, answer scoring, calibration.

Expected values are worked out by hand in each test; no database and no models.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from rag.errors import ConfigError, NotFound
from rag.evaluation.answers import (
    AnswerRecord,
    normalize_answer,
    question_scores,
    record_f1,
    score_answers,
    token_f1,
)
from rag.evaluation.calibration import fit_abstention_threshold
from rag.evaluation.datasets import load_beir, load_qa, load_queries, read_trec_run, write_trec_run
from rag.evaluation.metrics import latency_summary, retrieval_metrics

SCIFACT = Path("/work/shared/data/scifact")
CLAPNQ = Path("/work/shared/data/clapnq-dev")
needs_scifact = pytest.mark.skipif(not SCIFACT.is_dir(), reason="SciFact copy not present")
needs_clapnq = pytest.mark.skipif(not CLAPNQ.is_dir(), reason="ClapNQ dev copy not present")


def _write_beir(root: Path, queries: list[dict], qrels_lines: list[str], split: str = "test") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "corpus.jsonl").write_text('{"_id": "d1", "title": "", "text": "x"}\n', encoding="utf-8")
    (root / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries), encoding="utf-8")
    (root / "qrels").mkdir(exist_ok=True)
    (root / "qrels" / f"{split}.tsv").write_text("\n".join(qrels_lines) + "\n", encoding="utf-8")
    return root


# --- datasets ---------------------------------------------------------------------------------------


@needs_scifact
def test_load_beir_scifact_train_counts() -> None:
    data = load_beir(SCIFACT, "train")
    assert len(data.queries) == 809
    assert sum(len(docs) for docs in data.qrels.values()) == 919
    assert set(data.queries) == set(data.qrels)
    assert data.corpus_path == SCIFACT / "corpus.jsonl"
    assert data.qrels["0"] == {"31715818": 1}
    assert data.queries["0"] == "0-dimensional biomaterials lack inductive properties."


@needs_scifact
def test_load_beir_unknown_split_names_path_and_available_splits() -> None:
    with pytest.raises(NotFound) as info:
        load_beir(SCIFACT, "test")
    message = str(info.value)
    assert str(SCIFACT / "qrels" / "test.tsv") in message
    assert "available splits: train" in message
    assert "corpus.jsonl" in message


def test_load_beir_missing_directory_and_files(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="does not exist"):
        load_beir(tmp_path / "nowhere", "test")
    root = _write_beir(
        tmp_path / "ds", [{"_id": "q1", "text": "t"}], ["query-id\tcorpus-id\tscore", "q1\td1\t1"]
    )
    (root / "queries.jsonl").unlink()
    with pytest.raises(NotFound) as info:
        load_beir(root, "test")
    assert str(root / "queries.jsonl") in str(info.value)


def test_load_beir_keeps_only_judged_queries(tmp_path: Path) -> None:
    root = _write_beir(
        tmp_path / "ds",
        [{"_id": "q1", "text": "first"}, {"_id": "q2", "text": "unjudged"}, {"_id": 3, "text": "third"}],
        ["query-id\tcorpus-id\tscore", "q1\td1\t1", "q1\td2\t0", "3\td1\t2"],
    )
    data = load_beir(root, "test")
    assert data.queries == {"q1": "first", "3": "third"}
    assert data.qrels == {"q1": {"d1": 1, "d2": 0}, "3": {"d1": 2}}


def test_load_beir_rejects_bad_header_score_and_unknown_query(tmp_path: Path) -> None:
    queries = [{"_id": "q1", "text": "t"}]
    root = _write_beir(tmp_path / "a", queries, ["q1\td1\t1"])
    with pytest.raises(ConfigError, match="header"):
        load_beir(root, "test")
    root = _write_beir(tmp_path / "b", queries, ["query-id\tcorpus-id\tscore", "q1\td1\thigh"])
    with pytest.raises(ConfigError, match=r"test\.tsv:2 score 'high'"):
        load_beir(root, "test")
    root = _write_beir(tmp_path / "c", queries, ["query-id\tcorpus-id\tscore", "q9\td1\t1"])
    with pytest.raises(ConfigError, match="q9"):
        load_beir(root, "test")


def test_load_queries_needs_no_qrels(tmp_path: Path) -> None:
    path = tmp_path / "queries.jsonl"
    path.write_text('{"_id": 7, "text": "seven"}\n\n{"_id": "q2", "text": "two"}\n', encoding="utf-8")
    assert load_queries(path) == {"7": "seven", "q2": "two"}
    path.write_text('{"_id": "q1"}\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"queries\.jsonl:1 needs the fields '_id' and 'text'"):
        load_queries(path)
    with pytest.raises(NotFound, match="does not exist"):
        load_queries(tmp_path / "missing.jsonl")


@needs_clapnq
def test_load_qa_clapnq_dev() -> None:
    items = load_qa(CLAPNQ)
    assert len(items) == 303
    answerable = [item for item in items if item.answerable]
    unanswerable = [item for item in items if not item.answerable]
    assert len(answerable) == 150
    assert all(item.gold_passage_id and item.answers for item in answerable)
    assert all(item.gold_passage_id is None and item.answers == () for item in unanswerable)
    first = items[0]
    assert first.id == "6401197308716204890"
    assert first.question == "which method of forecasting uses averages to predict future weather"
    assert first.gold_passage_id == "820769473_15895-16818"
    assert isinstance(first.answers, tuple)


def test_load_qa_errors(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match=r"qa\.jsonl"):
        load_qa(tmp_path)
    (tmp_path / "qa.jsonl").write_text(
        '{"id": "1", "question": "q", "answerable": "yes"}\n', encoding="utf-8"
    )
    with pytest.raises(ConfigError, match=r"qa\.jsonl:1 field 'answerable'"):
        load_qa(tmp_path)
    (tmp_path / "qa.jsonl").write_text('{"id": "1", "question": "q", "answerable": true}\nnot json\n')
    with pytest.raises(ConfigError, match=r"qa\.jsonl:2 is not valid JSON"):
        load_qa(tmp_path)


def test_trec_run_round_trip_and_ranking(tmp_path: Path) -> None:
    run = {"q2": {"a": 0.5, "b": 2.0, "c": 0.5}, "q1": {"x": -1.25}}
    path = tmp_path / "runs" / "r.trec"
    write_trec_run(run, path, "bm25")
    lines = path.read_text(encoding="utf-8").splitlines()
    # q1 before q2; in q2 score descending, the 0.5 tie ordered by doc id descending (c before a).
    assert lines == [
        "q1 Q0 x 1 -1.25 bm25",
        "q2 Q0 b 1 2.0 bm25",
        "q2 Q0 c 2 0.5 bm25",
        "q2 Q0 a 3 0.5 bm25",
    ]
    assert read_trec_run(path) == run


def test_trec_run_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="tag"):
        write_trec_run({"q": {"d": 1.0}}, tmp_path / "r", "my run")
    with pytest.raises(ConfigError, match="document id"):
        write_trec_run({"q": {"d 1": 1.0}}, tmp_path / "r", "t")
    with pytest.raises(NotFound):
        read_trec_run(tmp_path / "missing")
    bad = tmp_path / "bad"
    bad.write_text("q1 Q0 d1 1 0.5 t\nq1 Q0 d2 2 0.4\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad:2 must have 6 fields"):
        read_trec_run(bad)
    bad.write_text("q1 Q0 d1 1 0.5 t\nq1 Q0 d1 2 0.4 t\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="twice"):
        read_trec_run(bad)


# --- retrieval metrics ------------------------------------------------------------------------------


def _ranked(*docids: str) -> dict[str, float]:
    """A run entry with the given documents at ranks 1, 2, ... (scores descending)."""
    return {docid: float(len(docids) - i) for i, docid in enumerate(docids)}


def test_retrieval_metrics_by_hand() -> None:
    qrels = {
        "q1": {"d1": 1, "d3": 1},
        "q2": {"a": 1},
        "q3": {"r1": 1, "r2": 1},
        "q4": {"z": 1},
        "q5": {"g2": 2, "g1": 1},
    }
    run = {
        "q1": _ranked("d1", "d2", "d3"),  # relevant at ranks 1 and 3
        "q2": _ranked("x", "y", "a"),  # relevant at rank 3
        "q3": _ranked(*[f"n{i}" for i in range(11)], "r1"),  # r1 at rank 12, r2 not retrieved
        # q4 is missing from the run: it must count as 0 (trec_eval -c).
        "q5": _ranked("g1", "g2"),  # grades 1 then 2
        "q_extra": _ranked("d1"),  # not judged: ignored
    }
    result = retrieval_metrics(qrels, run)

    # q1: DCG = 1/log2(2) + 1/log2(4) = 1.5; IDCG = 1/log2(2) + 1/log2(3).
    ndcg_q1 = (1 / math.log2(2) + 1 / math.log2(4)) / (1 / math.log2(2) + 1 / math.log2(3))
    # q2: DCG = 1/log2(4) = 0.5; IDCG = 1/log2(2) = 1.
    ndcg_q2 = 0.5
    # q5: trec_eval gain = grade: DCG = 1/log2(2) + 2/log2(3); IDCG = 2/log2(2) + 1/log2(3).
    ndcg_q5 = (1 + 2 / math.log2(3)) / (2 + 1 / math.log2(3))
    expected = {
        "q1": {"ndcg_at_10": ndcg_q1, "recall_at_10": 1.0, "recall_at_100": 1.0, "mrr_at_10": 1.0},
        "q2": {"ndcg_at_10": ndcg_q2, "recall_at_10": 1.0, "recall_at_100": 1.0, "mrr_at_10": 1 / 3},
        # q3: nothing relevant in the top 10; 1 of 2 relevant in the top 100.
        "q3": {"ndcg_at_10": 0.0, "recall_at_10": 0.0, "recall_at_100": 0.5, "mrr_at_10": 0.0},
        "q4": {"ndcg_at_10": 0.0, "recall_at_10": 0.0, "recall_at_100": 0.0, "mrr_at_10": 0.0},
        "q5": {"ndcg_at_10": ndcg_q5, "recall_at_10": 1.0, "recall_at_100": 1.0, "mrr_at_10": 1.0},
    }
    assert set(result.per_query) == set(qrels)
    for qid, values in expected.items():
        assert result.per_query[qid] == pytest.approx(values), qid
    assert result.ndcg_at_10 == pytest.approx((ndcg_q1 + ndcg_q2 + ndcg_q5) / 5)
    assert result.recall_at_10 == pytest.approx(3 / 5)
    assert result.recall_at_100 == pytest.approx(3.5 / 5)
    assert result.mrr_at_10 == pytest.approx((1 + 1 / 3 + 1) / 5)


def test_retrieval_metrics_missing_query_counts_as_zero() -> None:
    qrels = {"q1": {"d1": 1}, "q2": {"d2": 1}}
    full = retrieval_metrics(qrels, {"q1": {"d1": 1.0}, "q2": {"d2": 1.0}})
    assert full.ndcg_at_10 == pytest.approx(1.0)
    for run in ({"q1": {"d1": 1.0}}, {"q1": {"d1": 1.0}, "q2": {}}):
        half = retrieval_metrics(qrels, run)
        assert half.per_query["q2"] == {
            "ndcg_at_10": 0.0,
            "recall_at_10": 0.0,
            "recall_at_100": 0.0,
            "mrr_at_10": 0.0,
        }
        assert (half.ndcg_at_10, half.recall_at_10, half.recall_at_100, half.mrr_at_10) == pytest.approx(
            (0.5, 0.5, 0.5, 0.5)
        )
    empty = retrieval_metrics(qrels, {})
    assert (empty.ndcg_at_10, empty.mrr_at_10) == (0.0, 0.0)


def test_retrieval_metrics_ties_follow_trec_eval_order(tmp_path: Path) -> None:
    # Equal scores: trec_eval ranks doc id "b" before "a" (descending id), so the relevant "a" is rank 2
    # for every measure (ir_measures' RR@10 provider alone would put "a" first).
    qrels = {"q": {"a": 1}}
    run = {"q": {"a": 1.0, "b": 1.0}}
    result = retrieval_metrics(qrels, run)
    assert result.mrr_at_10 == pytest.approx(0.5)
    assert result.ndcg_at_10 == pytest.approx(1 / math.log2(3))
    assert result.recall_at_10 == 1.0
    write_trec_run(run, tmp_path / "r", "t")
    assert (tmp_path / "r").read_text().splitlines()[1] == "q Q0 a 2 1.0 t"


def test_retrieval_metrics_rejects_empty_qrels() -> None:
    with pytest.raises(ConfigError, match="qrels is empty"):
        retrieval_metrics({}, {"q": {"d": 1.0}})


def test_latency_summary() -> None:
    summary = latency_summary([40.0, 10.0, 30.0, 20.0])
    # Sorted 10, 20, 30, 40. p50 = (20 + 30) / 2; p95 at position 0.95 * 3 = 2.85 -> 30 + 0.85 * 10.
    assert summary.p50_ms == pytest.approx(25.0)
    assert summary.p95_ms == pytest.approx(38.5)
    assert summary.mean_ms == pytest.approx(25.0)
    assert summary.n == 4
    empty = latency_summary([])
    assert (empty.p50_ms, empty.p95_ms, empty.mean_ms, empty.n) == (None, None, None, 0)
    with pytest.raises(ConfigError, match="-1"):
        latency_summary([5.0, -1.0])


# --- answers ----------------------------------------------------------------------------------------


def _record(**overrides: object) -> AnswerRecord:
    fields: dict[str, object] = {
        "question_id": "q",
        "answerable": True,
        "abstained": False,
        "answer_text": "",
        "references": (),
        "cited_external_ids": (),
        "gold_external_id": None,
        "dangling_markers": 0,
        "valid_citations": 0,
        "evidence": 0.5,
        "latency_ms": 100.0,
        "prompt_tokens": 0,
        "completion_tokens": 0,
    }
    fields.update(overrides)
    return AnswerRecord(**fields)  # type: ignore[arg-type]


def test_squad_normalisation_and_f1() -> None:
    assert normalize_answer("The  Cat, an apple!") == "cat apple"
    assert token_f1("The cat.", "a CAT") == 1.0
    # pred "paris is capital of france" (5 tokens) vs "paris": P = 1/5, R = 1 -> F1 = 1/3.
    assert token_f1("Paris is the capital of France", "Paris") == pytest.approx(1 / 3)
    assert token_f1("the", "") == 1.0  # both empty after normalisation
    assert token_f1("cat", "") == 0.0
    assert token_f1("dog", "cat") == 0.0


def test_score_answers_by_hand() -> None:
    records = [
        # Answerable, answered, cites the gold. F1: "cat sat on mat" vs "cat sat on mat" = 1.
        # ROUGE-L keeps articles: [the cat sat on the mat] vs [a cat sat on a mat], LCS 4 -> P = R = 4/6.
        _record(
            question_id="r1",
            answer_text="The cat sat on the mat [1].",
            references=("a cat sat on a mat",),
            cited_external_ids=("d1",),
            gold_external_id="d1",
            valid_citations=1,
            latency_ms=100.0,
            prompt_tokens=50,
            completion_tokens=10,
        ),
        # Answerable, answered, one dangling marker, misses the gold.
        # F1 (pred "paris is capital of france"): vs "paris" 1/3;
        # vs "capital is paris" P = 3/5, R = 1 -> 0.75.
        # ROUGE-L (6 pred tokens): vs [paris] P = 1/6, R = 1 -> 2/7; vs [the capital is paris] LCS 2
        # ("the capital") -> P = 2/6, R = 2/4 -> 0.4.
        _record(
            question_id="r2",
            answer_text="Paris is the capital of France [2].",
            references=("Paris", "The capital is Paris"),
            cited_external_ids=("d5",),
            gold_external_id="d2",
            dangling_markers=1,
            valid_citations=1,
            latency_ms=200.0,
            prompt_tokens=70,
            completion_tokens=20,
        ),
        # Answerable, abstained: FP.
        _record(question_id="r3", abstained=True, references=("x",), gold_external_id="d3", latency_ms=50.0),
        # Unanswerable, abstained: TP.
        _record(question_id="r4", answerable=False, abstained=True, latency_ms=40.0),
        # Unanswerable, answered without citation: FN, uncited.
        _record(
            question_id="r5",
            answerable=False,
            answer_text="It is blue.",
            latency_ms=300.0,
            prompt_tokens=60,
            completion_tokens=15,
        ),
        # Answerable, answered, cites the gold, no reference answer: not in F1/ROUGE.
        _record(
            question_id="r6",
            answer_text="Yes [1]",
            cited_external_ids=("d9",),
            gold_external_id="d9",
            valid_citations=1,
            latency_ms=150.0,
            prompt_tokens=40,
            completion_tokens=5,
        ),
    ]
    m = score_answers(records)
    assert m.n == 6
    assert m.n_answered == 4  # r1, r2, r5, r6
    assert m.citation_validity == pytest.approx(2 / 4)  # r1, r6 (r2 dangling, r5 uncited)
    assert m.dangling_markers_total == 1
    assert m.uncited_answers == 1
    assert m.gold_citation_rate == pytest.approx(2 / 3)  # r1, r6 of r1, r2, r6
    # TP = 1 (r4), FP = 1 (r3), FN = 1 (r5), TN = 3 (r1, r2, r6).
    assert m.abstention_precision == pytest.approx(1 / 2)
    assert m.abstention_recall == pytest.approx(1 / 2)
    assert m.abstention_balanced_accuracy == pytest.approx((1 / 2 + 3 / 4) / 2)
    assert m.n_scored == 2
    assert m.answer_f1 == pytest.approx((1.0 + 0.75) / 2)
    assert m.rouge_l == pytest.approx((2 / 3 + 0.4) / 2)
    # Latencies sorted 40, 50, 100, 150, 200, 300: p50 = 125; p95 at 0.95 * 5 = 4.75 -> 200 + 0.75 * 100.
    assert m.latency_p50_ms == pytest.approx(125.0)
    assert m.latency_p95_ms == pytest.approx(275.0)
    assert m.mean_prompt_tokens == pytest.approx(220 / 6)
    assert m.mean_completion_tokens == pytest.approx(50 / 6)


def test_score_answers_undefined_ratios_are_none() -> None:
    empty = score_answers([])
    assert empty.n == 0
    for value in (
        empty.citation_validity,
        empty.gold_citation_rate,
        empty.abstention_precision,
        empty.abstention_recall,
        empty.abstention_balanced_accuracy,
        empty.answer_f1,
        empty.rouge_l,
        empty.latency_p50_ms,
        empty.mean_prompt_tokens,
    ):
        assert value is None
    # Only answerable questions, none abstained: no positives, so precision/recall/BA are undefined.
    only_answerable = score_answers([_record(answer_text="x", references=("x",))])
    assert only_answerable.abstention_precision is None
    assert only_answerable.abstention_recall is None
    assert only_answerable.abstention_balanced_accuracy is None
    assert only_answerable.citation_validity == 0.0  # defined (1 answered) and zero, not None
    assert only_answerable.gold_citation_rate is None  # no gold id known
    assert only_answerable.answer_f1 == 1.0


def test_per_question_f1_and_scores() -> None:
    answered = _record(
        answer_text="Paris is the capital of France [2].", references=("Paris", "capital is Paris")
    )
    assert record_f1(answered) == pytest.approx(0.75)  # the best reference, markers removed
    assert record_f1(_record(answer_text="x")) is None  # no reference
    assert record_f1(_record(abstained=True, references=("x",))) is None
    assert record_f1(_record(answerable=False, answer_text="x", references=("x",))) is None
    scores = question_scores(
        _record(answer_text="y" * 600, references=("y",), cited_external_ids=("d1",), gold_external_id="d1")
    )
    assert scores["gold_cited"] is True and len(scores["answer"]) == 500 and scores["answer_f1"] == 0.0
    assert question_scores(_record(gold_external_id=None))["gold_cited"] is False
    # The mean of the per-question F1 is the run's answer F1.
    assert score_answers([answered]).answer_f1 == record_f1(answered)


# --- calibration ------------------------------------------------------------------------------------


def _balanced_accuracy(evidence: np.ndarray, answerable: np.ndarray, threshold: float) -> float:
    abstain = evidence < threshold
    return (abstain[~answerable].mean() + (~abstain[answerable]).mean()) / 2


def test_calibration_separable() -> None:
    evidence = [0.1, 0.7, 0.2, 0.6, 0.3]
    answerable = [False, True, False, True, False]
    cal = fit_abstention_threshold(evidence, answerable)
    assert cal.balanced_accuracy == 1.0
    assert (cal.abstain_recall, cal.answer_recall, cal.n) == (1.0, 1.0, 5)
    assert cal.threshold == pytest.approx(0.45)  # middle of (0.3, 0.6]


def test_calibration_overlapping_matches_brute_force() -> None:
    rng = np.random.default_rng(7)
    answerable = np.array([True] * 40 + [False] * 25)
    evidence = np.round(np.where(answerable, rng.normal(0.6, 0.15, 65), rng.normal(0.45, 0.15, 65)), 2)
    cal = fit_abstention_threshold(evidence.tolist(), answerable.tolist())

    values = np.unique(evidence)
    grid = np.concatenate(([values[0] - 1], (values[:-1] + values[1:]) / 2, [values[-1] + 1]))
    best = max(_balanced_accuracy(evidence, answerable, t) for t in grid)
    assert best < 1.0  # the classes overlap
    assert cal.balanced_accuracy == pytest.approx(best)
    assert _balanced_accuracy(evidence, answerable, cal.threshold) == pytest.approx(best)
    abstain = evidence < cal.threshold
    assert cal.abstain_recall == pytest.approx(abstain[~answerable].mean())
    assert cal.answer_recall == pytest.approx((~abstain[answerable]).mean())


def test_calibration_tie_takes_middle_of_best_interval() -> None:
    # Nu = Na = 2. Abstaining below 0.5 or below 0.9 both give BA 0.75 (the 0.5 value holds one of each),
    # so every t in (0.1, 0.9] is best: the middle is 0.5.
    cal = fit_abstention_threshold([0.1, 0.5, 0.5, 0.9], [False, False, True, True])
    assert cal.threshold == pytest.approx(0.5)
    assert cal.balanced_accuracy == pytest.approx(0.75)
    # Two separate best intervals, (0.1, 0.2] and (0.3, 0.6]: the wider one wins, middle 0.45.
    cal = fit_abstention_threshold([0.1, 0.2, 0.3, 0.6], [False, True, False, True])
    assert cal.threshold == pytest.approx(0.45)
    assert cal.balanced_accuracy == pytest.approx(0.75)


def test_calibration_degenerate_and_invalid_inputs() -> None:
    same = fit_abstention_threshold([0.4, 0.4], [True, False])
    assert same.balanced_accuracy == 0.5
    with pytest.raises(ConfigError, match="both answerable and unanswerable"):
        fit_abstention_threshold([0.1, 0.2], [True, True])
    with pytest.raises(ConfigError, match="equally long"):
        fit_abstention_threshold([0.1, 0.2], [True])
    with pytest.raises(ConfigError, match="finite"):
        fit_abstention_threshold([0.1, float("nan")], [True, False])
