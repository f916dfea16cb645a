"""Chat model calls through LiteLLM, with an offline ``local/`` provider on llama-cpp-python.

Any LiteLLM model string works (``openai/gpt-4o-mini``, ``anthropic/claude-3-5-haiku-latest``,
``ollama/llama3.2``...) with the provider's usual environment variables (``OPENAI_API_KEY``...); this
package only passes it through. ``local/smollm2`` (the default) and ``local/<path>.gguf`` run a GGUF
model in-process (:mod:`rag.llm.local`).

Every answer is bounded: a token cap (``RAG_MAX_ANSWER_TOKENS``), a wall-clock cap
(``RAG_ANSWER_TIMEOUT_S``) and a loop detector; ``ChatStream.finish_reason`` says which one ended it
(``stop``, ``length``, ``timeout``, ``repetition``).

Modules: :mod:`~rag.llm.calls` (the calls), :mod:`~rag.llm.stream` (their results),
:mod:`~rag.llm.repetition` (the loop detector), :mod:`~rag.llm.usage` (tokens and cost),
:mod:`~rag.llm.errors` (LiteLLM exceptions to :class:`rag.errors.LLMError`), :mod:`~rag.llm.local`
(the GGUF provider). LiteLLM and llama-cpp-python are imported lazily, on the first call, never at
import time.
"""

from __future__ import annotations

from rag.llm.calls import chat, stream_chat, warm_up
from rag.llm.errors import to_llm_error
from rag.llm.local import (
    LLAMA_BUILD_HINT,
    LOCAL_N_CTX,
    LOCAL_N_THREADS,
    LOCAL_PROVIDER,
    SMOLLM2_DISTRIBUTION,
    register_local_provider,
    resolve_local_model,
)
from rag.llm.stream import ChatResult, ChatStream

__all__ = [
    "LLAMA_BUILD_HINT",
    "LOCAL_N_CTX",
    "LOCAL_N_THREADS",
    "LOCAL_PROVIDER",
    "SMOLLM2_DISTRIBUTION",
    "ChatResult",
    "ChatStream",
    "chat",
    "register_local_provider",
    "resolve_local_model",
    "stream_chat",
    "to_llm_error",
    "warm_up",
]
