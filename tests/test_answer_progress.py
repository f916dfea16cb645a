"""An answer's stages as events, "answer anyway" after a decline, and the decline in plain words."""

from __future__ import annotations

import pytest

from helpers import make_pdf
from rag import ABSTAIN_TEXT, AnswerProgress, CannotAnswerAnyway, Engine
from rag.retrieval import SearchParams

HYBRID = SearchParams(mode="hybrid", k=3)
QUESTION = "How many vacation days do employees get?"
CITED = "Every employee receives 27 days of paid vacation per year [1]."


@pytest.fixture
def handbook(engine):
    pdf = make_pdf(
        [
            "Welcome to the employee handbook. This page lists office locations in Lisbon and Oslo.",
            "Vacation policy: every employee receives 27 days of paid vacation per year.",
        ]
    )
    [result] = engine.ingestor().ingest_bytes(pdf, "handbook.pdf")
    assert result.status == "new"
    return engine


def declining(engine: Engine, threshold: float | None = 0.99) -> Engine:
    """The engine with a cosine gate no passage reaches (``None``: the evidence model decides)."""
    engine.settings = engine.settings.with_(abstain_threshold=threshold)
    return engine


def ask(engine: Engine, question: str = QUESTION, **kwargs) -> tuple[list[AnswerProgress], object]:
    events: list[AnswerProgress] = []
    stream = engine.ask(question, params=HYBRID, on_progress=events.append, **kwargs)
    assert [e.stage for e in events] == ["search", "found"]  # retrieval is reported before streaming
    text = "".join(stream)
    assert text
    return events, stream.answer


def test_an_answer_reports_each_stage_as_it_starts(handbook):
    events, answer = ask(handbook, mock_response=CITED)
    assert [e.stage for e in events] == ["search", "found", "write", "verify", "done"]
    found = events[1]
    assert found.passages == len(answer.sources) == 2 and found.candidates >= found.passages
    assert found.query == QUESTION
    assert events[2].model == handbook.settings.llm_model
    elapsed = [e.elapsed_ms for e in events]
    assert elapsed == sorted(elapsed) and elapsed[-1] > 0
    assert not answer.below_threshold and answer.decision_rule == "cosine"


def test_a_decline_reports_no_writing_and_says_how_far_the_evidence_fell_short(handbook):
    events, answer = ask(declining(handbook), mock_response="never used")
    assert [e.stage for e in events] == ["search", "found", "declined", "done"]
    assert answer.abstained_before_llm and answer.text == ABSTAIN_TEXT
    assert answer.decision_rule == "cosine" and answer.threshold == 0.99
    assert (
        answer.evidence_statement()
        == f"Best passage similarity {answer.evidence:.2f}, below the 0.99 needed to answer"
    )

    _, off_topic = ask(declining(handbook, None), "What is the boiling point of mercury at sea level?")
    assert off_topic.abstained_before_llm and off_topic.decision_rule == "model"
    assert off_topic.decision_cut == 0.5 and off_topic.decision_probability < 0.5
    assert off_topic.evidence_statement() == (
        f"Evidence {off_topic.decision_probability:.2f}, below the 0.50 needed to answer"
    )


def test_answer_anyway_writes_a_cited_verified_answer_from_the_declined_passages(handbook):
    conversation = handbook.create_conversation("vacation", handbook.settings.collection)
    _, declined = ask(declining(handbook), conversation_id=conversation.id)
    assert declined.abstained_before_llm and declined.message_id is not None

    events: list[AnswerProgress] = []
    stream = handbook.answer_anyway(declined.message_id, mock_response=CITED, on_progress=events.append)
    assert "27 days" in "".join(stream)
    answer = stream.answer
    assert [e.stage for e in events] == ["write", "verify", "done"]
    assert answer.below_threshold and not answer.abstained and answer.verified
    assert [c.page_start for c in answer.citations] == [2]
    assert [s.chunk_id for s in answer.sources] == [s.chunk_id for s in declined.sources]
    assert answer.decision_reason == declined.decision_reason and answer.threshold == declined.threshold
    assert answer.timings_ms.keys() >= {"prompt_build", "generation", "verification", "total"}

    messages = handbook.messages(conversation.id)
    assert [m.role for m in messages] == ["user", "assistant", "user", "assistant"]
    assert messages[2].content == QUESTION and messages[1].answer.abstained  # the decline is kept
    stored = handbook.message(answer.message_id).answer
    assert stored.below_threshold and stored.citations == answer.citations

    with pytest.raises(CannotAnswerAnyway, match="not a declined answer"):
        handbook.answer_anyway(answer.message_id)
