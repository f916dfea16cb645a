"""Asking: citations, dangling markers, abstention before the LLM, conversations, follow-ups."""

from __future__ import annotations

from dataclasses import replace

import pytest

from helpers import make_pdf
from rag import chat
from rag.prompting import ABSTAIN_TEXT
from rag.retrieval import SearchParams

HYBRID = SearchParams(mode="hybrid", k=3)


@pytest.fixture
def handbook(engine):
    pdf = make_pdf(
        [
            "Welcome to the employee handbook. This page lists office locations in Lisbon and Oslo.",
            "Vacation policy: every employee receives 27 days of paid vacation per year.",
            "Expense policy: taxi receipts must be submitted within 30 days of travel.",
        ]
    )
    [result] = engine.ingestor().ingest_bytes(pdf, "handbook.pdf")
    assert result.status == "new"
    return result


def test_answer_maps_markers_to_pages_and_removes_dangling(engine, handbook):
    stream = chat.ask(
        engine,
        "How many vacation days do employees get?",
        params=HYBRID,
        mock_response="Employees receive 27 days of paid vacation [1]. See also [7].",
    )
    text = "".join(stream)
    answer = stream.answer
    assert "27 days" in text
    assert answer.dangling_markers == 1 and "[7]" not in answer.text and "[1]" in answer.text
    assert not answer.abstained and not answer.uncited
    [citation] = answer.citations
    assert citation.number == 1 and citation.source_name == "handbook.pdf"
    assert citation.page_start == 2 and "27 days" in citation.text
    assert answer.messages and answer.messages[0]["role"] == "system"
    assert "27 days" in answer.messages[-1]["content"]  # the passage is in the prompt
    assert answer.prompt_tokens > 0 and answer.completion_tokens > 0
    assert {
        "query_embedding",
        "lexical",
        "vector",
        "prompt_build",
        "time_to_first_token",
        "generation",
    } <= set(answer.timings_ms)


def test_answer_without_valid_citation_is_replaced_by_quoted_evidence(engine, handbook):
    stream = chat.ask(
        engine, "How many vacation days?", params=HYBRID, mock_response="About a month, I think."
    )
    list(stream)
    answer = stream.answer
    assert answer.extractive and not answer.verified
    assert (
        answer.model_text == "About a month, I think."
        and "it cites none of your documents" in answer.problems
    )
    assert "27 days" in answer.text.splitlines()[0]  # the best sentence answers the question
    assert answer.citations and answer.citations[0].page_start == 2 and not answer.uncited


def test_supported_cited_answer_is_verified(engine, handbook):
    stream = chat.ask(
        engine,
        "How many vacation days do employees get?",
        params=HYBRID,
        mock_response="Every employee receives 27 days of paid vacation per year [1].",
    )
    list(stream)
    answer = stream.answer
    assert answer.verified and not answer.extractive and answer.support[0].supported
    assert "verification" in answer.timings_ms


def test_cited_but_unsupported_sentence_fails_verification(engine, handbook):
    stream = chat.ask(
        engine,
        "How many vacation days do employees get?",
        params=HYBRID,
        mock_response="Employees get 27 days of vacation [1]. The office cafeteria serves free sushi on Fridays [1].",
    )
    list(stream)
    answer = stream.answer
    assert answer.extractive and not answer.verified
    assert [s.supported for s in answer.support] == [True, False]
    assert "1 of 2 sentences are not supported by the passage they cite" in answer.problems


def test_follow_up_rewrite_that_changes_the_subject_is_rejected(engine, handbook):
    conversation = engine.create_conversation("Rewrite guard")
    list(
        engine.ask(
            "How many vacation days do we get?",
            params=HYBRID,
            conversation_id=conversation.id,
            mock_response="27 days [1].",
        )
    )
    stream = engine.ask(
        "And how do taxi receipts work?",
        params=HYBRID,
        conversation_id=conversation.id,
        rewrite_mock_response="What is the default isolation level in PostgreSQL?",
        mock_response="Within 30 days [1].",
    )
    list(stream)
    answer = stream.answer
    assert answer.standalone_question == "And how do taxi receipts work?"
    assert answer.rewrite_note and "taxi" in answer.rewrite_note


def test_low_evidence_abstains_without_calling_the_llm(engine, handbook, monkeypatch):
    import litellm

    def no_call(*args, **kwargs):
        raise AssertionError("the LLM must not be called when abstaining")

    monkeypatch.setattr(litellm, "completion", no_call)
    engine.settings = engine.settings.with_(abstain_threshold=0.99)
    stream = chat.ask(engine, "What is the boiling point of tungsten?", params=HYBRID)
    assert "".join(stream) == ABSTAIN_TEXT
    answer = stream.answer
    assert answer.abstained and answer.abstained_before_llm and answer.evidence < 0.99
    assert answer.sources and answer.prompt_tokens == 0  # closest passages shown, no tokens spent


def test_model_declining_counts_as_abstention(engine, handbook):
    engine.settings = engine.settings.with_(abstain_threshold=-1.0)  # always reach the LLM
    stream = chat.ask(engine, "Who founded the company?", params=HYBRID, mock_response=ABSTAIN_TEXT)
    list(stream)
    assert stream.answer.abstained and not stream.answer.abstained_before_llm and not stream.answer.uncited


def test_conversation_is_stored_and_follow_up_rewritten(engine, handbook):
    conversation = engine.create_conversation("Handbook questions")
    first = chat.ask(
        engine,
        "How many vacation days do we get?",
        params=HYBRID,
        conversation_id=conversation.id,
        mock_response="27 days [1].",
    )
    list(first)
    follow = chat.ask(
        engine,
        "And what about taxi receipts?",
        params=HYBRID,
        conversation_id=conversation.id,
        rewrite_mock_response="How long do employees have to submit taxi receipts?",
        mock_response="Within 30 days [1].",
    )
    list(follow)
    answer = follow.answer
    assert answer.standalone_question == "How long do employees have to submit taxi receipts?"
    assert answer.citations[0].page_start == 3
    stored = engine.messages(conversation.id)
    assert [m.role for m in stored] == ["user", "assistant", "user", "assistant"]
    assert stored[0].answer is None and stored[-1].answer.citations[0].page_start == 3
    # The stored answer reads back as the same typed Answer (ids are set after storing).
    reloaded = engine.message(answer.message_id).answer
    assert reloaded == replace(answer, message_id=None, conversation_id=None)
    assert reloaded.trace.candidates and reloaded.messages
    engine.rename_conversation(conversation.id, "Renamed")
    assert any(c.title == "Renamed" for c in engine.conversations())
    engine.delete_conversation(conversation.id)
    assert all(c.id != conversation.id for c in engine.conversations())


def test_model_that_writes_nothing_in_time_gives_the_quoted_evidence(engine, handbook, monkeypatch):
    from rag.errors import LLMTimeout

    class SilentStream:
        text, finish_reason = "", "timeout"
        ttft_ms = generation_ms = prompt_tokens = completion_tokens = cost_usd = None

        def __iter__(self):
            raise LLMTimeout("local/smollm2 wrote nothing within 60 s")

    monkeypatch.setattr(chat, "stream_chat", lambda *args, **kwargs: SilentStream())
    stream = chat.ask(engine, "How many vacation days do employees get?", params=HYBRID)
    list(stream)
    answer = stream.answer
    assert answer.extractive and "the model ran out of time" in answer.problems
    assert "27 days" in answer.text and answer.citations


def test_rewrite_that_runs_out_of_time_searches_the_question_as_typed(engine, handbook, monkeypatch):
    from rag.errors import LLMTimeout

    def slow(*args, **kwargs):
        assert kwargs["timeout_s"] <= chat.REWRITE_TIMEOUT_S
        raise LLMTimeout("local/smollm2 did not answer in time")

    monkeypatch.setattr(chat, "chat", slow)
    history = [
        {"role": "user", "content": "Tell me about vacation."},
        {"role": "assistant", "content": "27 days [1]."},
    ]
    stream = chat.ask(engine, "And for it?", history=history, params=HYBRID, mock_response="27 days [1].")
    list(stream)
    assert stream.answer.standalone_question == "And for it?"
    assert stream.answer.rewrite_note == "the rewrite ran out of time"
