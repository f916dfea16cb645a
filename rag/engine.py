"""The engine: the one service API that the CLI and the Streamlit pages call.

It owns the database (``rag.db``, the only code with SQL) and loads the embedder and the reranker
lazily, once per process. Each method is a thin, documented entry over one module: corpus reads and
writes (``rag.db``, ``rag.ingest``, ``rag.uploads``), retrieval (``rag.retrieval``), answers
(``rag.chat``, ``rag.answer``), conversations and evaluation runs (``rag.db``), models
(``rag.catalog``, ``rag.rerank``). It is the whole public surface of the engine, hence about 600
lines: of its ~45 methods most are a docstring and under five lines, kept in one class so the pages
and the CLI have one object to call.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from rag.answer import AnswerStream, build_answer_messages
from rag.answer_events import AnswerProgressCallback
from rag.catalog import (
    LLMCatalog,
    LLMTestResult,
    ModelAvailability,
    PullResult,
    list_llm_choices,
    pull_model,
    reranker_availability,
    test_llm,
)
from rag.catalog.download import ProgressCallback as DownloadProgress
from rag.chat import StoredMessage, answer_anyway, ask
from rag.cleaning import clean_input, one_line
from rag.config import Settings, set_in_environment
from rag.db import Database
from rag.db import conversations as conversation_rows
from rag.db import jobs as job_rows
from rag.db import runs as run_rows
from rag.db.access import Member, MemberAccess, list_members, remove_member, set_member
from rag.db.collections import (
    Collection,
    ensure_collection,
    ensure_vector_index,
    find_collection,
    get_collection,
    update_collection_settings,
)
from rag.db.conversations import Conversation
from rag.db.documents import delete_documents
from rag.db.embeddings import count_stale, reusable_embeddings, set_embeddings, stale_chunks
from rag.db.listing import (
    ChunkInfo,
    CollectionSummary,
    DatabaseStatus,
    DocumentInfo,
    chunk_token_counts,
    collection_names,
    collection_summaries,
    database_status,
    list_chunks,
    list_documents,
)
from rag.db.originals import OriginalFile, document_name, get_original
from rag.db.passages import CitedChunk, cited_chunk, neighbour_chunks
from rag.db.preferences import get_preferences, set_preference
from rag.db.runs import StoredRun
from rag.embedding import Embedder, hub_offline_by_user, load_embedder, stored_model_name
from rag.embedding_backends import ProgressMessage, print_progress
from rag.errors import AccessDenied, ConfigError, ModelDownloadError, NotFound
from rag.folder_sync import SyncReport, sync_folder
from rag.ingest import Ingestor, ProgressCallback
from rag.loaders import LoadOptions
from rag.loaders.text import sha256_hex
from rag.models import Candidate
from rag.passage_context import CONTEXT_CHUNKS, MAX_CONTEXT_CHARS, PassageContext, build_context
from rag.pdf_view import CitedPage, render_cited_page
from rag.rerank import Reranker, RerankerStatus, load_reranker
from rag.retrieval import RetrievalTrace, SearchParams, retrieve
from rag.uploads import (
    BatchFile,
    ChunkPreview,
    FileOutcome,
    FileProgress,
    ingest_files,
    plan_batch,
    preview_chunks,
)
from rag.users import LOCAL_USER, check_user_name

LLM_PREFERENCE = "llm_model"
"""Key of the installation's chosen LLM in the ``preferences`` table."""

COLLECTION_PREFERENCE = "last_collection"
"""Per-user suffix of the ``preferences`` key that remembers a user's last collection (``user:<name>:last_collection``)."""
"""Key of the collection last chosen in the app in the ``preferences`` table."""

EVALUATION_SETTING = "evaluation"
"""Key of ``collections.settings`` naming the dataset of a collection built by ``rag eval``."""

RERANKER_NOT_DOWNLOADED = "not downloaded"
"""Start of ``RerankerStatus.reason`` when the cross-encoder is not in the cache (the UI keys on it)."""

PULL_HINT = "run `rag models pull` (or Download on the Settings page)"
"""The short fix shown after a reranker status line."""


def _is_hub_id(name: str) -> bool:
    """``org/name`` or ``name``: something the Hub could have, not a path."""
    return not name.startswith((".", "/", "~")) and name.count("/") <= 1


def _check_writable(collection: Collection) -> Collection:
    """``collection`` when the acting user may write it.

    Raises:
        AccessDenied: it is shared read-only; the message names the owner to ask.
    """
    if not collection.writable:
        raise AccessDenied(
            f"collection {collection.name!r} is shared with you read-only: ask its owner {collection.owner} "
            f"for write access (`rag share {collection.name} YOUR-NAME --write`)"
        )
    return collection


@dataclass(frozen=True)
class ReembedReport:
    """Outcome of ``reembed``: chunks re-embedded and chunks whose vector was reused by sha256."""

    collection: str
    model: str
    stale_chunks: int
    embedded: int
    reused: int


class Engine:
    """Entry point of the engine (module docstring: what it owns).

    Every method acts as one user (:attr:`user`): PostgreSQL row-level security shows it only its
    own conversations and runs and the collections it owns or that are shared with it, and writes
    to a collection need write access. :meth:`for_user` gives another user's view of the same
    engine (same pool, same models), which is how the app serves each signed-in user.

    Args:
        settings: Configuration (``Settings.from_env()`` by default).
        db: An open database; opened from ``settings`` when omitted (started lazily on first use).
        user: Who acts (default ``settings.user``: ``RAG_USER`` or :data:`rag.users.LOCAL_USER`).

    Raises:
        ConfigError: ``user`` is empty, too long or holds control characters.
        DatabaseError: on first use, when the database cannot be opened.
    """

    def __init__(
        self, settings: Settings | None = None, db: Database | None = None, *, user: str | None = None
    ) -> None:
        self._settings = settings or Settings.from_env()
        self.user = check_user_name(user or self._settings.user)
        """Whose data this engine reads and writes."""
        self._root = self  # the engine that owns the pool and the models; a view's is its parent's
        self._db = db
        self._download_progress: DownloadProgress | None = None
        self._build_progress: ProgressMessage | None = None
        self._preferences_applied = False
        self._lock = threading.RLock()
        # Its own lock: loading the embedder (seconds to a minute) must not hold up database reads.
        self._embedder_lock = threading.Lock()
        self._embedder: Embedder | None = None
        self._reranker: Reranker | None = None
        self._reranker_status: RerankerStatus | None = None
        self._queue_app: Any = None  # the procrastinate App that enqueues, opened on our pool on first use

    def for_user(self, user: str) -> Engine:
        """A view of this engine acting as ``user``, sharing the pool, the models and the settings (microseconds).

        Closing a view does nothing; close the engine it came from.

        Raises:
            ConfigError: ``user`` is empty, too long or holds control characters.
        """
        view = Engine.__new__(Engine)
        view._root = self._root
        view.user = check_user_name(user)
        return view

    @property
    def settings(self) -> Settings:
        """The configuration (shared by every :meth:`for_user` view)."""
        return self._root._settings

    @settings.setter
    def settings(self, value: Settings) -> None:
        self._root._settings = value

    @property
    def download_progress(self) -> DownloadProgress | None:
        """Receives a first-use model download's progress (bytes, total); ``None``: a tqdm bar on stderr."""
        return self._root._download_progress

    @download_progress.setter
    def download_progress(self, value: DownloadProgress | None) -> None:
        self._root._download_progress = value

    @property
    def build_progress(self) -> ProgressMessage | None:
        """Receives a line when the embedding backend's model is built on first use; ``None``: stderr."""
        return self._root._build_progress

    @build_progress.setter
    def build_progress(self, value: ProgressMessage | None) -> None:
        self._root._build_progress = value

    @property
    def db(self) -> Database:
        """The open database seen as :attr:`user` (started on first access; stored choices apply then)."""
        root = self._root
        with root._lock:
            if root._db is None:
                root._db = Database.open(self.settings)
            if not root._preferences_applied:
                root._preferences_applied = True
                with root._db.connection() as conn:
                    stored = get_preferences(conn)
                if stored.get(LLM_PREFERENCE) and not set_in_environment("RAG_LLM_MODEL"):
                    self.settings = self.settings.with_(llm_model=str(stored[LLM_PREFERENCE]))
            return root._db.as_user(self.user)

    def choose_llm(self, model: str | None) -> None:
        """Remember ``model`` as this installation's LLM (every session and the CLI use it from now on).

        ``None`` forgets the choice (back to ``RAG_LLM_MODEL`` or the default ``local/smollm2``).
        ``RAG_LLM_MODEL``, when set in the environment, still wins: it is the operator's explicit choice.

        Raises:
            ConfigError: an empty model string.
            AccessDenied: the acting user is not the local operator (the CLI on the server).
        """
        if model is not None and not model.strip():
            raise ConfigError("an LLM model string must not be empty, e.g. local/smollm2 or ollama/llama3.2")
        if self.user != LOCAL_USER:
            raise AccessDenied(
                "only the operator chooses the installation's LLM: run `rag models use MODEL` on the server"
            )
        with self.db.connection() as conn:
            set_preference(conn, LLM_PREFERENCE, model.strip() if model else None)
        if not set_in_environment("RAG_LLM_MODEL"):
            self.settings = self.settings.with_(
                llm_model=model.strip() if model else Settings.from_env().llm_model
            )

    @property
    def embedder(self) -> Embedder:
        """The configured embedding model on the configured backend, loaded once.

        The first load of an ONNX / OpenVINO backend builds its model under ``<data dir>/models``
        (10-60 s), announced through :attr:`build_progress`.

        Raises:
            ModelNotAvailable: the model (or the backend's runtime) is not installed locally.
        """
        root = self._root
        with root._embedder_lock:
            if root._embedder is None:
                s = self.settings
                root._embedder = load_embedder(
                    s.embedding_model, s.backend, s.model_cache_dir, root._build_progress or print_progress
                )
            return root._embedder

    @property
    def embedding_model_name(self) -> str:
        """The name new vectors are stored under (model and backend, e.g. ``all-MiniLM-L6-v2@onnx-qint8``).

        The loaded embedder's name when there is one, else computed from the settings (no model load).
        """
        if self._root._embedder is not None:
            return self._root._embedder.name
        return stored_model_name(self.settings.embedding_model, self.settings.backend)

    def reranker(self) -> tuple[Reranker | None, RerankerStatus]:
        """The cross-encoder (or None) and its status, loaded once.

        First use: when the model is not in the Hugging Face cache it is downloaded here, with
        progress reported to :attr:`download_progress` (a ``tqdm`` bar on stderr by default); with no
        network this fails within seconds and the status says what to do. Nothing is downloaded when
        the user set ``HF_HUB_OFFLINE=1``; the Settings page and ``rag models pull`` download with
        progress on request (:meth:`pull_reranker`).
        Never raises for a missing model.
        """
        root = self._root
        with root._lock:
            if root._reranker_status is None:
                root._reranker, root._reranker_status = self._load_reranker()
            return root._reranker, root._reranker_status

    def loaded_reranker_status(self) -> RerankerStatus | None:
        """The reranker's status if :meth:`reranker` ran already, else ``None`` (never loads it)."""
        return self._root._reranker_status

    def _load_reranker(self) -> tuple[Reranker | None, RerankerStatus]:
        name = self.settings.reranker_model
        if not name:
            return load_reranker(name)  # the "disabled" status
        from rag.embedding import offline_and_quiet

        # Applies HF_HUB_OFFLINE's default first, so ``offline`` below means what the user chose.
        offline_and_quiet()
        availability = self.reranker_availability()
        if not availability.present:
            if availability.path is not None or not _is_hub_id(name):  # a bad directory: no download helps
                return None, RerankerStatus(name, False, availability.message)
            if availability.offline and hub_offline_by_user():
                return None, RerankerStatus(name, False, f"{RERANKER_NOT_DOWNLOADED}: {PULL_HINT}")
            try:  # first use downloads (the Hub is reached for this call only; fails fast offline)
                self._pull(self.download_progress)
            except ModelDownloadError as exc:
                return None, RerankerStatus(name, False, f"{RERANKER_NOT_DOWNLOADED}: {exc}")
        return load_reranker(name)

    def reranker_availability(self) -> ModelAvailability:
        """Whether the configured reranker is on disk (no network access, no model load; milliseconds).

        Returns:
            A :class:`ModelAvailability`; ``message`` and ``fix`` can be shown as they are.
        """
        return reranker_availability(self.settings.reranker_model)

    def pull_reranker(self, progress: DownloadProgress | None = None) -> PullResult:
        """Download the configured reranker into the Hugging Face cache, then use it from the next search.

        The network is allowed for this call even with ``HF_HUB_OFFLINE=1``; ``HF_ENDPOINT`` is read
        now (a mirror set after start-up counts). After a successful pull the cached "unavailable"
        status is forgotten, so the next :meth:`reranker` call loads the model.

        Args:
            progress: ``progress(downloaded_bytes, total_bytes)``, called on this thread after every
                chunk (``total_bytes`` may be ``None``); default: a ``tqdm`` bar on stderr.

        Returns:
            A :class:`PullResult` (``already_present`` when nothing had to be fetched).

        Raises:
            ConfigError: reranking is disabled (``RAG_RERANKER_MODEL`` is empty).
            ModelDownloadError: the Hub cannot be reached (within seconds), the repository is unknown
                or holds no CrossEncoder; the message says what to do.
        """
        result = self._pull(progress)
        root = self._root
        with root._lock:
            if root._reranker is None:
                root._reranker_status = None
        return result

    def _pull(self, progress: DownloadProgress | None) -> PullResult:
        endpoint = os.environ.get("HF_ENDPOINT") or None
        return pull_model(self.settings.reranker_model, progress=progress, endpoint=endpoint)

    def llm_choices(self, **options: Any) -> LLMCatalog:
        """The language models this installation can use, the current one marked (Settings, ``rag models``).

        Takes up to ``ollama_timeout_s`` (default 1.5 s) when no Ollama server answers at
        ``OLLAMA_API_BASE``; never shows or returns a secret value, only key names.

        Args:
            **options: Passed to :func:`rag.catalog.list_llm_choices` (``extra_models``,
                ``ollama_base``, ``ollama_timeout_s``, ``secrets_files``).

        Returns:
            An :class:`LLMCatalog`; an unreachable server or a missing key is in it, never raised.

        Raises:
            DatabaseError: the database (which holds the stored choice) cannot be opened.
        """
        self.db  # noqa: B018 - applies the installation's stored choice to ``settings`` first
        return list_llm_choices(self.settings, **options)

    def test_llm(
        self, model: str | None = None, mock_response: str | None = None, timeout_s: float = 30.0
    ) -> LLMTestResult:
        """One short completion ("Reply with OK") to ``model`` (default: the current LLM), timed.

        Args:
            model: LiteLLM model string; default ``settings.llm_model``.
            mock_response: Reply for LiteLLM's mock (no provider called; tests).
            timeout_s: Seconds to wait for the provider.

        Returns:
            An :class:`LLMTestResult` with ``latency_ms``; a failure is a readable ``error``, not raised.
        """
        return test_llm(model or self.settings.llm_model, timeout_s, mock_response=mock_response)

    def close(self) -> None:
        """Close the pool (the embedded server stops when its last user exits); a view's close does nothing."""
        if self._root is self and self._queue_app is not None:
            self._queue_app.close()
            self._queue_app = None
        if self._root is self and self._db is not None:
            self._db.close()
            self._db = None

    def collection(self, name: str | None = None) -> Collection:
        """Return a collection (``settings.collection`` by default).

        Raises:
            NotFound: it does not exist yet.
        """
        with self.db.connection() as conn:
            return get_collection(conn, name or self.settings.collection)

    def ensure_collection(self, name: str | None = None, text_search_config: str = "english") -> Collection:
        """Return the collection, creating it when missing.

        Raises:
            ConfigError: empty name or unknown text-search configuration.
        """
        with self.db.connection() as conn:
            return ensure_collection(conn, name or self.settings.collection, text_search_config)

    def collections(self) -> list[str]:
        """Names of all collections, sorted."""
        with self.db.connection() as conn:
            return collection_names(conn)

    def collection_summaries(self) -> list[CollectionSummary]:
        """Every collection with its document count and evaluation flag, by name (for pickers)."""
        with self.db.connection() as conn:
            return collection_summaries(conn)

    def mark_evaluation_collection(self, collection: str, dataset: str) -> None:
        """Mark a collection as built from the evaluation dataset ``dataset`` (Chat does not list it).

        Raises:
            NotFound: no such collection. ConfigError: an empty dataset name.
        """
        if not dataset.strip():
            raise ConfigError("an evaluation collection needs the name of its dataset, e.g. scifact")
        self.update_collection_settings({EVALUATION_SETTING: dataset.strip()}, collection)

    def remember_collection(self, name: str | None) -> None:
        """Remember ``name`` as the collection last used in the app (the next start opens it); ``None`` forgets."""
        with self.db.connection() as conn:
            set_preference(conn, self._own_preference(COLLECTION_PREFERENCE), name)

    def _own_preference(self, name: str) -> str:
        # Row-level security lets each user write only keys under its own prefix (migration 6).
        return f"user:{self.user}:{name}"

    def default_collection(self) -> str:
        """The collection the app opens when nothing else is asked for.

        In order: the last used one (:meth:`remember_collection`) while it exists and has documents;
        else the non-evaluation collection whose newest document is the most recent (e.g. the one a
        ``rag ingest`` just filled); else the configured ``settings.collection``. Evaluation
        collections are never the default.
        """
        with self.db.connection() as conn:
            remembered = get_preferences(conn).get(self._own_preference(COLLECTION_PREFERENCE))
            summaries = [s for s in collection_summaries(conn) if not s.is_evaluation]
        with_documents = [s for s in summaries if s.documents]
        if any(s.name == remembered for s in with_documents):
            return str(remembered)
        if with_documents:
            return max(with_documents, key=lambda s: s.last_added.timestamp() if s.last_added else 0.0).name
        return self.settings.collection

    def collection_members(self, collection: str | None = None) -> list[Member]:
        """Who may use a collection: its owner first, then the members by name.

        The owner sees every member; a member sees the owner and itself.

        Raises:
            NotFound: no such collection (or not shared with the acting user).
        """
        target = self.collection(collection)
        with self.db.connection() as conn:
            members = list_members(conn, target.id)
        return [Member(target.owner, "owner"), *members]

    def share_collection(self, member: str, access: MemberAccess, collection: str | None = None) -> None:
        """Let ``member`` read (``access="read"``) or also write (``"write"``) a collection the acting user owns.

        Sharing again changes the access. Writers add, replace and delete documents and re-embed;
        only the owner shares.

        Raises:
            NotFound: no such collection. AccessDenied: the acting user is not its owner.
            ConfigError: a bad user name, ``access`` not ``read``/``write``, or sharing with the owner.
        """
        if access not in ("read", "write"):
            raise ConfigError(f"access {access!r} is unknown: use read or write")
        member = check_user_name(member)
        target = self._owned(collection)
        if member == target.owner:
            raise ConfigError(f"{member} owns {target.name!r} already")
        with self.db.connection() as conn:
            set_member(conn, target.id, member, access)

    def unshare_collection(self, member: str, collection: str | None = None) -> bool:
        """Take ``member``'s access to a collection the acting user owns away; ``False`` if it had none.

        Raises:
            NotFound: no such collection. AccessDenied: the acting user is not its owner.
        """
        target = self._owned(collection)
        with self.db.connection() as conn:
            return remove_member(conn, target.id, member.strip())

    def _owned(self, collection: str | None) -> Collection:
        target = self.collection(collection)
        if target.access != "owner":
            raise AccessDenied(f"only {target.owner}, the owner of {target.name!r}, can share it")
        return target

    def _writable(self, collection: str | None) -> Collection:
        return _check_writable(self.collection(collection))

    def update_collection_settings(self, changes: dict[str, Any], collection: str | None = None) -> None:
        """Merge ``changes`` into a collection's JSON settings (e.g. a calibrated ``abstain_threshold``).

        Raises:
            NotFound: no such collection. AccessDenied: it is shared with the acting user read-only.
        """
        target = self._writable(collection)
        with self.db.connection() as conn:
            update_collection_settings(conn, target.id, changes)

    def ingestor(
        self,
        collection: str | None = None,
        *,
        load_options: LoadOptions | None = None,
        on_progress: ProgressCallback | None = None,
        chunk_size: int | None = None,
        chunk_overlap: int | None = None,
        text_search_config: str = "english",
    ) -> Ingestor:
        """An :class:`Ingestor` for a collection with the configured model and chunking.

        The collection is created, owned by the acting user, when it does not exist.

        Raises:
            ConfigError: invalid chunking parameters or collection name.
            AccessDenied: the collection is shared with the acting user read-only, or another user's
                collection has that name.
        """
        settings = self.settings
        if chunk_size is not None or chunk_overlap is not None:
            settings = settings.with_(
                chunk_size=chunk_size if chunk_size is not None else settings.chunk_size,
                chunk_overlap=chunk_overlap if chunk_overlap is not None else settings.chunk_overlap,
            )
        ingestor = Ingestor(
            self.db,
            self.embedder,
            collection or settings.collection,
            chunk_size=settings.chunk_size,
            chunk_overlap=settings.chunk_overlap,
            load_options=load_options or self.load_options(),
            on_progress=on_progress,
            text_search_config=text_search_config,
            embedding_batch_size=settings.embedding_batch_size,
        )
        if ingestor.existing_collection is not None:  # a new one is created owned by the acting user
            _check_writable(ingestor.existing_collection)
        return ingestor

    def load_options(self, **changes: Any) -> LoadOptions:
        """Loader options with the configured size limit (``RAG_MAX_FILE_MB``) and ``changes``.

        Raises:
            ConfigError: an inconsistent option (e.g. a CSV title column without rows mode).
        """
        return LoadOptions(**{"max_file_bytes": self.settings.max_file_bytes, **changes})

    def preview_chunks(
        self,
        data: bytes,
        filename: str,
        *,
        chunk_size: int | None = None,
        chunk_overlap: int | None = None,
        load_options: LoadOptions | None = None,
    ) -> ChunkPreview:
        """The chunks the first document of a file will get, exactly as ingestion makes them (none stored).

        Raises:
            LoaderError: the file cannot be read. ConfigError: bad chunk size / overlap.
        """
        return preview_chunks(
            data,
            filename,
            self.embedder,
            chunk_size if chunk_size is not None else self.settings.chunk_size,
            chunk_overlap if chunk_overlap is not None else self.settings.chunk_overlap,
            load_options or self.load_options(),
        )

    def plan_upload(
        self, files: Sequence[tuple[str, bytes]], load_options: LoadOptions | None = None
    ) -> list[BatchFile]:
        """Check uploaded ``(file name, bytes)`` pairs before ingesting them (:func:`rag.uploads.plan_batch`).

        Says which files will fail (unsupported type, above ``RAG_MAX_FILE_MB``, empty) and renames a
        second, different file with the same name (``report (2).pdf``) so neither replaces the other.
        Nothing is parsed or stored; milliseconds (one sha256 per file).
        """
        return plan_batch(files, load_options or self.load_options())

    def ingest_files(
        self,
        files: Sequence[tuple[str, bytes]],
        collection: str,
        *,
        chunk_size: int | None = None,
        chunk_overlap: int | None = None,
        load_options: LoadOptions | None = None,
        on_progress: Callable[[FileProgress], None] | None = None,
    ) -> list[FileOutcome]:
        """Ingest uploaded ``(file name, bytes)`` pairs one by one; a failed file never stops the others.

        ``on_progress`` is called from the calling thread at each stage of each file.

        Raises:
            ConfigError: invalid chunking settings or collection name (before any file is read).
            DatabaseError: the database is not reachable.
        """
        ingestor = self.ingestor(
            collection, load_options=load_options, chunk_size=chunk_size, chunk_overlap=chunk_overlap
        )
        return ingest_files(ingestor, files, on_progress)

    # Background ingestion (docs/background-ingestion.md).

    def _enqueue_app(self) -> Any:
        from rag.queue import build_app, conninfo_of

        root = self._root
        with root._lock:
            if root._queue_app is None:
                root._queue_app = job_rows.open_queue_app(build_app(conninfo_of(self)), self.db)
            return root._queue_app

    def enqueue_files(
        self,
        files: Sequence[tuple[str, bytes]],
        collection: str,
        *,
        chunk_size: int | None = None,
        chunk_overlap: int | None = None,
        load_options: dict[str, Any] | None = None,
    ) -> list[job_rows.Job]:
        """Queue uploaded ``(file name, bytes)`` pairs as background ingest jobs, one per file; return at once.

        A worker (``rag worker``, or the app's own) ingests them; :meth:`jobs` shows their progress. The
        bytes are stored with the job (``ingest_job_inputs``) so a worker on another machine can read them.

        Args:
            load_options: JSON-able :class:`~rag.loaders.LoadOptions` fields (e.g. ``{"csv_mode": "rows"}``).

        Raises:
            AccessDenied: the collection is shared with the acting user read-only.
            ConfigError: an empty collection name.
        """
        from rag.queue import defer_job

        if not collection.strip():
            raise ConfigError("give a collection name")
        with self.db.connection() as conn:
            existing = find_collection(conn, collection)
        if existing is not None:
            _check_writable(existing)
        options: dict[str, Any] = {"load_options": dict(load_options or {})}
        if chunk_size is not None:
            options["chunk_size"] = chunk_size
        if chunk_overlap is not None:
            options["chunk_overlap"] = chunk_overlap
        app = self._enqueue_app()
        jobs = []
        for name, data in files:
            with self.db.connection() as conn:
                job = job_rows.create_job(conn, collection, name, data, sha256_hex(data), options)
            queue_id = defer_job(app, job.id)
            with self.db.connection() as conn:
                job_rows.set_queue_job_id(conn, job.id, queue_id)
            jobs.append(replace(job, queue_job_id=queue_id))
        return jobs

    def jobs(self, limit: int = 200, collection: str | None = None) -> list[job_rows.Job]:
        """The acting user's ingest jobs, newest first (at most ``limit``); milliseconds."""
        with self.db.connection() as conn:
            return job_rows.list_jobs(conn, limit, collection)

    def job(self, job_id: int) -> job_rows.Job:
        """One of the acting user's jobs.

        Raises:
            NotFound: no such job, or it is another user's.
        """
        with self.db.connection() as conn:
            job = job_rows.get_job(conn, job_id)
        if job is None:
            raise NotFound(f"there is no ingest job {job_id} of yours: see rag jobs")
        return job

    def cancel_job(self, job_id: int) -> job_rows.Job:
        """Cancel a queued job now, or a running one at its next batch (whole documents stay stored).

        Raises:
            NotFound: no such job of the acting user, or it already finished.
        """
        with self.db.connection() as conn:
            job = job_rows.request_cancel(conn, job_id)
        if job is None:
            raise NotFound(f"ingest job {job_id} is not queued or running (or not yours): nothing to cancel")
        return job

    def retry_job(self, job_id: int) -> job_rows.Job:
        """Queue a failed job again (its bytes were kept).

        Raises:
            NotFound: no such failed job of the acting user.
        """
        from rag.queue import defer_job

        with self.db.connection() as conn:
            job = job_rows.requeue_job(conn, job_id)
        if job is None:
            raise NotFound(
                f"ingest job {job_id} is not a failed job of yours: only failed jobs can be retried"
            )
        queue_id = defer_job(self._enqueue_app(), job_id)
        with self.db.connection() as conn:
            job_rows.set_queue_job_id(conn, job_id, queue_id)
        return replace(job, queue_job_id=queue_id)

    def sync_folder(self, directory: str | os.PathLike[str], collection: str) -> SyncReport:
        """Make ``collection`` follow a server-side folder (:func:`rag.folder_sync.sync_folder`).

        Raises:
            ConfigError: not a folder, or too many files. AccessDenied: read-only collection.
        """
        from pathlib import Path

        return sync_folder(self, Path(directory), collection)

    def document_hashes(self, collection: str) -> dict[str, str]:
        """``{source_name: sha256}`` of a collection's documents (empty when it does not exist)."""
        with self.db.connection() as conn:
            return job_rows.document_hashes(conn, collection)

    def open_job_hashes(self, collection: str) -> dict[str, str]:
        """``{source_name: sha256}`` of the acting user's unfinished jobs into ``collection``."""
        with self.db.connection() as conn:
            return job_rows.open_job_hashes(conn, collection)

    def delete_sources(self, source_names: Sequence[str], collection: str) -> int:
        """Delete a collection's documents with these source names; return how many.

        Raises:
            NotFound: no such collection. AccessDenied: read-only collection.
        """
        target = self._writable(collection)
        with self.db.connection() as conn:
            ids = job_rows.document_ids_by_source(conn, target.id, list(source_names))
            return delete_documents(conn, target, ids) if ids else 0

    def start_worker(self, concurrency: int = 1) -> Any:
        """Start a worker on a daemon thread of this process (the app's in-process worker).

        Returns:
            A :class:`rag.queue.WorkerThread` (``stop()``, ``alive``). It runs every user's jobs, each as
            its owner, with this engine's models.
        """
        from rag.queue import WorkerThread

        return WorkerThread(self._root, concurrency)

    def documents(self, collection: str | None = None, search: str | None = None) -> list[DocumentInfo]:
        """Documents of a collection with chunk counts, newest first; ``search`` filters title/source."""
        with self.db.connection() as conn:
            return list_documents(
                conn, collection or self.settings.collection, None if search is None else one_line(search)
            )

    def chunks(self, document_id: int) -> list[ChunkInfo]:
        """Chunks of one document in order.

        Raises:
            NotFound: no such document.
        """
        with self.db.connection() as conn:
            return list_chunks(conn, document_id)

    def original(self, document_id: int) -> OriginalFile:
        """The file a document was loaded from, as uploaded (for a download button or the PDF viewer).

        Returns:
            Its bytes (at most ``RAG_MAX_FILE_MB``), media type and file name.

        Raises:
            NotFound: no such document, or one in a collection the acting user may not read (row-level
                security shows it no such row, so the two cannot be told apart), or a document kept
                without its file: a CSV row or JSONL line, or one ingested before files were kept
                (upload it again).
        """
        with self.db.connection() as conn:
            original = get_original(conn, document_id)
            name = document_name(conn, document_id) if original is None else None
        if original is not None:
            return original
        if name is None:
            raise NotFound(f"there is no document {document_id} in a collection you can read")
        raise NotFound(
            f"the original file of {name!r} is not kept (a row of a larger file, or ingested before "
            "originals were kept): upload the file again to keep it"
        )

    def _cited(self, chunk_id: int) -> CitedChunk:
        with self.db.connection() as conn:
            found = cited_chunk(conn, chunk_id)
        if found is None:
            raise NotFound(
                f"the cited passage {chunk_id} is no longer stored: its document was deleted or replaced "
                "by a newer version; ask again to cite the current one"
            )
        return found

    def passage_context(self, chunk_id: int, max_chars: int = MAX_CONTEXT_CHARS) -> PassageContext:
        """A cited passage in its section: the heading path and the text before and after it.

        Rebuilt from the stored chunks around it (:mod:`rag.passage_context`), for every format;
        at most ``max_chars`` characters of the section on each side (cut at a word, marked "…").

        Raises:
            NotFound: the chunk is not stored (its document was deleted or replaced) or not readable.
        """
        found = self._cited(chunk_id)
        with self.db.connection() as conn:
            neighbours = neighbour_chunks(conn, found.piece.document_id, found.piece.ordinal, CONTEXT_CHUNKS)
        return build_context(found, neighbours, max_chars)

    def cited_pages(self, chunk_id: int, max_pages: int = 3) -> list[CitedPage]:
        """The PDF pages a cited passage covers, rendered as PNG with the passage highlighted.

        Pages ``page_start`` to ``page_end`` of the chunk (at most ``max_pages``), each rendered at
        :data:`rag.pdf_view.RENDER_DPI` from the document's kept original (:mod:`rag.pdf_view`):
        0.15 to 0.3 s per text page, seconds for a scanned page the first time (OCR; its lines are
        then cached), measured by ``benchmarks/cited_page.py``.

        Raises:
            NotFound: the chunk is not stored or not readable; its document is not a PDF, or its
                original is not kept (ingested before originals were kept: upload it again).
            CorruptDocument: the kept PDF cannot be rendered.
        """
        found = self._cited(chunk_id)
        piece = found.piece
        if found.media_type != "application/pdf" or piece.page_start is None:
            raise NotFound(f"{found.source_name} is not a PDF: it has no pages to show")
        original = self.original(piece.document_id)
        last = min(piece.page_end or piece.page_start, piece.page_start + max_pages - 1)
        return [
            render_cited_page(
                original.data, page, piece.text, filename=found.source_name, cache_key=original.sha256
            )
            for page in range(piece.page_start, last + 1)
        ]

    def chunk_token_counts(self, collection: str | None = None) -> list[int]:
        """Token count of every chunk in a collection (for the chunk length distribution)."""
        with self.db.connection() as conn:
            return chunk_token_counts(conn, collection or self.settings.collection)

    def delete_documents(self, document_ids: Sequence[int], collection: str | None = None) -> int:
        """Delete documents (chunks cascade; BM25 statistics updated). Returns how many were deleted.

        Raises:
            NotFound: no such collection. AccessDenied: it is shared with the acting user read-only.
        """
        target = self._writable(collection)
        with self.db.connection() as conn:
            return delete_documents(conn, target, document_ids)

    def reembed(self, collection: str | None = None, batch_size: int = 256) -> ReembedReport:
        """Re-embed the chunks whose stored model differs from the configured one.

        Chunks are processed in batches of ``batch_size``, each committed on its own (an interrupted
        run keeps its progress); vectors already stored for the same chunk sha256 by the configured
        model are reused.

        Raises:
            NotFound: no such collection. ModelNotAvailable: the configured model cannot load.
            AccessDenied: the collection is shared with the acting user read-only.
        """
        target = self._writable(collection)
        embedder = self.embedder
        with self.db.connection() as conn:
            ensure_vector_index(conn, embedder.name, embedder.dimension)
            stale = count_stale(conn, target.id, embedder.name)
        embedded = reused = 0
        while True:
            with self.db.connection() as conn:
                rows = stale_chunks(conn, target.id, embedder.name, batch_size)
                if not rows:
                    break
                known = reusable_embeddings(conn, [r.sha256 for r in rows], embedder.name)
                todo = {r.sha256: r.embedding_input for r in rows if r.sha256 not in known}
                if todo:
                    known.update(zip(todo, embedder.embed(list(todo.values())), strict=True))
                embedded += len(todo)
                reused += len(rows) - len(todo)
                set_embeddings(conn, {r.id: known[r.sha256] for r in rows}, embedder.name)
        return ReembedReport(target.name, embedder.name, stale, embedded, reused)

    def status(self) -> DatabaseStatus:
        """Where the database is, versions and counts."""
        db = self.db
        with db.connection() as conn:
            return database_status(conn, db.location, db.embedded)

    def default_params(self, **overrides: Any) -> SearchParams:
        """SearchParams from the settings (``rerank`` when a reranker loads, else ``hybrid``)."""
        s = self.settings
        params = SearchParams(
            mode="rerank",
            k=s.top_k,
            candidates=s.candidates,
            rrf_k=float(s.rrf_k),
            k1=s.bm25_k1,
            b=s.bm25_b,
            exact_bm25=s.bm25_exact,
        )
        return replace(params, **overrides)

    def search(
        self,
        query: str,
        params: SearchParams | None = None,
        collection: str | None = None,
        on_rerank: Callable[[int], None] | None = None,
    ) -> RetrievalTrace:
        """Retrieve passages for ``query``; returns the full trace (``trace.hits`` are the top-k).

        ``on_rerank(candidates)`` is called just before the cross-encoder runs (see
        :func:`rag.retrieval.retrieve`).

        Raises:
            NotFound: the collection does not exist. ConfigError: bad parameters.
            EmbeddingModelMismatch: stored vectors come from another model.
        """
        [trace] = self.iter_search([query], params or self.default_params(), collection, on_rerank)
        return trace

    def iter_search(
        self,
        queries: Sequence[str],
        params: SearchParams,
        collection: str | None = None,
        on_rerank: Callable[[int], None] | None = None,
    ) -> Iterator[RetrievalTrace]:
        """Run many queries on one connection (batch mode); raises like :meth:`search`."""
        target = self.collection(collection)
        if params.mode == "rerank":
            reranker, status = self.reranker()
        else:
            reranker, status = None, self._reranker_status_without_loading()
        with self.db.connection() as conn:
            for query in queries:
                # NUL cannot reach PostgreSQL; other control characters are never meant in a query.
                yield retrieve(
                    conn, target, clean_input(query), params, self.embedder, reranker, status, on_rerank
                )

    def _reranker_status_without_loading(self) -> RerankerStatus:
        if self._root._reranker_status is not None:
            return self._root._reranker_status
        return RerankerStatus(name=self.settings.reranker_model, available=False, reason="not requested")

    def ask(
        self,
        question: str,
        *,
        history: Sequence[dict[str, str]] = (),
        collection: str | None = None,
        params: SearchParams | None = None,
        conversation_id: int | None = None,
        mock_response: str | Exception | None = None,
        rewrite_mock_response: str | None = None,
        on_progress: AnswerProgressCallback | None = None,
    ) -> AnswerStream:
        """Answer ``question`` from a collection, streaming (arguments: :func:`rag.chat.ask`).

        ``on_progress`` receives a :class:`rag.answer_events.AnswerProgress` as each stage starts (searching, N
        passages found, reranking, writing, verifying, done), on the calling thread.

        Raises:
            NotFound: collection or conversation missing. LLMError: the LLM call failed (raised while
                iterating). EmbeddingModelMismatch: stored vectors come from another model.
        """
        return ask(
            self,
            question,
            history=history,
            collection=collection,
            params=params,
            conversation_id=conversation_id,
            mock_response=mock_response,
            rewrite_mock_response=rewrite_mock_response,
            on_progress=on_progress,
        )

    def answer_anyway(
        self,
        message_id: int,
        *,
        mock_response: str | Exception | None = None,
        on_progress: AnswerProgressCallback | None = None,
    ) -> AnswerStream:
        """Answer a declined question from its retrieved passages (:func:`rag.chat.answer_anyway`).

        The answer is cited and verified as usual, marked ``below_threshold`` and stored as a new
        turn of the same conversation.

        Raises:
            NotFound: no such message. CannotAnswerAnyway: it is not a declined answer, or no
                passage was retrieved for it. LLMError: the LLM call failed (raised while iterating).
        """
        return answer_anyway(self, message_id, mock_response=mock_response, on_progress=on_progress)

    def prompt_preview(
        self, question: str, hits: Sequence[Candidate], history: Sequence[dict[str, str]] = ()
    ) -> list[dict[str, str]]:
        """The exact LLM messages an answer from ``hits`` would send (the Inspector shows them)."""
        messages, _ = build_answer_messages(question, hits, history, self.settings.llm_model)
        return messages

    def create_conversation(self, title: str = "New chat", collection: str | None = None) -> Conversation:
        """Create an empty conversation bound to a collection."""
        with self.db.connection() as conn:
            return conversation_rows.create_conversation(
                conn, one_line(title), collection or self.settings.collection
            )

    def conversations(self, limit: int = 100) -> list[Conversation]:
        """Conversations, most recently active first."""
        with self.db.connection() as conn:
            return conversation_rows.list_conversations(conn, limit)

    def rename_conversation(self, conversation_id: int, title: str) -> None:
        """Rename a conversation.

        Raises:
            NotFound: no such conversation.
        """
        with self.db.connection() as conn:
            conversation_rows.rename_conversation(conn, conversation_id, one_line(title))

    def delete_conversation(self, conversation_id: int) -> None:
        """Delete a conversation and its messages (a missing id is not an error)."""
        with self.db.connection() as conn:
            conversation_rows.delete_conversation(conn, conversation_id)

    def messages(self, conversation_id: int) -> list[StoredMessage]:
        """A conversation's messages in order, assistant turns with their typed answers.

        Raises:
            NotFound: no such conversation.
        """
        with self.db.connection() as conn:
            rows = conversation_rows.list_messages(conn, conversation_id)
        return [StoredMessage.from_row(row) for row in rows]

    def message(self, message_id: int) -> StoredMessage:
        """One stored message (the Inspector opens an answer by id).

        Raises:
            NotFound: no such message.
        """
        with self.db.connection() as conn:
            return StoredMessage.from_row(conversation_rows.get_message(conn, message_id))

    def store_run(self, **fields: Any) -> int:
        """Store an evaluation run (fields of :func:`rag.db.runs.insert_run`); returns its id."""
        with self.db.connection() as conn:
            return run_rows.insert_run(conn, **fields)

    def runs(self, limit: int = 200) -> list[StoredRun]:
        """Stored evaluation runs, newest first."""
        with self.db.connection() as conn:
            return run_rows.list_runs(conn, limit)

    def run(self, run_id: int) -> StoredRun:
        """One stored evaluation run.

        Raises:
            NotFound: no such run.
        """
        with self.db.connection() as conn:
            return run_rows.get_run(conn, run_id)
