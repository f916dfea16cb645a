"""Settings, read from the environment at call time (never at import time).

Every setting has an environment variable; the CLI and the Streamlit app override single fields with
``dataclasses.replace``. Tests use ``monkeypatch.setenv`` and call :meth:`Settings.from_env` again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, get_args

from rag.embedding_backends import EmbeddingBackend
from rag.errors import ConfigError
from rag.users import LOCAL_USER, check_user_name

AuthMode = Literal["none", "oidc", "trusted-header"]
"""How the app knows who is signing in (``RAG_AUTH``; docs/deployment.md)."""

DEFAULT_AUTH_HEADER = "X-Forwarded-User"

DEFAULT_EMBEDDING_MODEL = "all-MiniLM-L6-v2"
DEFAULT_EMBEDDING_BACKEND = "torch"
DEFAULT_RERANKER_MODEL = "cross-encoder/ms-marco-MiniLM-L-6-v2"
DEFAULT_LLM_MODEL = "local/smollm2"
DEFAULT_MAX_ANSWER_TOKENS = 300
DEFAULT_ANSWER_TIMEOUT_S = 60.0


def _default_data_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("rag-chat", appauthor=False))


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r} is not a whole number") from exc


def _env_float(name: str, default: float) -> float:
    value = _env_optional_float(name)
    return default if value is None else value


def _env_optional_float(name: str) -> float | None:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return None
    try:
        return float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r} is not a number") from exc


@dataclass(frozen=True)
class Settings:
    """All tunable settings of the engine.

    Attributes:
        data_dir: Where the embedded PostgreSQL keeps its cluster (``RAG_DATA_DIR``; default the
            per-user data dir from ``platformdirs``, e.g. ``~/.local/share/rag-chat``).
        database_url: External PostgreSQL with pgvector (``DATABASE_URL``); ``None`` starts the
            embedded server under ``data_dir``.
        collection: Default collection name (``RAG_COLLECTION``).
        user: Who the CLI acts as (``RAG_USER``, ``--user``); the app's users come from ``auth``.
        auth: How the app signs users in (``RAG_AUTH``): ``none`` (one local user, the app bound
            to localhost), ``oidc`` (Streamlit's ``st.login`` with ``[auth]`` in
            ``.streamlit/secrets.toml``) or ``trusted-header`` (an authenticating proxy in front).
        auth_header: The request header holding the user name in ``trusted-header`` mode
            (``RAG_AUTH_HEADER``).
        embedding_model: sentence-transformers name or local path, or a LiteLLM embedding model
            prefixed ``litellm/`` (e.g. ``litellm/openai/text-embedding-3-small``)
            (``RAG_EMBEDDING_MODEL``).
        embedding_backend: How a local embedding model runs: ``torch``, ``onnx`` (ONNX Runtime) or
            ``openvino`` (``RAG_EMBEDDING_BACKEND``). torch stays the default until another backend is
            measured at >= 2x its chunks/s within 0.005 SciFact nDCG@10 (``docs/performance.md``,
            "Embedding backends").
        embedding_quantization: ``fp32`` or ``qint8`` (int8 weights and activations) for ``onnx`` and
            ``openvino`` (``RAG_EMBEDDING_QUANTIZATION``); empty: the runtime's default
            (``rag.embedding_backends.DEFAULT_QUANTIZATION``: qint8 on ONNX Runtime and OpenVINO).
        embedding_batch_size: Texts per ``encode`` call (``RAG_EMBEDDING_BATCH_SIZE``).
        chunk_size: Maximum tokens of a chunk's embedding input (context header + passage), in the
            embedding model's own tokenizer; capped at the model's max sequence length
            (``RAG_CHUNK_SIZE``).
        chunk_overlap: Tokens shared by consecutive chunks; must be < ``chunk_size``
            (``RAG_CHUNK_OVERLAP``).
        max_file_mb: Largest accepted file in MiB (``RAG_MAX_FILE_MB``); matches Streamlit's
            ``server.maxUploadSize``.
        reranker_model: CrossEncoder name or directory (``RAG_RERANKER_MODEL``); empty disables.
        llm_model: LiteLLM model string (``RAG_LLM_MODEL``); ``local/smollm2`` or
            ``local/<path>.gguf`` run on llama-cpp-python.
        bm25_k1, bm25_b: Okapi BM25 parameters (``RAG_BM25_K1``, ``RAG_BM25_B``). Defaults 0.9 / 0.4
            are Pyserini's BEIR settings (Kamphuis et al., ECIR 2020; Pyserini ``beir.yaml``).
        bm25_exact: Score every chunk holding a query term instead of the impact-ordered posting
            heads (``RAG_BM25_EXACT=1``): the reference for evaluation, linear in the collection
            (``rag.db.search.bm25_search``).
        rrf_k: Reciprocal rank fusion constant (``RAG_RRF_K``; 60 from Cormack et al., SIGIR 2009).
        candidates: Fused candidates passed to the reranker, N (``RAG_CANDIDATES``).
        top_k: Passages kept for the answer (``RAG_TOP_K``).
        abstain_threshold: A fixed cosine gate: when set, ``ask`` abstains without calling the LLM
            when the best cosine similarity of a kept passage (in [-1, 1]) is below it
            (``RAG_ABSTAIN_THRESHOLD``). ``None`` (the default) uses the evidence model
            (``rag.abstention.DEFAULT_MODEL``), which transfers across collections; a collection's
            calibrated ``abstain_threshold`` or ``abstain_probability`` setting overrides both.
            The former default 0.62 was fitted on ClapNQ dev and declined answerable questions
            over technical manuals (``docs/evaluation.md``, "Abstention").
        max_answer_tokens: Longest answer in tokens (``RAG_MAX_ANSWER_TOKENS``). 300 tokens is about
            225 English words, several sentences with citations; it bounds the time a looping small
            model can run (SmolLM2-135M wrote 512-token loops for 2 of 6 test questions).
        answer_timeout_s: Wall-clock limit of one generation in seconds, from the request to the
            last token (``RAG_ANSWER_TIMEOUT_S``); the answer stops there with
            ``finish_reason="timeout"``.
    """

    data_dir: Path = field(default_factory=_default_data_dir)
    database_url: str | None = None
    collection: str = "default"
    user: str = LOCAL_USER
    auth: AuthMode = "none"
    auth_header: str = DEFAULT_AUTH_HEADER
    embedding_model: str = DEFAULT_EMBEDDING_MODEL
    embedding_backend: str = DEFAULT_EMBEDDING_BACKEND
    embedding_quantization: str = ""
    embedding_batch_size: int = 64
    chunk_size: int = 256
    chunk_overlap: int = 32
    max_file_mb: int = 50
    reranker_model: str = DEFAULT_RERANKER_MODEL
    llm_model: str = DEFAULT_LLM_MODEL
    bm25_k1: float = 0.9
    bm25_b: float = 0.4
    bm25_exact: bool = False
    rrf_k: int = 60
    candidates: int = 30
    top_k: int = 5
    abstain_threshold: float | None = None
    max_answer_tokens: int = DEFAULT_MAX_ANSWER_TOKENS
    answer_timeout_s: float = DEFAULT_ANSWER_TIMEOUT_S

    @classmethod
    def from_env(cls) -> Settings:
        """Build settings from ``RAG_*`` / ``DATABASE_URL`` environment variables.

        Raises:
            ConfigError: a variable is not a number, or the values are inconsistent.
        """
        env = os.environ
        settings = cls(
            data_dir=Path(env["RAG_DATA_DIR"]).expanduser()
            if env.get("RAG_DATA_DIR")
            else _default_data_dir(),
            database_url=env.get("DATABASE_URL") or None,
            collection=env.get("RAG_COLLECTION") or "default",
            user=env.get("RAG_USER") or LOCAL_USER,
            auth=env.get("RAG_AUTH", "").strip().lower() or "none",  # type: ignore[arg-type] # validated below
            auth_header=env.get("RAG_AUTH_HEADER") or DEFAULT_AUTH_HEADER,
            embedding_model=env.get("RAG_EMBEDDING_MODEL") or DEFAULT_EMBEDDING_MODEL,
            embedding_backend=env.get("RAG_EMBEDDING_BACKEND") or DEFAULT_EMBEDDING_BACKEND,
            embedding_quantization=env.get("RAG_EMBEDDING_QUANTIZATION") or "",
            embedding_batch_size=_env_int("RAG_EMBEDDING_BATCH_SIZE", 64),
            chunk_size=_env_int("RAG_CHUNK_SIZE", 256),
            chunk_overlap=_env_int("RAG_CHUNK_OVERLAP", 32),
            max_file_mb=_env_int("RAG_MAX_FILE_MB", 50),
            reranker_model=env.get("RAG_RERANKER_MODEL", DEFAULT_RERANKER_MODEL),
            llm_model=env.get("RAG_LLM_MODEL") or DEFAULT_LLM_MODEL,
            bm25_k1=_env_float("RAG_BM25_K1", 0.9),
            bm25_b=_env_float("RAG_BM25_B", 0.4),
            bm25_exact=env.get("RAG_BM25_EXACT", "").strip().lower() in {"1", "true", "yes"},
            rrf_k=_env_int("RAG_RRF_K", 60),
            candidates=_env_int("RAG_CANDIDATES", 30),
            top_k=_env_int("RAG_TOP_K", 5),
            abstain_threshold=_env_optional_float("RAG_ABSTAIN_THRESHOLD"),
            max_answer_tokens=_env_int("RAG_MAX_ANSWER_TOKENS", DEFAULT_MAX_ANSWER_TOKENS),
            answer_timeout_s=_env_float("RAG_ANSWER_TIMEOUT_S", DEFAULT_ANSWER_TIMEOUT_S),
        )
        settings.validate()
        return settings

    def with_(self, **changes: object) -> Settings:
        """Return a validated copy with some fields changed (``dataclasses.replace``).

        Raises:
            ConfigError: the new values are inconsistent.
        """
        updated = replace(self, **changes)  # type: ignore[arg-type]
        updated.validate()
        return updated

    def validate(self) -> None:
        """Check ranges and relations between fields.

        Raises:
            ConfigError: with a message naming the fix, e.g. overlap not smaller than size.
        """
        check_user_name(self.user)
        if self.auth not in get_args(AuthMode):
            raise ConfigError(f"RAG_AUTH={self.auth!r} is unknown: use none, oidc or trusted-header")
        if self.chunk_size < 16:
            raise ConfigError(f"chunk_size {self.chunk_size} is too small: use at least 16 tokens")
        if not 0 <= self.chunk_overlap < self.chunk_size:
            raise ConfigError(
                f"chunk_overlap {self.chunk_overlap} must be >= 0 and smaller than chunk_size {self.chunk_size}"
            )
        if self.max_file_mb <= 0:
            raise ConfigError(f"max_file_mb {self.max_file_mb} must be positive")
        EmbeddingBackend.parse(self.embedding_backend, self.embedding_quantization)
        if self.embedding_batch_size <= 0:
            raise ConfigError("embedding_batch_size must be positive")
        if self.bm25_k1 < 0 or not 0 <= self.bm25_b <= 1:
            raise ConfigError(f"BM25 needs k1 >= 0 and 0 <= b <= 1 (got k1={self.bm25_k1}, b={self.bm25_b})")
        if self.rrf_k < 0:
            raise ConfigError(f"rrf_k {self.rrf_k} must be >= 0")
        if self.top_k <= 0 or self.candidates < self.top_k:
            raise ConfigError(f"need 0 < top_k ({self.top_k}) <= candidates ({self.candidates})")
        if self.max_answer_tokens <= 0:
            raise ConfigError(
                f"max_answer_tokens {self.max_answer_tokens} must be positive: set RAG_MAX_ANSWER_TOKENS, e.g. 300"
            )
        if not self.answer_timeout_s > 0:
            raise ConfigError(
                f"answer_timeout_s {self.answer_timeout_s} must be positive: set RAG_ANSWER_TIMEOUT_S, e.g. 60"
            )

    @property
    def backend(self) -> EmbeddingBackend:
        """The validated embedding backend (runtime and quantization)."""
        return EmbeddingBackend.parse(self.embedding_backend, self.embedding_quantization)

    @property
    def model_cache_dir(self) -> Path:
        """Where ONNX / OpenVINO builds of the embedding model are kept: ``<data_dir>/models``."""
        return self.data_dir / "models"

    @property
    def max_file_bytes(self) -> int:
        """Size limit in bytes."""
        return self.max_file_mb * 1024 * 1024


def is_server_deployment(settings: Settings) -> bool:
    """True when the data lives on a database server (``DATABASE_URL``): several people may reach it.

    ``ui.auth`` also counts a non-local ``server.address``; together they decide the "no sign-in" warning.
    """
    return bool(settings.database_url)


def set_in_environment(variable: str) -> bool:
    """True when the environment sets ``variable``: an explicit setting that app choices must not override."""
    return bool(os.environ.get(variable))
