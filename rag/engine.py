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
from rag.chat import StoredMessage, ask
from rag.config import Settings, set_in_environment
from rag.db import Database
from rag.db import conversations as conversation_rows
from rag.db import runs as run_rows
from rag.db.collections import (
    Collection,
    ensure_collection,
    ensure_vector_index,
    get_collection,
    update_collection_settings,
)
from rag.db.conversations import Conversation
from rag.db.documents import delete_documents
from rag.db.embeddings import count_stale, reusable_embeddings, set_embeddings, stale_chunks
from rag.db.listing import (
    ChunkInfo,
    DatabaseStatus,
    DocumentInfo,
    chunk_token_counts,
    collection_names,
    database_status,
    list_chunks,
    list_documents,
)
from rag.db.preferences import get_preferences, set_preference
from rag.db.runs import StoredRun
from rag.embedding import Embedder, hub_offline_by_user, load_embedder
from rag.errors import ConfigError, ModelDownloadError
from rag.ingest import Ingestor, ProgressCallback
from rag.loaders import LoadOptions
from rag.models import Candidate
from rag.rerank import Reranker, RerankerStatus, load_reranker
from rag.retrieval import RetrievalTrace, SearchParams, retrieve
from rag.uploads import ChunkPreview, FileOutcome, FileProgress, ingest_files, preview_chunks

LLM_PREFERENCE = "llm_model"
"""Key of the installation's chosen LLM in the ``preferences`` table."""

RERANKER_NOT_DOWNLOADED = "not downloaded"
"""Start of ``RerankerStatus.reason`` when the cross-encoder is not in the cache (the UI keys on it)."""

PULL_HINT = "run `rag models pull` (or Download on the Settings page)"
"""The short fix shown after a reranker status line."""


def _is_hub_id(name: str) -> bool:
    """``org/name`` or ``name``: something the Hub could have, not a path."""
    return not name.startswith((".", "/", "~")) and name.count("/") <= 1


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

    Args:
        settings: Configuration (``Settings.from_env()`` by default).
        db: An open database; opened from ``settings`` when omitted (started lazily on first use).

    Raises:
        DatabaseError: on first use, when the database cannot be opened.
    """

    def __init__(self, settings: Settings | None = None, db: Database | None = None) -> None:
        self.settings = settings or Settings.from_env()
        self._db = db
        self.download_progress: DownloadProgress | None = None
        """Receives a first-use model download's progress (bytes, total); ``None``: a tqdm bar on stderr."""
        self._preferences_applied = False
        self._lock = threading.RLock()
        self._embedder: Embedder | None = None
        self._reranker: Reranker | None = None
        self._reranker_status: RerankerStatus | None = None

    @property
    def db(self) -> Database:
        """The open database (started on first access; the installation's stored choices apply then)."""
        with self._lock:
            if self._db is None:
                self._db = Database.open(self.settings)
            if not self._preferences_applied:
                self._preferences_applied = True
                with self._db.connection() as conn:
                    stored = get_preferences(conn)
                if stored.get(LLM_PREFERENCE) and not set_in_environment("RAG_LLM_MODEL"):
                    self.settings = self.settings.with_(llm_model=str(stored[LLM_PREFERENCE]))
            return self._db

    def choose_llm(self, model: str | None) -> None:
        """Remember ``model`` as this installation's LLM (every session and the CLI use it from now on).

        ``None`` forgets the choice (back to ``RAG_LLM_MODEL`` or the default ``local/smollm2``).
        ``RAG_LLM_MODEL``, when set in the environment, still wins: it is the operator's explicit choice.

        Raises:
            ConfigError: an empty model string.
        """
        if model is not None and not model.strip():
            raise ConfigError("an LLM model string must not be empty, e.g. local/smollm2 or ollama/llama3.2")
        with self.db.connection() as conn:
            set_preference(conn, LLM_PREFERENCE, model.strip() if model else None)
        if not set_in_environment("RAG_LLM_MODEL"):
            self.settings = self.settings.with_(
                llm_model=model.strip() if model else Settings.from_env().llm_model
            )

    @property
    def embedder(self) -> Embedder:
        """The configured embedding model, loaded once.

        Raises:
            ModelNotAvailable: the model is not installed locally.
        """
        with self._lock:
            if self._embedder is None:
                self._embedder = load_embedder(self.settings.embedding_model)
            return self._embedder

    def reranker(self) -> tuple[Reranker | None, RerankerStatus]:
        """The cross-encoder (or None) and its status, loaded once.

        First use: when the model is not in the Hugging Face cache it is downloaded here, with
        progress reported to :attr:`download_progress` (a ``tqdm`` bar on stderr by default); with no
        network this fails within seconds and the status says what to do. Nothing is downloaded when
        the user set ``HF_HUB_OFFLINE=1``; the Settings page and ``rag models pull`` download with
        progress on request (:meth:`pull_reranker`).
        Never raises for a missing model.
        """
        with self._lock:
            if self._reranker_status is None:
                self._reranker, self._reranker_status = self._load_reranker()
            return self._reranker, self._reranker_status

    def loaded_reranker_status(self) -> RerankerStatus | None:
        """The reranker's status if :meth:`reranker` ran already, else ``None`` (never loads it)."""
        return self._reranker_status

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
        with self._lock:
            if self._reranker is None:
                self._reranker_status = None
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
        """Close the pool (the embedded server stops when its last user exits)."""
        if self._db is not None:
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

    def update_collection_settings(self, changes: dict[str, Any], collection: str | None = None) -> None:
        """Merge ``changes`` into a collection's JSON settings (e.g. a calibrated ``abstain_threshold``).

        Raises:
            NotFound: no such collection.
        """
        target = self.collection(collection)
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

        Raises:
            ConfigError: invalid chunking parameters or collection name.
        """
        settings = self.settings
        if chunk_size is not None or chunk_overlap is not None:
            settings = settings.with_(
                chunk_size=chunk_size if chunk_size is not None else settings.chunk_size,
                chunk_overlap=chunk_overlap if chunk_overlap is not None else settings.chunk_overlap,
            )
        return Ingestor(
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

    def documents(self, collection: str | None = None, search: str | None = None) -> list[DocumentInfo]:
        """Documents of a collection with chunk counts, newest first; ``search`` filters title/source."""
        with self.db.connection() as conn:
            return list_documents(conn, collection or self.settings.collection, search)

    def chunks(self, document_id: int) -> list[ChunkInfo]:
        """Chunks of one document in order.

        Raises:
            NotFound: no such document.
        """
        with self.db.connection() as conn:
            return list_chunks(conn, document_id)

    def chunk_token_counts(self, collection: str | None = None) -> list[int]:
        """Token count of every chunk in a collection (for the chunk length distribution)."""
        with self.db.connection() as conn:
            return chunk_token_counts(conn, collection or self.settings.collection)

    def delete_documents(self, document_ids: Sequence[int], collection: str | None = None) -> int:
        """Delete documents (chunks cascade; BM25 statistics updated). Returns how many were deleted.

        Raises:
            NotFound: no such collection.
        """
        target = self.collection(collection)
        with self.db.connection() as conn:
            return delete_documents(conn, target, document_ids)

    def reembed(self, collection: str | None = None, batch_size: int = 256) -> ReembedReport:
        """Re-embed the chunks whose stored model differs from the configured one.

        Chunks are processed in batches of ``batch_size``, each committed on its own (an interrupted
        run keeps its progress); vectors already stored for the same chunk sha256 by the configured
        model are reused.

        Raises:
            NotFound: no such collection. ModelNotAvailable: the configured model cannot load.
        """
        target = self.collection(collection)
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
        self, query: str, params: SearchParams | None = None, collection: str | None = None
    ) -> RetrievalTrace:
        """Retrieve passages for ``query``; returns the full trace (``trace.hits`` are the top-k).

        Raises:
            NotFound: the collection does not exist. ConfigError: bad parameters.
            EmbeddingModelMismatch: stored vectors come from another model.
        """
        [trace] = self.iter_search([query], params or self.default_params(), collection)
        return trace

    def iter_search(
        self, queries: Sequence[str], params: SearchParams, collection: str | None = None
    ) -> Iterator[RetrievalTrace]:
        """Run many queries on one connection (batch mode); raises like :meth:`search`."""
        target = self.collection(collection)
        if params.mode == "rerank":
            reranker, status = self.reranker()
        else:
            reranker, status = None, self._reranker_status_without_loading()
        with self.db.connection() as conn:
            for query in queries:
                yield retrieve(conn, target, query, params, self.embedder, reranker, status)

    def _reranker_status_without_loading(self) -> RerankerStatus:
        if self._reranker_status is not None:
            return self._reranker_status
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
    ) -> AnswerStream:
        """Answer ``question`` from a collection, streaming (arguments: :func:`rag.chat.ask`).

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
        )

    def prompt_preview(
        self, question: str, hits: Sequence[Candidate], history: Sequence[dict[str, str]] = ()
    ) -> list[dict[str, str]]:
        """The exact LLM messages an answer from ``hits`` would send (the Inspector shows them)."""
        messages, _ = build_answer_messages(question, hits, history, self.settings.llm_model)
        return messages

    def create_conversation(self, title: str = "New chat", collection: str | None = None) -> Conversation:
        """Create an empty conversation bound to a collection."""
        with self.db.connection() as conn:
            return conversation_rows.create_conversation(conn, title, collection or self.settings.collection)

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
            conversation_rows.rename_conversation(conn, conversation_id, title)

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
