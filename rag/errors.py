"""Exception types raised by the ``rag`` engine.

Every message says what happened and what to do about it; the CLI and the Streamlit pages show the
message as it is (see ``rag.cli`` and ``pages/``). Pattern after simonw/llm ``llm/errors.py``.
"""

from __future__ import annotations


class RagError(Exception):
    """Base class of every error the engine raises on purpose."""


class ConfigError(RagError):
    """A setting is invalid (bad number, overlap >= size, unknown mode...)."""


class DatabaseError(RagError):
    """The database cannot be reached, started, or lacks what we need (e.g. the vector extension)."""


class ModelNotAvailable(RagError):
    """A model cannot be loaded locally; the message names the package or path that provides it."""


class EmbeddingModelMismatch(RagError):
    """Stored vectors were made by another embedding model than the configured one."""


class LoaderError(RagError):
    """A file cannot be turned into text. Subclasses name the reason."""


class UnsupportedFileType(LoaderError):
    """The file extension / media type has no loader."""


class FileTooLarge(LoaderError):
    """The file exceeds the configured size limit (``RAG_MAX_FILE_MB``)."""


class InputLimitExceeded(LoaderError):
    """The file would expand past a loader limit (decompressed bytes, tags, rows, cells, pages)."""


class EmptyDocument(LoaderError):
    """The file has no bytes, or no text after extraction."""


class NoExtractableText(LoaderError):
    """A PDF or image has no text: no text layer, and OCR found none (or OCR is turned off)."""


class EncryptedDocument(LoaderError):
    """The file is password protected."""


class CorruptDocument(LoaderError):
    """The file cannot be parsed (truncated, wrong format, binary renamed to text)."""


class NotFound(RagError):
    """A collection, document, conversation or run does not exist."""


class LLMError(RagError):
    """The language model call failed (authentication, rate limit, timeout, missing local model)."""


class LLMTimeout(LLMError):
    """The language model wrote nothing within the time limit (``RAG_ANSWER_TIMEOUT_S``)."""


class ModelDownloadError(RagError):
    """A model cannot be downloaded (no network, unknown or gated repository, disk full...).

    The message says what to do, e.g. run ``rag models pull`` where there is network access, or copy
    the model directory and point the setting (``RAG_RERANKER_MODEL``) at it.
    """


class CannotAnswerAnyway(RagError):
    """Answer anyway was asked of a message that is not a declined answer, or of one without passages."""


class AccessDenied(RagError):
    """The acting user may not do this: a collection shared read-only, or owned by someone else."""
