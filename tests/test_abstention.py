"""Abstention: evidence signals on a real collection, the fitted model's decisions, overrides, old answers."""

from __future__ import annotations

import pytest

from rag import chat
from rag.abstention import DEFAULT_MODEL, EvidenceSignals, content_terms, decide, stem
from rag.answer import Answer
from rag.prompting import ABSTAIN_TEXT
from rag.retrieval import SearchParams

HYBRID = SearchParams(mode="hybrid", k=3)
ANSWERABLE = "How do I reclaim disk space with VACUUM FULL?"
OFF_TOPIC = "Who won the football world cup in 1998?"

MANUAL = """# Routine maintenance

## Vacuuming

PostgreSQL databases require periodic maintenance known as vacuuming. Plain VACUUM removes dead row
versions and makes the space available for re-use within the table, without an exclusive lock.

VACUUM FULL rewrites the entire contents of the table into a new disk file with no extra space,
allowing unused space to be returned to the operating system and reclaim disk space. It needs an
ACCESS EXCLUSIVE lock on the table while it runs.

## Write-ahead log

The write-ahead log (WAL) records every change before it is written to the data files, so that after
a crash the database can be recovered by replaying the log records.

## BRIN indexes

BRIN stands for Block Range Index. A BRIN index stores summaries of the values in consecutive
physical block ranges of a table and is useful for very large, naturally ordered tables.
"""


@pytest.fixture
def manual(engine):
    [result] = engine.ingestor().ingest_bytes(MANUAL.encode(), "maintenance.md")
    assert result.status == "new"
    return result


@pytest.fixture
def model_engine(engine):
    """The engine with no fixed cosine gate, so the evidence model decides."""
    engine.settings = engine.settings.with_(abstain_threshold=None)
    return engine


def _signals(engine, question: str) -> EvidenceSignals:
    return EvidenceSignals.from_trace(question, engine.search(question, HYBRID))


def test_content_terms_drop_question_words_and_stem():
    assert stem("vacuuming") == "vacuum" and stem("indexes") == "index" and stem("policies") == "policy"
    assert content_terms("What does BRIN stand for?") == ["brin"]
    assert content_terms("How are the WAL records replayed?") == ["wal", "record", "replay"]
    assert content_terms("What is it?") == []


def test_signals_answerable_question_is_covered_off_topic_is_not(engine, manual):
    good = _signals(engine, ANSWERABLE)
    assert good.terms == 5 and good.covered == 5 and good.coverage == 1.0  # reclaim disk space vacuum full
    assert good.lexical_found and good.bm25_per_term > 0 and good.agreement is not None
    assert good.rerank_score is None and good.passages >= 1

    bad = _signals(engine, OFF_TOPIC)
    assert bad.covered == 0 and bad.coverage == 0.0
    assert not bad.lexical_found and bad.bm25_per_term == 0.0
    assert bad.similarity < good.similarity


def test_signals_without_a_lexical_list_have_no_agreement(engine, manual):
    signals = EvidenceSignals.from_trace(
        ANSWERABLE, engine.search(ANSWERABLE, SearchParams(mode="vector", k=3))
    )
    assert signals.agreement is None and signals.similarity is not None
    assert 0.0 <= DEFAULT_MODEL.probability(signals) <= 1.0  # the neutral value stands in


def test_default_model_answers_the_covered_question_and_declines_off_topic(engine, manual):
    good = DEFAULT_MODEL.decide(_signals(engine, ANSWERABLE))
    bad = DEFAULT_MODEL.decide(_signals(engine, OFF_TOPIC))
    assert good.answer and good.probability >= DEFAULT_MODEL.cut and good.rule == "model"
    assert "cover 5 of 5 question terms" in good.reason
    assert not bad.answer and bad.probability < DEFAULT_MODEL.cut
    assert "cover 0 of" in bad.reason and "is low" in bad.reason
    # threshold is the cosine boundary: the decision agrees with "evidence < threshold".
    for d in (good, bad):
        assert d.answer == (d.evidence >= d.threshold)


def test_model_without_passages_declines():
    empty = EvidenceSignals(None, None, 2, 0, False, 0.0, None, None, 0)
    decision = DEFAULT_MODEL.decide(empty)
    assert not decision.answer and decision.probability == 0.0 and decision.evidence is None


def test_ask_declines_off_topic_before_the_llm_and_answers_the_covered_question(
    model_engine, manual, monkeypatch
):
    stream = chat.ask(model_engine, ANSWERABLE, params=HYBRID, mock_response="It rewrites the table [1].")
    list(stream)
    answered = stream.answer
    assert not answered.abstained and answered.decision_probability >= DEFAULT_MODEL.cut
    assert answered.evidence >= answered.threshold and "answering" in answered.decision_reason

    import litellm

    def no_call(*args, **kwargs):
        raise AssertionError("the LLM must not be called when abstaining")

    monkeypatch.setattr(litellm, "completion", no_call)
    stream = chat.ask(model_engine, OFF_TOPIC, params=HYBRID)
    assert "".join(stream) == ABSTAIN_TEXT
    declined = stream.answer
    assert declined.abstained and declined.abstained_before_llm
    assert declined.decision_probability < DEFAULT_MODEL.cut and "is low" in declined.decision_reason
    assert declined.evidence < declined.threshold


def test_collection_threshold_overrides_the_model(model_engine, manual):
    trace = model_engine.search(ANSWERABLE, HYBRID)
    assert decide(ANSWERABLE, trace, {}, None).answer
    strict = decide(ANSWERABLE, trace, {"abstain_threshold": 0.99}, None)
    assert not strict.answer and strict.rule == "cosine" and strict.threshold == 0.99
    assert "threshold 0.99" in strict.reason
    # The calibrated collection value wins over a configured default and over abstain_probability.
    assert decide(ANSWERABLE, trace, {"abstain_threshold": -1.0, "abstain_probability": 0.999}, 0.99).answer
    assert not decide(ANSWERABLE, trace, {"abstain_probability": 0.999}, None).answer
    assert not decide(ANSWERABLE, trace, {}, 0.99).answer  # Settings.abstain_threshold: cosine gate

    model_engine.update_collection_settings({"abstain_threshold": 0.99})
    stream = chat.ask(model_engine, ANSWERABLE, params=HYBRID)
    list(stream)
    assert stream.answer.abstained_before_llm and stream.answer.threshold == 0.99


def test_abstain_probability_must_be_a_probability():
    with pytest.raises(ValueError, match="abstain_probability"):
        DEFAULT_MODEL.with_cut(1.5)


def test_answers_stored_before_the_decision_fields_still_load(model_engine, manual):
    stream = chat.ask(model_engine, OFF_TOPIC, params=HYBRID)
    list(stream)
    data = stream.answer.to_dict()
    again = Answer.from_dict(data)
    assert again.decision_reason == stream.answer.decision_reason
    assert again.decision_probability == pytest.approx(stream.answer.decision_probability)
    old = {k: v for k, v in data.items() if k not in ("decision_probability", "decision_reason")}
    loaded = Answer.from_dict(old)
    assert loaded.decision_probability is None and loaded.decision_reason == ""
    assert loaded.abstained and loaded.evidence == pytest.approx(stream.answer.evidence)
