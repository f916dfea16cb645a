"""Which models are available here and how to get them.

Modules:
    llms: the LLM choices (packaged SmolLM2, GGUF files, Ollama models, API models with key status).
    keys: whether a LiteLLM provider's API key is set (environment or ``.streamlit/secrets.toml``).
    ollama: the models of an Ollama server (``GET /api/tags``).
    check: one short test completion with its latency.
    download: the cross-encoder from the Hugging Face Hub, with progress, and its availability.
    hub: the per-call network override and progress plumbing for ``huggingface_hub``.
"""

from rag.catalog.check import LLMTestResult, test_llm
from rag.catalog.download import ModelAvailability, PullResult, pull_model, reranker_availability
from rag.catalog.llms import LLMCatalog, LLMChoice, list_llm_choices

__all__ = [
    "LLMCatalog",
    "LLMChoice",
    "LLMTestResult",
    "ModelAvailability",
    "PullResult",
    "list_llm_choices",
    "pull_model",
    "reranker_availability",
    "test_llm",
]
