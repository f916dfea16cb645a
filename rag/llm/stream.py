"""Results of chat calls: :class:`ChatResult` (complete reply) and :class:`ChatStream` (streamed reply)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from rag.llm.errors import to_llm_error
from rag.llm.usage import cost, count_tokens, usage_counts


@dataclass(frozen=True)
class ChatResult:
    """A complete (non-streaming) chat reply.

    Attributes:
        text: The reply text.
        prompt_tokens: Tokens of the prompt (provider usage, else ``litellm.token_counter``).
        completion_tokens: Tokens of the reply (same sources).
        cost_usd: Cost in US dollars from LiteLLM's price table; ``None`` when the model is not priced
            (local models) or the reply was mocked.
        latency_ms: Wall time of the call in milliseconds.
    """

    text: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    latency_ms: float


class ChatStream(Iterator[str]):
    """Iterator over the text deltas of a streamed reply; statistics are filled when it is exhausted.

    Iterate it (``for delta in stream``) to get the reply piece by piece. While iterating, ``text``
    holds the text so far; after the end, ``prompt_tokens``, ``completion_tokens`` and ``cost_usd``
    are set (before the end they are ``None``). Errors during iteration are raised as
    :class:`rag.errors.LLMError`. Close it (or use it as a context manager) to stop early.

    Attributes:
        model: The LiteLLM model string.
        text: Reply text received so far (the full reply once ``done``).
        prompt_tokens: Prompt tokens (stream usage when the provider sends it, else
            ``litellm.token_counter``); ``None`` until done.
        completion_tokens: Reply tokens, same sources; ``None`` until done.
        cost_usd: US dollars from LiteLLM's price table; ``None`` for unpriced models, mocked replies,
            and until done.
        ttft_ms: Milliseconds from the request to the first non-empty text delta; ``None`` before it
            (and for an empty reply). The first ``local/`` call of a process includes loading the
            GGUF (about 0.5 s for SmolLM2).
        generation_ms: Milliseconds from the first text delta (or the request, for an empty reply) to
            the end of the stream; ``None`` until done. ``ttft_ms + generation_ms`` is the total.
        finish_reason: ``"stop"``, ``"length"``... as reported by the provider, or ``None``.
        done: Whether the stream has ended.
    """

    def __init__(
        self,
        model: str,
        messages: list[dict],
        chunks: Iterator[Any],
        started: float,
        *,
        mocked: bool,
    ) -> None:
        """Wrap a LiteLLM stream; use :func:`rag.llm.stream_chat` rather than this constructor.

        Args:
            model: The LiteLLM model string.
            messages: The request messages (for token counting when usage is missing).
            chunks: The LiteLLM ``CustomStreamWrapper`` (``ModelResponseStream`` chunks).
            started: ``time.perf_counter()`` value taken before the request was sent.
            mocked: The reply is LiteLLM's ``mock_response`` (no cost).
        """
        self.model = model
        self._messages = messages
        self._chunks = chunks
        self._started = started
        self._first: float | None = None
        self._mocked = mocked
        self._usage: Any = None
        self.text = ""
        self.prompt_tokens: int | None = None
        self.completion_tokens: int | None = None
        self.cost_usd: float | None = None
        self.ttft_ms: float | None = None
        self.generation_ms: float | None = None
        self.finish_reason: str | None = None
        self.done = False

    def __iter__(self) -> ChatStream:
        """Return the stream itself."""
        return self

    def __next__(self) -> str:
        """Return the next non-empty text delta.

        Raises:
            StopIteration: the reply is complete (statistics are now set).
            LLMError: the provider failed mid-stream, with a message saying what to do.
        """
        if self.done:
            raise StopIteration
        while True:
            try:
                chunk = next(self._chunks)
            except StopIteration:
                self._finish()
                raise
            except Exception as exc:
                self.done = True
                raise to_llm_error(exc, self.model) from exc
            usage = getattr(chunk, "usage", None)
            if usage is not None:
                self._usage = usage
            choices = getattr(chunk, "choices", None) or []
            if not choices:
                continue
            if choices[0].finish_reason:
                self.finish_reason = choices[0].finish_reason
            delta = choices[0].delta.content if choices[0].delta is not None else None
            if delta:
                if self._first is None:
                    self._first = time.perf_counter()
                    self.ttft_ms = (self._first - self._started) * 1000.0
                self.text += delta
                return delta

    def __enter__(self) -> ChatStream:
        """Use the stream in a ``with`` block that closes it."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Close the stream."""
        self.close()

    def close(self) -> None:
        """Stop the stream early; a local model's generation stops and its lock is released."""
        if self.done:
            return
        self.done = True
        # LiteLLM's CustomStreamWrapper has no close(); close the provider generator it wraps.
        for stream in (self._chunks, getattr(self._chunks, "completion_stream", None)):
            close = getattr(stream, "close", None)
            if callable(close):
                close()

    def _finish(self) -> None:
        """Set the statistics once the last chunk has arrived."""
        end = time.perf_counter()
        self.done = True
        self.generation_ms = (end - (self._first if self._first is not None else self._started)) * 1000.0
        prompt, completion = usage_counts(self._usage)
        if prompt is None or completion is None:
            prompt, completion = count_tokens(self.model, self._messages, self.text)
        self.prompt_tokens, self.completion_tokens = prompt, completion
        self.cost_usd = None if self._mocked else cost(self.model, prompt, completion)
