"""Process- and session-wide state of the app: the Engine, secrets, the active collection.

The :class:`rag.Engine` (database pool, embedder, reranker) is built once per process behind
``st.cache_resource`` (STYLE.md practice 2) and shared by every session; each run gets its view for
the signed-in user (:func:`get_engine`, ``ui.auth``); per-session choices live in
``st.session_state`` and the ones a reload must keep (collection, conversation) also in the URL
(``st.query_params``, :func:`set_url_param`), because a reload starts a new session.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import streamlit as st

from rag import Engine, Settings, warm_up
from ui import auth

APP_DIR = Path(__file__).resolve().parents[1]
"""The folder of ``app.py``; page paths below are relative to it."""

PAGE_CHAT = "pages/chat.py"
PAGE_UPLOAD = "pages/upload.py"
PAGE_CORPUS = "pages/corpus.py"
PAGE_INSPECTOR = "pages/inspector.py"
PAGE_EVALUATION = "pages/evaluation.py"
PAGE_SETTINGS = "pages/settings.py"
CHAT_TITLE = "Chat"

COLLECTION_KEY = "collection"
"""``st.session_state`` key of the sidebar's collection selector."""

COLLECTION_PARAM = "collection"
"""URL query parameter holding the active collection (``?collection=manuals``)."""

_COLLECTION_REQUEST_KEY = "_collection_request"
_SHELL_KEY = "_app_shell_running"

MOCK_ENV = "RAG_LLM_MOCK_RESPONSE"
"""Test-only: when set, every answer is LiteLLM's ``mock_response`` with this text (no LLM call).

The app tests and the browser test set it so a chat turn is fast and deterministic; the sidebar
shows a warning whenever it is set, so a real deployment cannot run on it unnoticed.
"""


@contextmanager
def app_shell() -> Iterator[None]:
    """Mark the current run as going through ``app.py`` (wrap ``page.run()`` in it)."""
    st.session_state[_SHELL_KEY] = True
    try:
        yield
    finally:
        st.session_state.pop(_SHELL_KEY, None)


def app_pages() -> list[st.Page]:
    """The pages of the navigation, in menu order (Evaluation joins when its file exists; Settings last)."""
    pages = [
        # Emoji, not :material/...: icons: Streamlit turns a page's icon into the favicon, and a
        # material one is fetched from fonts.gstatic.com (a request to another host on every page).
        st.Page(PAGE_CHAT, title=CHAT_TITLE, icon="💬", default=True),
        st.Page(PAGE_UPLOAD, title="Upload", icon="📤"),
        st.Page(PAGE_CORPUS, title="Corpus", icon="📚"),
        st.Page(PAGE_INSPECTOR, title="Inspector", icon="🔎"),
    ]
    if (APP_DIR / PAGE_EVALUATION).exists():
        pages.append(st.Page(PAGE_EVALUATION, title="Evaluation", icon="📊"))
    pages.append(st.Page(PAGE_SETTINGS, title="Settings", icon="⚙️"))
    return pages


def is_chat(page: st.Page) -> bool:
    """True for the Chat page of :func:`app_pages` (it does not offer evaluation collections)."""
    return page.title == CHAT_TITLE


def require_app_shell() -> None:
    """Rerun through ``app.py`` when a page file was run on its own (call first in every page).

    Streamlit decides per process whether a ``pages/`` folder means its old folder-based navigation
    (``PagesManager.uses_pages_directory``); calling ``st.navigation`` turns that off. Until
    ``app.py`` has run once, a browser that opens a page URL such as ``/upload`` gets that page file
    alone (no sidebar, no page config). This registers the real navigation, which turns the old
    mode off for the process, and reruns: the rerun goes through ``app.py`` to the same page.
    """
    if not st.session_state.get(_SHELL_KEY):
        st.navigation(app_pages(), position="hidden")
        st.rerun()


def default_engine_factory() -> Engine:
    """Build the Engine from ``Settings.from_env()`` (``RAG_*`` variables and ``DATABASE_URL``).

    Raises:
        ConfigError: an environment variable is malformed.
    """
    return Engine(Settings.from_env())


engine_factory: Callable[[], Engine] = default_engine_factory
"""What :func:`get_engine` calls on a cache miss; tests replace it (then call ``clear_engine()``)."""


@st.cache_resource(show_spinner="Starting the engine…")
def _cached_engine() -> Engine:
    # Importing LiteLLM and loading the embedding model take seconds to a minute on a busy CPU: do
    # both in the background now, not inside the first answer or upload (which wait on the
    # engine's lock if they come first).
    threading.Thread(target=warm_up, name="litellm-warm-up", daemon=True).start()
    engine = engine_factory()
    threading.Thread(target=_load_embedder, args=(engine,), name="embedder-warm-up", daemon=True).start()
    if app_worker_wanted(engine):
        engine.start_worker()  # one in-process worker: the README's two commands stay the whole setup
    return engine


def app_worker_wanted(engine: Engine) -> bool:
    """Whether the app runs its own background-ingestion worker (``RAG_APP_WORKER``: ``auto``, ``1``, ``0``).

    ``auto`` (the default): on with the embedded database (nobody else would run ``rag worker``), off
    with ``DATABASE_URL``, where the compose file's ``worker`` service (or any ``rag worker``) serves the queue.
    """
    wanted = os.environ.get("RAG_APP_WORKER", "auto").strip().lower()
    if wanted in ("1", "true", "on", "yes"):
        return True
    if wanted in ("0", "false", "off", "no"):
        return False
    return not engine.settings.database_url


def _load_embedder(engine: Engine) -> None:
    try:
        engine.embedder  # noqa: B018 - loads it once for the process
    except Exception:  # noqa: BLE001, S110 - the first real use reports the error with its fix
        pass


def get_shared_engine() -> Engine:
    """The process-wide Engine, built on first use and reused by every rerun and session.

    Pages use :func:`get_engine`; this one acts as the local user and serves ``app.py``'s sign-in.

    Raises:
        ConfigError: invalid settings (nothing is cached then, the next rerun tries again).
    """
    return _cached_engine()


def get_engine() -> Engine:
    """The process-wide Engine acting as this session's signed-in user (``ui.auth.current_user``).

    Raises:
        ConfigError: invalid settings. AccessDenied: nobody is signed in (``app.py`` shows the
            sign-in screen before any page runs).
    """
    shared = _cached_engine()
    return shared.for_user(auth.current_user(shared.settings))


def clear_engine() -> None:
    """Forget the cached Engine (tests; the next :func:`get_engine` builds a new one)."""
    _cached_engine.clear()


def load_secrets() -> list[str]:
    """Copy the top-level values of ``.streamlit/secrets.toml`` into ``os.environ``.

    LiteLLM and ``Settings.from_env`` read provider keys (``OPENAI_API_KEY``...) and ``RAG_*``
    settings from the environment, so top-level string and number secrets become environment
    variables; a secret overrides a variable of the same name (Streamlit itself does the same when
    it parses the file: ``st.secrets`` docs, "root-level secrets are environment variables").
    Tables (``[section]``) are left in ``st.secrets``. Without a secrets file nothing happens and
    nothing is raised.

    Returns:
        The names of the variables set from secrets (values are never shown).
    """
    if not st.secrets.load_if_toml_exists():
        return []
    names = []
    for name, value in st.secrets.to_dict().items():
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            os.environ[name] = str(value)
            names.append(name)
    return sorted(names)


def mock_response() -> str | None:
    """The test-only LLM mock text (:data:`MOCK_ENV`), or ``None`` for real LLM calls."""
    return os.environ.get(MOCK_ENV) or None


def url_param(name: str) -> str | None:
    """A query parameter of the page's URL, or ``None`` when absent or empty."""
    return st.query_params.get(name) or None


def set_url_param(name: str, value: str | int | None) -> None:
    """Put ``value`` in the URL (``None`` removes it), so a reload finds it again.

    Streamlit drops query parameters when the navigation switches pages, so the app sets them
    again on every run; writing an unchanged value does nothing.
    """
    if value is None or value == "":
        if name in st.query_params:
            del st.query_params[name]
    elif st.query_params.get(name) != str(value):
        st.query_params[name] = str(value)


def request_collection(name: str) -> None:
    """Make ``name`` the active collection from the next rerun on (e.g. after uploading to it).

    The selector's own key cannot be written once the widget exists in a run, so the request is
    applied by :func:`apply_collection_request` before the widget is drawn.
    """
    st.session_state[_COLLECTION_REQUEST_KEY] = name


def apply_collection_request() -> str | None:
    """Apply a pending :func:`request_collection` (call before drawing the selector); return it."""
    requested = st.session_state.pop(_COLLECTION_REQUEST_KEY, None)
    if requested:
        st.session_state[COLLECTION_KEY] = requested
    return requested or None


def initial_collection(engine: Engine) -> str:
    """The collection a run starts from: the session's choice, else the URL's, else the engine's default.

    The engine's default is the last collection used in the app, or the one with the newest
    documents (:meth:`rag.Engine.default_collection`), never an empty collection while one has
    documents.
    """
    return st.session_state.get(COLLECTION_KEY) or url_param(COLLECTION_PARAM) or engine.default_collection()


def active_collection(engine: Engine) -> str:
    """The collection chosen in the sidebar (the configured default before any choice)."""
    return st.session_state.get(COLLECTION_KEY) or engine.settings.collection
