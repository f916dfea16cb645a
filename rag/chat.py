"""Asking questions and keeping conversations: the engine's chat API (used by ``rag ask`` and the UI)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from psycopg.types.json import Jsonb

from rag.answer import AnswerStream, abstention, build_answer_messages, evidence_of, finish_answer
from rag.errors import NotFound
from rag.llm import chat, stream_chat
from rag.prompting import ABSTAIN_TEXT, clean_rewrite, needs_rewrite, rewrite_messages
from rag.retrieval import SearchParams

if TYPE_CHECKING:
    from rag.engine import Engine


@dataclass(frozen=True)
class Conversation:
    """A stored conversation (sidebar entry)."""

    id: int
    title: str
    collection: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class StoredMessage:
    """A stored chat turn; assistant turns carry citations and the full answer trace (JSON)."""

    id: int
    conversation_id: int
    role: str
    content: str
    citations: list[dict]
    trace: dict | None
    created_at: datetime


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
    without an LLM call when the evidence is below the threshold, else stream the LLM answer and map
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
            iterating). EmbeddingModelMismatch: stored vectors come from another model.
    """
    settings = engine.settings
    target = engine.collection(collection)
    if conversation_id is not None and not history:
        history = [{"role": m.role, "content": m.content} for m in messages(engine, conversation_id)]
    timings: dict[str, float] = {}
    total_started = time.perf_counter()

    standalone = question.strip()
    rewrite_tokens = (0, 0)
    if needs_rewrite(history):
        started = time.perf_counter()
        result = chat(
            settings.llm_model, rewrite_messages(history, question), mock_response=rewrite_mock_response
        )
        standalone = clean_rewrite(result.text, question)
        rewrite_tokens = (result.prompt_tokens, result.completion_tokens)
        timings["rewrite"] = round((time.perf_counter() - started) * 1000.0, 3)

    trace = engine.search(standalone, params or engine.default_params(), target.name)
    timings.update(trace.timings_ms)
    hits = trace.hits
    evidence = evidence_of(hits)
    threshold = float(target.settings.get("abstain_threshold", settings.abstain_threshold))

    def deltas() -> Iterator[str]:
        if evidence is None or evidence < threshold:
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
                standalone, hits, [] if standalone != question.strip() else history
            )
            timings["prompt_build"] = round(prompt_ms, 3)
            stream = stream_chat(
                settings.llm_model,
                messages_,
                max_tokens=max_tokens or settings.max_answer_tokens,
                timeout_s=settings.answer_timeout_s,
                mock_response=mock_response,
            )
            yield from stream
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
        if conversation_id is not None:
            # The question is stored with its answer, so a failed LLM call leaves no orphan question.
            message_id = _store_turn(
                engine,
                conversation_id,
                question,
                answer.text,
                [json.loads(json.dumps(c.__dict__, default=list)) for c in answer.citations],
                answer.to_dict(),
            )
            answer = replace(answer, message_id=message_id, conversation_id=conversation_id)
        holder.answer = answer

    holder = AnswerStream(deltas())
    return holder


# -- conversations ----------------------------------------------------------------------------------


def create_conversation(
    engine: Engine, title: str = "New chat", collection: str | None = None
) -> Conversation:
    """Create an empty conversation bound to a collection."""
    with engine.db.pool.connection() as conn:
        row = conn.execute(
            "INSERT INTO conversations (title, collection_id) "
            "VALUES (%(title)s, (SELECT id FROM collections WHERE name = %(collection)s)) "
            "RETURNING id, title, created_at, updated_at",
            {"title": title, "collection": collection or engine.settings.collection},
        ).fetchone()
    return Conversation(row[0], row[1], collection or engine.settings.collection, row[2], row[3])


def list_conversations(engine: Engine, limit: int = 100) -> list[Conversation]:
    """Conversations, most recently active first."""
    with engine.db.pool.connection() as conn:
        rows = conn.execute(
            "SELECT v.id, v.title, c.name, v.created_at, v.updated_at FROM conversations v "
            "LEFT JOIN collections c ON c.id = v.collection_id ORDER BY v.updated_at DESC, v.id DESC LIMIT %(n)s",
            {"n": limit},
        ).fetchall()
    return [Conversation(*r) for r in rows]


def rename_conversation(engine: Engine, conversation_id: int, title: str) -> None:
    """Rename a conversation. Raises NotFound when it does not exist."""
    with engine.db.pool.connection() as conn:
        cur = conn.execute(
            "UPDATE conversations SET title = %(t)s WHERE id = %(id)s",
            {"t": title.strip() or "Untitled", "id": conversation_id},
        )
        if cur.rowcount == 0:
            raise NotFound(f"conversation {conversation_id} does not exist")


def delete_conversation(engine: Engine, conversation_id: int) -> None:
    """Delete a conversation and its messages."""
    with engine.db.pool.connection() as conn:
        conn.execute("DELETE FROM conversations WHERE id = %(id)s", {"id": conversation_id})


def messages(engine: Engine, conversation_id: int) -> list[StoredMessage]:
    """The conversation's messages in order. Raises NotFound when it does not exist."""
    with engine.db.pool.connection() as conn:
        if (
            conn.execute("SELECT 1 FROM conversations WHERE id = %(id)s", {"id": conversation_id}).fetchone()
            is None
        ):
            raise NotFound(f"conversation {conversation_id} does not exist")
        rows = conn.execute(
            "SELECT id, conversation_id, role, content, citations, trace, created_at FROM messages "
            "WHERE conversation_id = %(id)s ORDER BY id",
            {"id": conversation_id},
        ).fetchall()
    return [StoredMessage(*r) for r in rows]


def get_message(engine: Engine, message_id: int) -> StoredMessage:
    """One stored message (the Inspector opens an answer's trace by id). Raises NotFound."""
    with engine.db.pool.connection() as conn:
        row = conn.execute(
            "SELECT id, conversation_id, role, content, citations, trace, created_at FROM messages WHERE id = %(id)s",
            {"id": message_id},
        ).fetchone()
    if row is None:
        raise NotFound(f"message {message_id} does not exist")
    return StoredMessage(*row)


_INSERT_MESSAGE = (
    "INSERT INTO messages (conversation_id, role, content, citations, trace) "
    "VALUES (%(c)s, %(r)s, %(t)s, %(cit)s, %(trace)s) RETURNING id"
)


def _store_turn(
    engine: Engine, conversation_id: int, question: str, answer: str, citations: list, trace: dict
) -> int:
    """Store a question and its answer in one transaction; returns the answer's message id."""
    with engine.db.pool.connection() as conn, conn.transaction():
        conn.execute(
            _INSERT_MESSAGE,
            {"c": conversation_id, "r": "user", "t": question, "cit": Jsonb([]), "trace": None},
        )
        row = conn.execute(
            _INSERT_MESSAGE,
            {
                "c": conversation_id,
                "r": "assistant",
                "t": answer,
                "cit": Jsonb(citations),
                "trace": Jsonb(json.loads(json.dumps(trace, default=str))),
            },
        ).fetchone()
        conn.execute("UPDATE conversations SET updated_at = now() WHERE id = %(c)s", {"c": conversation_id})
    return row[0]
