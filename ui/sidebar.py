"""The sidebar drawn on every page: active collection, models in use, database status."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import streamlit as st

from rag import CollectionSummary, Engine
from ui.errors import guard
from ui.state import (
    COLLECTION_KEY,
    COLLECTION_PARAM,
    MOCK_ENV,
    PAGE_SETTINGS,
    active_collection,
    apply_collection_request,
    initial_collection,
    mock_response,
    set_url_param,
)
from ui.text import plural


def collection_options(
    summaries: Sequence[CollectionSummary], current: str | None, default: str, *, chat: bool
) -> list[str]:
    """Collections to offer: every one (Chat: none built by ``rag eval``), the default and ``current``.

    Args:
        summaries: The collections (``engine.collection_summaries()``).
        current: The active collection (offered even when it does not exist yet).
        default: The configured default collection (offered even when it does not exist yet).
        chat: Drawing for the Chat page, which hides evaluation collections.
    """
    names = {s.name for s in summaries if not (chat and s.is_evaluation)}
    names.add(default)
    if current:
        names.add(current)
    return sorted(names)


def collection_label(summaries: Sequence[CollectionSummary]) -> Callable[[str], str]:
    """Label for the selector: ``scifact · evaluation`` for a collection built by ``rag eval``."""
    evaluation = {s.name for s in summaries if s.is_evaluation}
    return lambda name: f"{name} · evaluation" if name in evaluation else name


def _chosen(engine: Engine) -> None:
    with guard():
        engine.remember_collection(st.session_state[COLLECTION_KEY])


def render_collection(engine: Engine, *, chat: bool = False) -> str:
    """Draw the collection selector at the top of the sidebar; return the active collection's name.

    The active collection survives a reload through the URL (``?collection=``) and a restart
    through the engine (:meth:`rag.Engine.remember_collection`, written when the user picks one).
    On the Chat page, an evaluation collection is replaced by the default one.

    Raises:
        DatabaseError: the database cannot be opened.
    """
    requested = apply_collection_request()
    if requested:
        engine.remember_collection(requested)
    summaries = engine.collection_summaries()
    current = initial_collection(engine)
    if chat and any(s.name == current and s.is_evaluation for s in summaries):
        current = engine.default_collection()
    options = collection_options(summaries, current, engine.settings.collection, chat=chat)
    if st.session_state.get(COLLECTION_KEY) != current:
        st.session_state[COLLECTION_KEY] = current
    with st.sidebar:
        st.selectbox(
            "Collection",
            options,
            key=COLLECTION_KEY,
            format_func=collection_label(summaries),
            on_change=_chosen,
            args=(engine,),
            help="Chat, Corpus and Inspector work on this collection; the Upload page can create new ones. "
            "Collections built by `rag eval` are listed on the other pages, not in Chat.",
        )
    name = active_collection(engine)
    set_url_param(COLLECTION_PARAM, name)
    return name


def render_status(engine: Engine) -> None:
    """Draw the models in use and the database status (at the bottom of the sidebar)."""
    with st.sidebar:
        st.divider()
        with guard():
            _models(engine)
        with guard():
            _database(engine)


def reranker_line(engine: Engine) -> tuple[str, str]:
    """The reranker in a few words and the detail for its tooltip, without loading the model.

    Returns:
        ``("Reranker: on", detail)``, ``("Reranker: off — not downloaded", fix)``, ...
    """
    name = engine.settings.reranker_model
    availability = engine.reranker_availability()
    loaded = engine.loaded_reranker_status()
    if availability.present and (loaded is None or loaded.available):
        return "Reranker: on", f"`{name}`: {availability.message}"
    if availability.present:  # on disk, but loading it failed
        return "Reranker: off — failed to load", loaded.reason or "no reason given"
    if not name:
        return "Reranker: off — disabled", f"{availability.message}; to turn it on: {availability.fix}"
    return "Reranker: off — not downloaded", f"{availability.message}. Fix: {availability.fix}"


def _models(engine: Engine) -> None:
    settings = engine.settings
    st.caption(f"**Embeddings** `{settings.embedding_model}`  \n**LLM** `{settings.llm_model}`")
    line, detail = reranker_line(engine)
    # One line; the detail is in the tooltip and on the Settings page, one click away.
    st.page_link(PAGE_SETTINGS, label=line, icon=":material/tune:", help=detail)
    if mock_response() is not None:
        st.warning(f"LLM mocked by `{MOCK_ENV}` (tests only)", icon=":material/science:")


def _database(engine: Engine) -> None:
    status = engine.status()
    st.caption(
        f"**Database** PostgreSQL {status.server_version} + pgvector {status.pgvector_version}, "
        f"{status.location}  \n{plural(status.collections, 'collection')} · "
        f"{plural(status.documents, 'document')} · {plural(status.chunks, 'chunk')}"
    )
