"""Chat calls through LiteLLM: :func:`stream_chat`, :func:`chat` and the shared :func:`completion`."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from rag.config import Settings
from rag.errors import ConfigError
from rag.llm.errors import to_llm_error
from rag.llm.local import check_local_model, register_local_provider
from rag.llm.stream import ChatResult, ChatStream
from rag.llm.usage import cost, count_tokens, usage_counts

if TYPE_CHECKING:
    from types import ModuleType

REWRITE_MAX_TOKENS = 64
"""Default cap of :func:`chat` replies (tokens): a rewritten follow-up question is one sentence."""


def _litellm() -> ModuleType:
    """Import LiteLLM quietly and register the ``local`` provider (idempotent).

    Before the first import, ``LITELLM_LOCAL_MODEL_COST_MAP`` defaults to ``True`` so LiteLLM uses the
    price table bundled with the pinned version instead of fetching one from GitHub at import (set
    it to ``False`` to fetch). ``suppress_debug_info`` stops LiteLLM printing hints to stdout.
    """
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    register_local_provider()
    return litellm


def warm_up() -> None:
    """Import LiteLLM and register the local provider now (a few seconds), so the first answer does not pay it.

    Apps call it once at start-up, e.g. on a background thread; safe to call many times.
    """
    _litellm()


def _limits(max_tokens: int | None, timeout_s: float | None) -> tuple[int, float]:
    """Fill unset limits from the environment (``RAG_MAX_ANSWER_TOKENS``, ``RAG_ANSWER_TIMEOUT_S``)."""
    if max_tokens is None or timeout_s is None:
        settings = Settings.from_env()
        max_tokens = settings.max_answer_tokens if max_tokens is None else max_tokens
        timeout_s = settings.answer_timeout_s if timeout_s is None else timeout_s
    if max_tokens <= 0 or not timeout_s > 0:
        raise ConfigError(f"max_tokens ({max_tokens}) and timeout_s ({timeout_s}) must be positive")
    return max_tokens, timeout_s


def stream_chat(
    model: str,
    messages: list[dict],
    *,
    temperature: float = 0.1,
    max_tokens: int | None = None,
    timeout_s: float | None = None,
    mock_response: str | Exception | None = None,
) -> ChatStream:
    """Start a streamed chat completion, bounded in tokens, wall time and repetition.

    Args:
        model: LiteLLM model string, e.g. ``local/smollm2``, ``openai/gpt-4o-mini``, ``ollama/llama3.2``.
        messages: OpenAI-style ``[{"role": ..., "content": ...}]`` messages.
        temperature: Sampling temperature.
        max_tokens: Longest reply in tokens; ``None`` reads ``RAG_MAX_ANSWER_TOKENS`` (default 300).
        timeout_s: Wall-clock limit in seconds from the request to the last token; ``None`` reads
            ``RAG_ANSWER_TIMEOUT_S`` (default 60). Passed to LiteLLM as ``timeout=`` (the HTTP
            timeout of remote providers; the ``local/`` provider stops llama.cpp there, even in
            the middle of reading the prompt) and enforced by the stream between deltas.
        mock_response: Reply text (or exception) for LiteLLM's built-in mock; no provider is called.
            Used by tests.

    Returns:
        A :class:`ChatStream` of text deltas; its ``finish_reason`` tells which limit ended it.

    Raises:
        LLMError: unknown or missing local model, authentication, rate limit, timeout, connection,
            context window... with a message saying what to do.
        ConfigError: a limit is not positive (argument or environment variable).
    """
    max_tokens, timeout_s = _limits(max_tokens, timeout_s)
    started = time.perf_counter()
    response = completion(
        model,
        messages,
        temperature=temperature,
        max_tokens=max_tokens,
        timeout_s=timeout_s,
        mock_response=mock_response,
        stream=True,
        stream_options={"include_usage": True},
    )
    return ChatStream(
        model, list(messages), iter(response), started, mocked=mock_response is not None, timeout_s=timeout_s
    )


def chat(
    model: str,
    messages: list[dict],
    *,
    temperature: float = 0.0,
    max_tokens: int = REWRITE_MAX_TOKENS,
    timeout_s: float | None = None,
    mock_response: str | Exception | None = None,
) -> ChatResult:
    """Run a non-streamed chat completion (used to rewrite follow-up questions).

    Args:
        model: LiteLLM model string (see :func:`stream_chat`).
        messages: OpenAI-style messages.
        temperature: Sampling temperature.
        max_tokens: Longest reply in tokens (default :data:`REWRITE_MAX_TOKENS`).
        timeout_s: Wall-clock limit in seconds; ``None`` reads ``RAG_ANSWER_TIMEOUT_S``. A ``local/``
            model returns what it wrote by then (``finish_reason="timeout"``); a remote provider
            raises.
        mock_response: Reply text (or exception) for LiteLLM's built-in mock.

    Returns:
        A :class:`ChatResult`.

    Raises:
        LLMError: as :func:`stream_chat`.
        ConfigError: a limit is not positive.
    """
    max_tokens, timeout_s = _limits(max_tokens, timeout_s)
    started = time.perf_counter()
    response = completion(
        model,
        messages,
        temperature=temperature,
        max_tokens=max_tokens,
        timeout_s=timeout_s,
        mock_response=mock_response,
    )
    latency_ms = (time.perf_counter() - started) * 1000.0
    choice = response.choices[0]
    text = choice.message.content or ""
    prompt, completion_tokens = usage_counts(getattr(response, "usage", None))
    if prompt is None or completion_tokens is None:
        prompt, completion_tokens = count_tokens(model, list(messages), text)
    price = None if mock_response is not None else cost(model, prompt, completion_tokens)
    return ChatResult(
        text=text,
        prompt_tokens=prompt,
        completion_tokens=completion_tokens,
        cost_usd=price,
        latency_ms=latency_ms,
        finish_reason=getattr(choice, "finish_reason", None),
    )


def completion(
    model: str,
    messages: list[dict],
    *,
    temperature: float,
    max_tokens: int,
    timeout_s: float,
    mock_response: str | Exception | None,
    **extra: Any,
) -> Any:
    """Call ``litellm.completion`` with ``drop_params=True``, mapping failures to LLMError.

    Args:
        model: LiteLLM model string.
        messages: OpenAI-style messages.
        temperature: Sampling temperature.
        max_tokens: Longest reply in tokens.
        timeout_s: LiteLLM's ``timeout=`` in seconds.
        mock_response: Reply text (or exception) for LiteLLM's built-in mock; the local model is then
            not looked up.
        **extra: More ``litellm.completion`` arguments (``stream=True``, ``stream_options``...).

    Returns:
        LiteLLM's ``ModelResponse``, or its ``CustomStreamWrapper`` when streamed.

    Raises:
        LLMError: as :func:`stream_chat`.
    """
    litellm = _litellm()
    if mock_response is None:
        check_local_model(model)
    try:
        return litellm.completion(
            model=model,
            messages=messages,
            temperature=temperature,
            max_tokens=max_tokens,
            timeout=timeout_s,
            drop_params=True,
            mock_response=mock_response,
            **extra,
        )
    except Exception as exc:
        raise to_llm_error(exc, model) from exc
