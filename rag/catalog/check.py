"""Try a language model with one tiny completion, to tell the user whether a choice works.

Used by a Settings page's "Test" button and ``rag models test``: the model is asked to "Reply with OK"
through :func:`rag.llm.chat` (the same call, limits and error messages as an answer) with a few tokens
and a timeout, and the outcome (latency, reply, or the readable error) is returned instead of raised.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

TEST_PROMPT = "Reply with OK"

_KEYLESS_PROVIDERS = ("ollama", "ollama_chat", "local")
"""Providers that work without the variables LiteLLM lists (Ollama defaults to localhost:11434)."""


@dataclass(frozen=True)
class LLMTestResult:
    """Outcome of :func:`test_llm`.

    Attributes:
        model: The LiteLLM model string tried.
        ok: The call returned a reply (possibly empty: reasoning models may spend the few tokens
            allowed on thinking).
        latency_ms: Wall time of the call in milliseconds, including a local model's first load.
        reply: The reply text (stripped); ``""`` on failure.
        error: One readable line saying what failed and what to do, ``None`` when ``ok``.
    """

    model: str
    ok: bool
    latency_ms: float
    reply: str = ""
    error: str | None = None


def test_llm(
    model: str,
    timeout_s: float = 30.0,
    *,
    max_tokens: int = 8,
    mock_response: str | Exception | None = None,
) -> LLMTestResult:
    """Send one short completion ("Reply with OK") to ``model`` and report how it went.

    Args:
        model: LiteLLM model string, e.g. ``openai/gpt-4o-mini``, ``ollama_chat/llama3.2``,
            ``local/smollm2``.
        timeout_s: Wall-clock limit in seconds, as for an answer (a ``local/`` model stops writing
            there; its first call also loads the GGUF file).
        max_tokens: Longest reply in tokens.
        mock_response: Reply text, or exception to raise, for LiteLLM's built-in mock (no provider is
            called); used by tests.

    Returns:
        An :class:`LLMTestResult`; failures (missing key, unreachable server, unknown model, timeout)
        are in ``error``, never raised.
    """
    from rag.errors import LLMError
    from rag.llm import chat

    started = time.perf_counter()
    try:
        result = chat(
            model,
            [{"role": "user", "content": TEST_PROMPT}],
            max_tokens=max_tokens,
            timeout_s=timeout_s,
            mock_response=mock_response,
        )
    except LLMError as exc:  # rag.llm already mapped the failure to a message that says what to do
        latency_ms = (time.perf_counter() - started) * 1000.0
        return LLMTestResult(model=model, ok=False, latency_ms=latency_ms, error=_explain(exc, model))
    return LLMTestResult(model=model, ok=True, latency_ms=result.latency_ms, reply=result.text.strip())


def _explain(exc: Exception, model: str) -> str:
    """The mapped error, led by the missing key if one is missing.

    LiteLLM 1.100.5 reports a missing OpenAI key as an internal server error, which hides the cause.
    """
    from rag.catalog.keys import check_llm_keys

    message = str(exc)
    keys = check_llm_keys(model, secret_names=())
    if keys.provider in _KEYLESS_PROVIDERS or any(key in message for key in keys.missing_keys):
        return message
    return f"{keys.hint()}: {message}" if keys.missing_keys else message


test_llm.__test__ = False  # type: ignore[attr-defined]  # not a pytest test, despite its name
