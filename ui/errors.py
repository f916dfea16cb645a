"""Errors shown as messages that say what to do, never as tracebacks (STYLE.md practice 9).

``rag`` raises its error types (``rag.RagError`` and subclasses) with a message naming the fix; here each type gets a
short title and, where the page can help, a pointer to the page that fixes it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from rag import (
    AccessDenied,
    ConfigError,
    DatabaseError,
    EmbeddingModelMismatch,
    LLMError,
    LoaderError,
    ModelDownloadError,
    ModelNotAvailable,
    NotFound,
    RagError,
)
from ui.markdown import markdown_text

_log = logging.getLogger(__name__)

_HINTS: tuple[tuple[type[RagError], str, str], ...] = (
    (
        AccessDenied,
        "Not allowed",
        "Ask the collection's owner for access (Corpus page, Sharing), or pick another collection.",
    ),
    (
        NotFound,
        "Nothing here yet",
        "Upload documents on the **Upload** page, or pick another collection in the sidebar.",
    ),
    (
        LLMError,
        "The language model failed",
        "Set `RAG_LLM_MODEL` to a model you can reach and put its API key in `.streamlit/secrets.toml` "
        "(see `.streamlit/secrets.toml.example`), then retry.",
    ),
    (
        DatabaseError,
        "The database is not available",
        "Check `DATABASE_URL` (or unset it to use the embedded PostgreSQL under `RAG_DATA_DIR`) and reload.",
    ),
    (
        EmbeddingModelMismatch,
        "The stored vectors come from another embedding model",
        "Re-embed the collection on the **Corpus** page, or set `RAG_EMBEDDING_MODEL` to the stored model.",
    ),
    (
        ModelDownloadError,
        "The model cannot be downloaded",
        "The **Settings** page shows the model's status and what to do.",
    ),
    (ModelNotAvailable, "A model is not installed", "Install the package named above and restart the app."),
    (LoaderError, "The file cannot be read", "Fix or convert the file and upload it again."),
    (ConfigError, "A setting is invalid", "Change the value named above."),
)


def describe(exc: BaseException) -> tuple[str, str]:
    """Title and advice for an exception (pure; used by :func:`show_error` and the tests).

    Returns:
        ``(title, "message\\n\\nadvice")`` in Markdown.
    """
    for kind, title, advice in _HINTS:
        if isinstance(exc, kind):
            return title, f"{exc}\n\n{advice}"
    if isinstance(exc, RagError):
        return "Something went wrong", str(exc)
    return (
        f"Unexpected error ({type(exc).__name__})",
        f"{exc}\n\nThis is a bug in the app: the details are in the server log.",
    )


def show_error(exc: BaseException) -> None:
    """Show ``exc`` with ``st.error`` (title, message, advice); log unexpected ones with their traceback."""
    if not isinstance(exc, RagError):
        _log.exception("unexpected error in the app", exc_info=exc)
    title, body = describe(exc)
    # The message can quote a file name, a title or an id from a document: never render it as markup.
    st.error(f"**{title}**\n\n{markdown_text(body)}", icon=":material/error:")


@contextmanager
def guard() -> Iterator[None]:
    """Run a block of page code; an exception ends the block and is shown with :func:`show_error`.

    Streamlit's own control flow (``st.rerun``, ``st.stop``, ``st.switch_page``) raises
    ``BaseException`` subclasses and passes through.
    """
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - every error becomes a message, never a traceback
        show_error(exc)


_FLASH_KEY = "_flash_errors"


def flash(exc: BaseException) -> None:
    """Keep an error raised in a widget callback so the page can show it (callbacks draw nothing)."""
    st.session_state.setdefault(_FLASH_KEY, []).append(exc)


def show_flashed() -> None:
    """Show the errors kept by :func:`flash` once, then forget them."""
    for exc in st.session_state.pop(_FLASH_KEY, []):
        show_error(exc)
