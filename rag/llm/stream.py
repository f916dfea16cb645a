"""Results of chat calls: :class:`ChatResult` (complete reply) and :class:`ChatStream` (streamed reply)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from rag.errors import LLMTimeout
from rag.llm.errors import to_llm_error
from rag.llm.repetition import find_loop
from rag.llm.usage import cost, count_tokens, usage_counts

LOOP_CHECK_CHARS = 32
"""Characters of new text between two loop checks (about 8 tokens). One check of a 2,000-character
reply took 2 ms (measured), so checking every delta of about 4 characters would spend about 1 s of
CPU per 2,000 characters; every 32 characters spends an eighth of that and lets at most 8 more
tokens of a loop through."""


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
        finish_reason: ``"stop"``, ``"length"`` (``max_tokens`` reached), ``"timeout"`` (a ``local/``
            model reached the time limit), another provider value, or ``None`` when not reported.
    """

    text: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    latency_ms: float
    finish_reason: str | None = None


class ChatStream(Iterator[str]):
    """Iterator over the text deltas of a streamed reply; statistics are filled when it is exhausted.

    Iterate it (``for delta in stream``) to get the reply piece by piece. While iterating, ``text``
    holds the text so far; after the end, ``prompt_tokens``, ``completion_tokens`` and ``cost_usd``
    are set (before the end they are ``None``). Errors during iteration are raised as
    :class:`rag.errors.LLMError`. Close it (or use it as a context manager) to stop early.

    Every stream is bounded: by ``max_tokens`` (the provider stops, ``finish_reason="length"``), by
    ``timeout_s`` of wall time from the request (checked between deltas; ``"timeout"``), and by
    :func:`rag.llm.repetition.find_loop` on its own text (``"repetition"``: the repeated tail is cut
    from ``text``, so ``text`` can be shorter than the deltas already yielded; use ``text`` as the
    answer).

    Attributes:
        model: The LiteLLM model string.
        text: Reply text received so far (the full reply once ``done``, without a repeated tail).
        prompt_tokens: Prompt tokens (stream usage when the provider sends it, else
            ``litellm.token_counter``); ``None`` until done.
        completion_tokens: Tokens generated, including a cut repeated tail; same sources; ``None``
            until done.
        cost_usd: US dollars from LiteLLM's price table; ``None`` for unpriced models, mocked replies,
            and until done.
        ttft_ms: Milliseconds from the request to the first non-empty text delta; ``None`` before it
            (and for an empty reply). The first ``local/`` call of a process includes loading the
            GGUF (about 0.5 s for SmolLM2).
        generation_ms: Milliseconds from the first text delta (or the request, for an empty reply) to
            the end of the stream; ``None`` until done. ``ttft_ms + generation_ms`` is the total.
        finish_reason: Why the reply ended: ``"stop"`` (the model finished), ``"length"``
            (``max_tokens`` reached), ``"timeout"`` (``timeout_s`` reached), ``"repetition"`` (the
            reply started to loop), another provider value (``"content_filter"``...), or ``None``
            (not done, or closed early by the caller).
        timeout_s: The wall-clock limit in seconds, or ``None`` for none.
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
        timeout_s: float | None = None,
        detect_loops: bool = True,
    ) -> None:
        """Wrap a LiteLLM stream; use :func:`rag.llm.stream_chat` rather than this constructor.

        Args:
            model: The LiteLLM model string.
            messages: The request messages (for token counting when usage is missing).
            chunks: The LiteLLM ``CustomStreamWrapper`` (``ModelResponseStream`` chunks).
            started: ``time.perf_counter()`` value taken before the request was sent.
            mocked: The reply is LiteLLM's ``mock_response`` (no cost).
            timeout_s: Stop once this many seconds have passed since ``started``; ``None`` for no
                limit.
            detect_loops: Stop when :func:`rag.llm.repetition.find_loop` finds a loop.
        """
        self.model = model
        self._messages = messages
        self._chunks = chunks
        self._started = started
        self._deadline = None if timeout_s is None else started + timeout_s
        self._detect_loops = detect_loops
        self._first: float | None = None
        self._mocked = mocked
        self._usage: Any = None
        self._generated = ""  # everything received, for token counting after a cut
        self._checked = 0
        self.text = ""
        self.prompt_tokens: int | None = None
        self.completion_tokens: int | None = None
        self.cost_usd: float | None = None
        self.ttft_ms: float | None = None
        self.generation_ms: float | None = None
        self.finish_reason: str | None = None
        self.timeout_s = timeout_s
        self.done = False

    def __iter__(self) -> ChatStream:
        """Return the stream itself."""
        return self

    def __next__(self) -> str:
        """Return the next non-empty text delta.

        Raises:
            StopIteration: the reply is complete or was stopped by a limit (statistics are now set).
            LLMError: the provider failed mid-stream, or the time limit passed before any text, with
                a message saying what to do.
        """
        if self.done:
            raise StopIteration
        while True:
            if self._deadline is not None and time.perf_counter() >= self._deadline:
                self._stop("timeout")
                if not self.text:
                    raise LLMTimeout(
                        f"{self.model} wrote nothing within {self.timeout_s:g} s: use fewer or shorter "
                        "sources (top_k, chunk size) or a faster model, or raise RAG_ANSWER_TIMEOUT_S"
                    )
                raise StopIteration
            try:
                chunk = next(self._chunks)
            except StopIteration:
                self._cut_loop()
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
                before = len(self.text)
                self._generated += delta
                self.text += delta
                if len(self.text) - self._checked >= LOOP_CHECK_CHARS and self._cut_loop():
                    self._stop("repetition")
                    kept = self.text[before:]
                    if kept:
                        return kept
                    raise StopIteration
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
        self._close_provider()

    def _close_provider(self) -> None:
        """Close the provider's stream so it stops generating."""
        # LiteLLM's CustomStreamWrapper has no close(); close the provider generator it wraps.
        for stream in (self._chunks, getattr(self._chunks, "completion_stream", None)):
            close = getattr(stream, "close", None)
            if callable(close):
                close()

    def _cut_loop(self) -> bool:
        """Cut a repeated tail from ``text``; return whether the text loops."""
        if not self._detect_loops:
            return False
        self._checked = len(self.text)
        cut = find_loop(self.text)
        if cut is None:
            return False
        self.text = self.text[:cut]
        self.finish_reason = "repetition"
        return True

    def _stop(self, reason: str) -> None:
        """End the stream because of a limit: stop the provider, record ``reason``, set statistics."""
        self._close_provider()
        self._finish()
        self.finish_reason = reason

    def _finish(self) -> None:
        """Set the statistics once the last chunk has arrived (or the stream was stopped)."""
        end = time.perf_counter()
        self.done = True
        self.generation_ms = (end - (self._first if self._first is not None else self._started)) * 1000.0
        prompt, completion = usage_counts(self._usage)
        if prompt is None or completion is None:
            prompt, completion = count_tokens(self.model, self._messages, self._generated)
        self.prompt_tokens, self.completion_tokens = prompt, completion
        self.cost_usd = None if self._mocked else cost(self.model, prompt, completion)
