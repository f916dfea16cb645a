"""Asking a question: rewrite a follow-up -> retrieve -> abstain or prompt -> stream -> cited answer.

Abstention happens BEFORE the LLM call when :func:`rag.abstention.decide` declines (a logistic
regression over the retrieval's evidence signals, or a collection's calibrated cosine threshold from
``rag eval answers --calibrate``), so an unanswerable question costs no tokens and cannot be
hallucinated. The user can still ask for an answer from the same passages
(:func:`answer_anyway`, marked as below the evidence threshold). Called through
:meth:`rag.engine.Engine.ask` and :meth:`rag.engine.Engine.answer_anyway`; both report their stages
to an optional ``on_progress`` callback (``rag.answer_events``).
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from rag.abstention import decide
from rag.answer import Answer, AnswerStream, abstention, build_answer_messages, finish_answer
from rag.answer_events import AnswerProgressCallback, ProgressReporter
from rag.cleaning import clean_input
from rag.db import conversations
from rag.db.conversations import MessageRow
from rag.errors import CannotAnswerAnyway, LLMError, LLMTimeout
from rag.followup import check_rewrite, is_self_contained
from rag.llm import chat, stream_chat
from rag.models import Candidate
from rag.prompting import ABSTAIN_TEXT, clean_rewrite, needs_rewrite, rewrite_messages
from rag.retrieval import RetrievalTrace, SearchParams
from rag.verification import guard_answer

if TYPE_CHECKING:
    from rag.engine import Engine


REWRITE_TIMEOUT_S = 20.0
"""Wall-clock limit of the follow-up rewrite (seconds); past it the user's question is searched as typed."""


DECISION_FIELDS = ("rewrite_note", "decision_probability", "decision_reason", "decision_rule", "decision_cut")
"""Fields of :class:`Answer` that say how the question was searched and decided (copied by answer anyway)."""


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
    on_progress: AnswerProgressCallback | None = None,
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
        on_progress: Receives an :class:`~rag.answer_events.AnswerProgress` as each stage starts
            (rewrite, search, rerank and found during this call; the rest while iterating).

    Returns:
        An :class:`AnswerStream`: iterate for text deltas; ``.answer`` is set when it is exhausted.

    Raises:
        NotFound: collection or conversation missing. LLMError: the LLM call failed (raised while
            iterating; with ``conversation_id`` the question is stored first, with the error as the
            assistant's turn). EmbeddingModelMismatch: stored vectors come from another model.
    """
    question = clean_input(question)
    settings = engine.settings
    report = ProgressReporter(on_progress)
    target = engine.collection(collection)
    if conversation_id is not None and not history:
        history = [{"role": m.role, "content": m.content} for m in engine.messages(conversation_id)]
    timings: dict[str, float] = {}

    standalone = question.strip()
    rewrite_tokens = (0, 0)
    rewrite_note: str | None = None
    if needs_rewrite(history) and not is_self_contained(question):
        report("rewrite", model=settings.llm_model)
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

    report.query = standalone
    report("search")
    trace = engine.search(standalone, params or engine.default_params(), target.name, on_rerank=report.rerank)
    timings.update(trace.timings_ms)
    report.candidates, report.passages = len(trace.candidates), len(trace.hits)
    report("found")
    hits = trace.hits
    decision = decide(standalone, trace, target.settings, settings.abstain_threshold)
    draft = _Draft(
        question=question,
        standalone=standalone,
        hits=hits,
        history=[] if standalone != question.strip() else list(history),
        trace=trace,
        evidence=decision.evidence,
        threshold=decision.threshold,
        timings=timings,
        extra_tokens=rewrite_tokens,
    )

    def deltas() -> Iterator[str]:
        if not decision.answer:
            report("declined")
            timings["total"] = _ms_since(report.started)
            answer = abstention(
                question=question,
                standalone=standalone,
                hits=hits,
                evidence=decision.evidence,
                threshold=decision.threshold,
                model=settings.llm_model,
                trace=trace,
                timings_ms=timings,
            )
            yield ABSTAIN_TEXT
        else:
            try:
                answer = yield from _write(engine, draft, report, mock_response, max_tokens)
            except LLMError as exc:  # bad key, nothing listening: keep the question, say why
                if conversation_id is not None:
                    _store_failed_turn(engine, conversation_id, question, exc)
                raise
        answer = replace(
            answer,
            rewrite_note=rewrite_note,
            decision_probability=decision.probability,
            decision_reason=decision.reason,
            decision_rule=decision.rule,
            decision_cut=decision.cut,
        )
        holder.answer = _store(engine, conversation_id, question, answer)
        report("done")

    holder = AnswerStream(deltas())
    return holder


def answer_anyway(
    engine: Engine,
    message_id: int,
    *,
    mock_response: str | Exception | None = None,
    max_tokens: int | None = None,
    on_progress: AnswerProgressCallback | None = None,
) -> AnswerStream:
    """Ask the LLM to answer a declined question from the passages that were retrieved for it.

    The abstention decision said the evidence is too weak; the user asks for an answer anyway. The
    passages are the stored answer's (``answer.trace.hits``, the ones the user was shown as the
    closest), so nothing is searched again. The answer is cited and verified like any other
    (``rag.verification``) and marked ``below_threshold``; it is stored as a new turn (the same
    question) in the declined answer's conversation, and the declined answer stays as it was.

    Args:
        engine: The engine.
        message_id: The stored assistant message holding the declined answer.
        mock_response: LiteLLM ``mock_response`` for the answer (tests).
        max_tokens: Longest answer in tokens (default ``settings.max_answer_tokens``).
        on_progress: Receives ``write``, ``verify`` and ``done`` events while iterating.

    Returns:
        An :class:`AnswerStream`, as from :func:`ask`.

    Raises:
        NotFound: no such message. CannotAnswerAnyway: the message is not an answer declined
            before the LLM call, or no passage was retrieved for it. LLMError: the LLM call failed
            (raised while iterating).
    """
    stored = engine.message(message_id)
    declined = stored.answer
    if declined is None or not declined.abstained_before_llm or declined.trace is None:
        raise CannotAnswerAnyway(
            f"message {message_id} is not a declined answer: only an answer declined for too little "
            "evidence can be answered anyway (ask the question again)"
        )
    hits = declined.trace.hits
    if not hits:
        raise CannotAnswerAnyway(
            "no passage was retrieved for this question, so there is nothing to answer from: "
            "rephrase it or add documents that cover it"
        )
    earlier = engine.messages(stored.conversation_id)
    position = next(i for i, m in enumerate(earlier) if m.id == message_id)
    history = [{"role": m.role, "content": m.content} for m in earlier[: max(position - 1, 0)]]
    standalone = declined.standalone_question
    report = ProgressReporter(on_progress)
    report.query, report.candidates, report.passages = standalone, len(declined.trace.candidates), len(hits)
    draft = _Draft(
        question=declined.question,
        standalone=standalone,
        hits=hits,
        history=[] if standalone != declined.question.strip() else history,
        trace=declined.trace,
        evidence=declined.evidence,
        threshold=declined.threshold,
        timings={},
    )

    def deltas() -> Iterator[str]:
        try:
            answer = yield from _write(engine, draft, report, mock_response, max_tokens)
        except LLMError as exc:
            _store_failed_turn(engine, stored.conversation_id, declined.question, exc)
            raise
        # The decision that declined stays on the answer, so the UI can say how far it fell short.
        answer = replace(answer, **{f: getattr(declined, f) for f in DECISION_FIELDS}, below_threshold=True)
        holder.answer = _store(engine, stored.conversation_id, declined.question, answer)
        report("done")

    holder = AnswerStream(deltas())
    return holder


@dataclass(frozen=True)
class _Draft:
    """What an LLM answer is written from: the question as searched, its passages and trace."""

    question: str
    standalone: str
    hits: Sequence[Candidate]
    history: Sequence[dict]
    trace: RetrievalTrace
    evidence: float | None
    threshold: float
    timings: dict[str, float]
    extra_tokens: tuple[int, int] = (0, 0)


def _write(
    engine: Engine,
    draft: _Draft,
    report: ProgressReporter,
    mock_response: str | Exception | None,
    max_tokens: int | None,
) -> Generator[str, None, Answer]:
    """Stream the LLM's answer from the draft's passages, then map markers and verify it."""
    settings = engine.settings
    timings = draft.timings
    messages_, prompt_ms = build_answer_messages(
        draft.standalone, draft.hits, draft.history, settings.llm_model
    )
    timings["prompt_build"] = round(prompt_ms, 3)
    report("write", model=settings.llm_model)
    stream = stream_chat(
        settings.llm_model,
        messages_,
        max_tokens=max_tokens or settings.max_answer_tokens,
        timeout_s=settings.answer_timeout_s,
        mock_response=mock_response,
    )
    try:
        yield from stream
    except LLMTimeout:
        # Nothing written in time: verification below turns this into the quoted evidence.
        pass
    timings["time_to_first_token"] = round(stream.ttft_ms or 0.0, 3)
    timings["generation"] = round(stream.generation_ms or 0.0, 3)
    timings["total"] = _ms_since(report.started)
    answer = finish_answer(
        question=draft.question,
        standalone=draft.standalone,
        raw_text=stream.text,
        hits=draft.hits,
        evidence=draft.evidence,
        threshold=draft.threshold,
        model=settings.llm_model,
        trace=draft.trace,
        messages=messages_,
        prompt_tokens=(stream.prompt_tokens or 0) + draft.extra_tokens[0],
        completion_tokens=(stream.completion_tokens or 0) + draft.extra_tokens[1],
        cost_usd=stream.cost_usd,
        timings_ms=timings,
    )
    report("verify")
    started = time.perf_counter()
    answer = guard_answer(answer, engine.embedder, stream.finish_reason)
    timings["verification"] = _ms_since(started)
    timings["total"] = _ms_since(report.started)
    return answer


def _store(engine: Engine, conversation_id: int | None, question: str, answer: Answer) -> Answer:
    """Store question and answer as one turn (one transaction) when there is a conversation."""
    if conversation_id is None:
        return answer
    # The question is stored with its answer, so a failed LLM call leaves no orphan question.
    stored = answer.to_dict()
    with engine.db.connection() as conn:
        message_id = conversations.store_turn(
            conn, conversation_id, question, answer.text, stored["citations"], stored
        )
    return replace(answer, message_id=message_id, conversation_id=conversation_id)


def _store_failed_turn(engine: Engine, conversation_id: int, question: str, error: LLMError) -> None:
    """Store the question and, as the assistant's turn, the reason the model gave no answer."""
    text = f"No answer: the language model failed. {error}"
    with engine.db.connection() as conn:
        conversations.store_turn(conn, conversation_id, question, text, [], None)


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000.0, 3)
