"""The sidebar drawn on every page: active collection, models in use, database status."""

from __future__ import annotations

import streamlit as st

from rag import Engine
from ui.errors import guard
from ui.state import (
    COLLECTION_KEY,
    MOCK_ENV,
    PAGE_SETTINGS,
    active_collection,
    apply_collection_request,
    mock_response,
)
from ui.text import plural


def collection_options(engine: Engine, current: str | None) -> list[str]:
    """Existing collections plus the configured default and ``current`` (which may not exist yet)."""
    names = set(engine.collections())
    names.add(engine.settings.collection)
    if current:
        names.add(current)
    return sorted(names)


def render_collection(engine: Engine) -> str:
    """Draw the collection selector at the top of the sidebar; return the active collection's name.

    Raises:
        DatabaseError: the database cannot be opened.
    """
    apply_collection_request()
    current = active_collection(engine)
    options = collection_options(engine, current)
    if st.session_state.get(COLLECTION_KEY) not in options:
        st.session_state[COLLECTION_KEY] = current
    with st.sidebar:
        st.selectbox(
            "Collection",
            options,
            key=COLLECTION_KEY,
            help="Chat, Corpus and Inspector work on this collection; the Upload page can create new ones.",
        )
    return active_collection(engine)


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
