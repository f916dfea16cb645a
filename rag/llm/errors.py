"""Translate LiteLLM (and llama.cpp) exceptions into :class:`rag.errors.LLMError` messages that say what to do."""

from __future__ import annotations

from rag.errors import LLMError, LLMTimeout

_SECRETS_HINT = "see .streamlit/secrets.toml.example"
_MODEL_EXAMPLES = "e.g. local/smollm2, openai/gpt-4o-mini, anthropic/claude-3-5-haiku-latest, ollama/llama3.2"


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
        return LLMTimeout(
            f"{model} did not answer in time: retry, use a smaller or faster model, or raise RAG_ANSWER_TIMEOUT_S"
        )
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
