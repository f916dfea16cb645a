"""Asking a question: rewrite a follow-up -> retrieve -> abstain or prompt -> stream -> cited answer.

Abstention happens BEFORE the LLM call when :func:`rag.abstention.decide` declines (a logistic
regression over the retrieval's evidence signals, or a collection's calibrated cosine threshold from
``rag eval answers --calibrate``), so an unanswerable question costs no tokens and cannot be
hallucinated. Called through :meth:`rag.engine.Engine.ask`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from rag.abstention import decide
from rag.answer import Answer, AnswerStream, abstention, build_answer_messages, finish_answer
from rag.cleaning import clean_input
from rag.db import conversations
from rag.db.conversations import MessageRow
from rag.errors import LLMError, LLMTimeout
from rag.followup import check_rewrite, is_self_contained
from rag.llm import chat, stream_chat
from rag.prompting import ABSTAIN_TEXT, clean_rewrite, needs_rewrite, rewrite_messages
from rag.retrieval import SearchParams
from rag.verification import guard_answer

if TYPE_CHECKING:
    from rag.engine import Engine


REWRITE_TIMEOUT_S = 20.0
"""Wall-clock limit of the follow-up rewrite (seconds); past it the user's question is searched as typed."""


@dataclass(frozen=True)
class StoredMessage:
    """A stored chat turn; an assistant turn carries its full typed :class:`Answer`.

    Attributes:
        role: ``user`` or ``assistant``. content: The text shown.
        answer: The answer with citations and retrieval trace (``None`` for user turns and for
            assistant turns stored without one).
    """

    id: int
    conversation_id: int
    role: str
    content: str
    answer: Answer | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: MessageRow) -> StoredMessage:
        """Type a database row: the stored answer JSON becomes an :class:`Answer`."""
        answer = Answer.from_dict(row.answer) if row.answer else None
        return cls(row.id, row.conversation_id, row.role, row.content, answer, row.created_at)


def ask(
    engine: Engine,
    question: str,
    *,
    history: Sequence[dict] = (),
    collection: str | None = None,
    params: SearchParams | None = None,
    conversation_id: int | None = None,
    mock_response: str | Exception | None = None,
    rewrite_mock_response: str | None = None,
    max_tokens: int | None = None,
) -> AnswerStream:
    """Answer ``question`` from the collection, streaming; store the turn when ``conversation_id`` is given.

    Steps: rewrite a follow-up into a standalone question (only with history), retrieve, abstain
    without an LLM call when :func:`rag.abstention.decide` declines, else stream the LLM answer and map
    its ``[n]`` markers to passages.

    Args:
        engine: The engine.
        question: The user's question.
        history: Prior ``{"role", "content"}`` turns, oldest first (from the stored conversation when
            ``conversation_id`` is given and ``history`` is empty).
        collection: Collection to search (default the configured one).
        params: Retrieval parameters (default ``engine.default_params()``).
        conversation_id: Store the question and the answer in this conversation.
        mock_response: LiteLLM ``mock_response`` for the answer (tests).
        rewrite_mock_response: LiteLLM ``mock_response`` for the rewrite call (tests).
        max_tokens: Longest answer in tokens (default ``settings.max_answer_tokens``).

    Returns:
        An :class:`AnswerStream`: iterate for text deltas; ``.answer`` is set when it is exhausted.

    Raises:
        NotFound: collection or conversation missing. LLMError: the LLM call failed (raised while
            iterating; with ``conversation_id`` the question is stored first, with the error as the
            assistant's turn). EmbeddingModelMismatch: stored vectors come from another model.
    """
    question = clean_input(question)
    settings = engine.settings
    target = engine.collection(collection)
    if conversation_id is not None and not history:
        history = [{"role": m.role, "content": m.content} for m in engine.messages(conversation_id)]
    timings: dict[str, float] = {}
    total_started = time.perf_counter()

    standalone = question.strip()
    rewrite_tokens = (0, 0)
    rewrite_note: str | None = None
    if needs_rewrite(history) and not is_self_contained(question):
        started = time.perf_counter()
        try:
            result = chat(
                settings.llm_model,
                rewrite_messages(history, question),
                timeout_s=min(settings.answer_timeout_s, REWRITE_TIMEOUT_S),
                mock_response=rewrite_mock_response,
            )
            rewrite = check_rewrite(question, clean_rewrite(result.text, question), engine.embedder)
            standalone, rewrite_note = rewrite.query, rewrite.reason
            rewrite_tokens = (result.prompt_tokens, result.completion_tokens)
        except LLMTimeout:
            rewrite_note = "the rewrite ran out of time"
        except LLMError as exc:  # the answer call below reports the failure, with the question stored
            rewrite_note = f"the rewrite failed ({exc})"
        timings["rewrite"] = round((time.perf_counter() - started) * 1000.0, 3)

    trace = engine.search(standalone, params or engine.default_params(), target.name)
    timings.update(trace.timings_ms)
    hits = trace.hits
    decision = decide(standalone, trace, target.settings, settings.abstain_threshold)
    evidence, threshold = decision.evidence, decision.threshold

    def deltas() -> Iterator[str]:
        if not decision.answer:
            timings["total"] = round((time.perf_counter() - total_started) * 1000.0, 3)
            answer = abstention(
                question=question,
                standalone=standalone,
                hits=hits,
                evidence=evidence,
                threshold=threshold,
                model=settings.llm_model,
                trace=trace,
                timings_ms=timings,
            )
            yield ABSTAIN_TEXT
        else:
            messages_, prompt_ms = build_answer_messages(
                standalone, hits, [] if standalone != question.strip() else history, settings.llm_model
            )
            timings["prompt_build"] = round(prompt_ms, 3)
            try:
                stream = stream_chat(
                    settings.llm_model,
                    messages_,
                    max_tokens=max_tokens or settings.max_answer_tokens,
                    timeout_s=settings.answer_timeout_s,
                    mock_response=mock_response,
                )
            except LLMError as exc:  # the provider refused at once (bad key, nothing listening)
                if conversation_id is not None:
                    _store_failed_turn(engine, conversation_id, question, exc)
                raise
            try:
                yield from stream
            except LLMTimeout:
                # Nothing written in time: verification below turns this into the quoted evidence.
                pass
            except LLMError as exc:
                if conversation_id is not None:
                    _store_failed_turn(engine, conversation_id, question, exc)
                raise
            timings["time_to_first_token"] = round(stream.ttft_ms or 0.0, 3)
            timings["generation"] = round(stream.generation_ms or 0.0, 3)
            timings["total"] = round((time.perf_counter() - total_started) * 1000.0, 3)
            answer = finish_answer(
                question=question,
                standalone=standalone,
                raw_text=stream.text,
                hits=hits,
                evidence=evidence,
                threshold=threshold,
                model=settings.llm_model,
                trace=trace,
                messages=messages_,
                prompt_tokens=(stream.prompt_tokens or 0) + rewrite_tokens[0],
                completion_tokens=(stream.completion_tokens or 0) + rewrite_tokens[1],
                cost_usd=stream.cost_usd,
                timings_ms=timings,
            )
            started = time.perf_counter()
            answer = guard_answer(answer, engine.embedder, stream.finish_reason)
            timings["verification"] = round((time.perf_counter() - started) * 1000.0, 3)
            timings["total"] = round((time.perf_counter() - total_started) * 1000.0, 3)
        answer = replace(
            answer,
            rewrite_note=rewrite_note,
            decision_probability=decision.probability,
            decision_reason=decision.reason,
        )
        if conversation_id is not None:
            # The question is stored with its answer, so a failed LLM call leaves no orphan question.
            stored = answer.to_dict()
            with engine.db.connection() as conn:
                message_id = conversations.store_turn(
                    conn, conversation_id, question, answer.text, stored["citations"], stored
                )
            answer = replace(answer, message_id=message_id, conversation_id=conversation_id)
        holder.answer = answer

    holder = AnswerStream(deltas())
    return holder


def _store_failed_turn(engine: Engine, conversation_id: int, question: str, error: LLMError) -> None:
    """Store the question and, as the assistant's turn, the reason the model gave no answer."""
    text = f"No answer: the language model failed. {error}"
    with engine.db.connection() as conn:
        conversations.store_turn(conn, conversation_id, question, text, [], None)
