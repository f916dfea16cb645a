"""rag: the engine of the chat-with-your-documents app (loading, chunking, embedding, retrieval, answers).

This module is the public API: the Streamlit pages, ``ui/`` and outside code import from ``rag`` only,
never from its submodules (a test enforces it for ``pages/`` and ``ui/``). The service is
:class:`Engine`; the rest are the value types it takes and returns and the errors it raises. Heavy
libraries (torch, sentence-transformers, LiteLLM, llama.cpp) load on first use, not on import.

Pattern: RAGLite's ``src/raglite/__init__.py`` and simonw/llm's ``__all__``.
"""

from rag.answer import Answer, AnswerStream, Citation
from rag.answer_events import AnswerProgress, AnswerStage
from rag.catalog import LLMCatalog, LLMChoice, LLMTestResult, ModelAvailability, PullResult
from rag.chat import StoredMessage
from rag.config import AuthMode, Settings, is_server_deployment
from rag.db.access import Access, Member, MemberAccess
from rag.db.collections import Collection
from rag.db.conversations import Conversation
from rag.db.jobs import Job, JobStage
from rag.db.listing import ChunkInfo, CollectionSummary, DatabaseStatus, DocumentInfo
from rag.db.originals import OriginalFile
from rag.db.runs import StoredRun
from rag.db.search import Filters
from rag.engine import Engine, ReembedReport
from rag.errors import (
    AccessDenied,
    CannotAnswerAnyway,
    ConfigError,
    CorruptDocument,
    DatabaseError,
    EmbeddingModelMismatch,
    EmptyDocument,
    EncryptedDocument,
    FileTooLarge,
    InputLimitExceeded,
    LLMError,
    LLMTimeout,
    LoaderError,
    ModelDownloadError,
    ModelNotAvailable,
    NoExtractableText,
    NotFound,
    RagError,
    UnsupportedFileType,
)
from rag.evaluation.runs import MetricDelta, RunComparison, compare_runs
from rag.folder_sync import SyncReport
from rag.ingest import IngestProgress
from rag.llm import warm_up
from rag.loaders import SUPPORTED_EXTENSIONS, LoadOptions
from rag.models import (
    Candidate,
    ChunkDraft,
    IngestResult,
    SearchMode,
    ocr_pages_note,
    pages_without_text_note,
)
from rag.ocr import OcrLine, RenderedPage, recognise, render_pdf_page
from rag.passage_context import PassageContext
from rag.pdf_view import CitedPage
from rag.prompting import ABSTAIN_TEXT
from rag.rerank import RerankerStatus
from rag.retrieval import MODES, RetrievalTrace, SearchParams
from rag.uploads import BatchFile, ChunkPreview, FileOutcome, FileProgress
from rag.users import LOCAL_USER, check_user_name

__version__ = "0.1.0"

__all__ = [
    "Job",
    "JobStage",
    "SyncReport",
    "ABSTAIN_TEXT",
    "LOCAL_USER",
    "MODES",
    "SUPPORTED_EXTENSIONS",
    "Access",
    "AccessDenied",
    "Answer",
    "AnswerProgress",
    "AnswerStage",
    "AnswerStream",
    "BatchFile",
    "CannotAnswerAnyway",
    "AuthMode",
    "Candidate",
    "ChunkDraft",
    "OcrLine",
    "RenderedPage",
    "recognise",
    "render_pdf_page",
    "ChunkInfo",
    "ChunkPreview",
    "CitedPage",
    "Citation",
    "Collection",
    "CollectionSummary",
    "ConfigError",
    "Conversation",
    "CorruptDocument",
    "DatabaseError",
    "DatabaseStatus",
    "DocumentInfo",
    "EmbeddingModelMismatch",
    "EmptyDocument",
    "EncryptedDocument",
    "Engine",
    "FileOutcome",
    "FileProgress",
    "FileTooLarge",
    "InputLimitExceeded",
    "Filters",
    "IngestProgress",
    "IngestResult",
    "LLMCatalog",
    "LLMChoice",
    "LLMError",
    "LLMTimeout",
    "LLMTestResult",
    "LoadOptions",
    "LoaderError",
    "Member",
    "MemberAccess",
    "MetricDelta",
    "ModelAvailability",
    "ModelDownloadError",
    "ModelNotAvailable",
    "NoExtractableText",
    "NotFound",
    "OriginalFile",
    "PassageContext",
    "PullResult",
    "RagError",
    "ReembedReport",
    "RerankerStatus",
    "RetrievalTrace",
    "RunComparison",
    "SearchMode",
    "SearchParams",
    "Settings",
    "StoredMessage",
    "StoredRun",
    "UnsupportedFileType",
    "check_user_name",
    "compare_runs",
    "ocr_pages_note",
    "pages_without_text_note",
    "is_server_deployment",
    "warm_up",
]
