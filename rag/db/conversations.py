"""Conversations and their messages (the Chat page's history and every answer's stored trace)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from rag.errors import NotFound

CREATE_CONVERSATION = """
INSERT INTO conversations (title, collection_id)
VALUES (%(title)s, (SELECT id FROM collections WHERE name = %(collection)s))
RETURNING id, title, created_at, updated_at
"""
LIST_CONVERSATIONS = """
SELECT v.id, v.title, c.name, v.created_at, v.updated_at FROM conversations v
LEFT JOIN collections c ON c.id = v.collection_id ORDER BY v.updated_at DESC, v.id DESC LIMIT %(limit)s
"""
RENAME_CONVERSATION = "UPDATE conversations SET title = %(title)s WHERE id = %(id)s"
DELETE_CONVERSATION = "DELETE FROM conversations WHERE id = %(id)s"
CONVERSATION_EXISTS = "SELECT 1 FROM conversations WHERE id = %(id)s"
TOUCH_CONVERSATION = "UPDATE conversations SET updated_at = now() WHERE id = %(id)s"
_MESSAGE_COLUMNS = "id, conversation_id, role, content, citations, trace, created_at"
LIST_MESSAGES = f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE conversation_id = %(id)s ORDER BY id"
GET_MESSAGE = f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE id = %(id)s"
INSERT_MESSAGE = """
INSERT INTO messages (conversation_id, role, content, citations, trace)
VALUES (%(conversation_id)s, %(role)s, %(content)s, %(citations)s, %(trace)s) RETURNING id
"""


@dataclass(frozen=True)
class Conversation:
    """A stored conversation (sidebar entry); ``collection`` is ``None`` once that collection is gone."""

    id: int
    title: str
    collection: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class MessageRow:
    """A stored chat turn as the database holds it.

    Attributes:
        role: ``user`` or ``assistant``. content: The text shown.
        citations: JSON list of the cited passages (assistant turns).
        answer: ``rag.answer.Answer.to_dict()`` of an assistant turn, ``None`` for user turns.
    """

    id: int
    conversation_id: int
    role: str
    content: str
    citations: list[dict[str, Any]]
    answer: dict[str, Any] | None
    created_at: datetime


def create_conversation(conn: psycopg.Connection, title: str, collection: str) -> Conversation:
    """Create an empty conversation bound to ``collection`` (which may not exist yet)."""
    row = conn.execute(CREATE_CONVERSATION, {"title": title, "collection": collection}).fetchone()
    assert row is not None  # INSERT ... RETURNING always returns the row
    return Conversation(row[0], row[1], collection, row[2], row[3])


def list_conversations(conn: psycopg.Connection, limit: int) -> list[Conversation]:
    """Conversations, most recently active first."""
    return [Conversation(*r) for r in conn.execute(LIST_CONVERSATIONS, {"limit": limit}).fetchall()]


def rename_conversation(conn: psycopg.Connection, conversation_id: int, title: str) -> None:
    """Rename a conversation (blank becomes ``Untitled``).

    Raises:
        NotFound: no such conversation.
    """
    cur = conn.execute(RENAME_CONVERSATION, {"title": title.strip() or "Untitled", "id": conversation_id})
    if cur.rowcount == 0:
        raise NotFound(f"conversation {conversation_id} does not exist")


def delete_conversation(conn: psycopg.Connection, conversation_id: int) -> None:
    """Delete a conversation and (by cascade) its messages; a missing id is not an error."""
    conn.execute(DELETE_CONVERSATION, {"id": conversation_id})


def list_messages(conn: psycopg.Connection, conversation_id: int) -> list[MessageRow]:
    """The conversation's messages in order.

    Raises:
        NotFound: no such conversation.
    """
    if conn.execute(CONVERSATION_EXISTS, {"id": conversation_id}).fetchone() is None:
        raise NotFound(f"conversation {conversation_id} does not exist")
    return [MessageRow(*r) for r in conn.execute(LIST_MESSAGES, {"id": conversation_id}).fetchall()]


def get_message(conn: psycopg.Connection, message_id: int) -> MessageRow:
    """One stored message.

    Raises:
        NotFound: no such message.
    """
    row = conn.execute(GET_MESSAGE, {"id": message_id}).fetchone()
    if row is None:
        raise NotFound(f"message {message_id} does not exist")
    return MessageRow(*row)


def store_turn(
    conn: psycopg.Connection,
    conversation_id: int,
    question: str,
    answer_text: str,
    citations: list[dict[str, Any]],
    answer: dict[str, Any] | None,
) -> int:
    """Store a question and its answer in one transaction (no orphan question); returns the answer's id.

    Args:
        citations: JSON-serialisable cited passages. answer: The full answer (``Answer.to_dict()``);
            values JSON cannot hold (datetimes) are stored as strings. ``None`` for a turn with no
            answer (the model failed: ``answer_text`` says why); its trace is stored as NULL.
    """
    with conn.transaction():
        conn.execute(
            INSERT_MESSAGE,
            {
                "conversation_id": conversation_id,
                "role": "user",
                "content": question,
                "citations": Jsonb([]),
                "trace": None,
            },
        )
        row = conn.execute(
            INSERT_MESSAGE,
            {
                "conversation_id": conversation_id,
                "role": "assistant",
                "content": answer_text,
                "citations": Jsonb(citations),
                "trace": None if answer is None else Jsonb(json.loads(json.dumps(answer, default=str))),
            },
        ).fetchone()
        conn.execute(TOUCH_CONVERSATION, {"id": conversation_id})
    assert row is not None
    return int(row[0])
