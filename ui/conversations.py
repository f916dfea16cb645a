"""The Chat page's conversation list (sidebar): new chat, switch, rename, delete.

Conversations are stored in PostgreSQL through the :class:`rag.Engine`; the session only remembers which one is
open (``st.session_state["conversation_id"]``), and the URL too (``?conversation=12``), so a reload
reopens it.
"""

from __future__ import annotations

import streamlit as st

from rag import Conversation, Engine
from ui.errors import flash
from ui.markdown import markdown_text
from ui.state import set_url_param, url_param

CONVERSATION_KEY = "conversation_id"
CONVERSATION_PARAM = "conversation"
"""URL query parameter holding the open conversation's id."""


def current() -> int | None:
    """The open conversation's id, or ``None`` for a new chat (a new session takes the URL's)."""
    if CONVERSATION_KEY not in st.session_state:
        from_url = url_param(CONVERSATION_PARAM)
        st.session_state[CONVERSATION_KEY] = int(from_url) if from_url and from_url.isdigit() else None
    return st.session_state[CONVERSATION_KEY]


def open_conversation(conversation_id: int | None) -> None:
    """Open a conversation (``None`` starts a new chat; it is stored with its first question)."""
    st.session_state[CONVERSATION_KEY] = conversation_id
    set_url_param(CONVERSATION_PARAM, conversation_id)


def forget_if_elsewhere(engine: Engine, collection: str) -> None:
    """Start a new chat when the open conversation was deleted or belongs to another collection."""
    open_id = current()
    if open_id is not None and all(
        c.id != open_id for c in engine.conversations() if c.collection == collection
    ):
        open_conversation(None)


def title_for(question: str, limit: int = 60) -> str:
    """A conversation title from its first question: one line, at most ``limit`` characters."""
    line = " ".join(question.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _rename(engine: Engine, conversation_id: int) -> None:
    try:
        engine.rename_conversation(conversation_id, st.session_state.get(f"rename-{conversation_id}", ""))
    except Exception as exc:  # noqa: BLE001 - shown on the page by show_flashed()
        flash(exc)


def _delete(engine: Engine, conversation_id: int) -> None:
    try:
        engine.delete_conversation(conversation_id)
    except Exception as exc:  # noqa: BLE001 - shown on the page by show_flashed()
        flash(exc)
    open_conversation(None)


def render(engine: Engine, collection: str) -> list[Conversation]:
    """Draw the conversation list of ``collection`` in the sidebar.

    Returns:
        The conversations listed (most recently active first).
    """
    conversations = [c for c in engine.conversations() if c.collection == collection]
    open_id = current()
    set_url_param(CONVERSATION_PARAM, open_id)  # the navigation dropped it when switching pages
    with st.sidebar:
        st.markdown("**Conversations**")
        st.button(
            "New chat",
            icon=":material/add_comment:",
            key="new-chat",
            on_click=open_conversation,
            args=(None,),
            width="stretch",
        )
        for conversation in conversations:
            st.button(
                markdown_text(conversation.title),
                key=f"conversation-{conversation.id}",
                type="primary" if conversation.id == open_id else "tertiary",
                on_click=open_conversation,
                args=(conversation.id,),
                width="stretch",
            )
        chosen = next((c for c in conversations if c.id == open_id), None)
        if chosen is not None:
            with st.expander("Rename or delete this chat", icon=":material/edit:"):
                st.text_input("Title", value=chosen.title, key=f"rename-{chosen.id}")
                st.button(
                    "Rename", key=f"rename-button-{chosen.id}", on_click=_rename, args=(engine, chosen.id)
                )
                with st.popover("Delete", icon=":material/delete:"):
                    st.write("Delete this conversation and its messages?")
                    st.button(
                        "Yes, delete",
                        key=f"delete-{chosen.id}",
                        type="primary",
                        on_click=_delete,
                        args=(engine, chosen.id),
                    )
    return conversations
