"""Token counts and cost of a reply: provider usage when sent, else LiteLLM's tokenizer and price table."""

from __future__ import annotations

from typing import Any

from rag.llm.local import LOCAL_PROVIDER


def usage_counts(usage: Any) -> tuple[int | None, int | None]:
    """Read the token counts of a LiteLLM ``Usage``.

    Args:
        usage: A ``litellm.Usage`` (or any object with ``prompt_tokens``/``completion_tokens``), or
            ``None``.

    Returns:
        ``(prompt_tokens, completion_tokens)``, or ``(None, None)`` when either is missing.
    """
    if usage is None:
        return None, None
    prompt = getattr(usage, "prompt_tokens", None)
    completion = getattr(usage, "completion_tokens", None)
    if prompt is None or completion is None:
        return None, None
    return int(prompt), int(completion)


def count_tokens(model: str, messages: list[dict], text: str) -> tuple[int, int]:
    """Estimate tokens with ``litellm.token_counter`` (tiktoken for unknown models).

    Falls back to 4 characters per token (OpenAI's rule of thumb for English) if counting fails, so
    a tokenizer that cannot load never fails a finished answer.

    Args:
        model: LiteLLM model string (selects the tokenizer).
        messages: The request messages.
        text: The reply text.

    Returns:
        ``(prompt_tokens, completion_tokens)``.
    """
    import litellm

    try:
        prompt = litellm.token_counter(model=model, messages=messages)
        completion = litellm.token_counter(model=model, text=text, count_response_tokens=True) if text else 0
    except Exception:  # noqa: BLE001 - a tokenizer that cannot load must not fail a finished answer
        chars = sum(len(str(m.get("content") or "")) for m in messages)
        return chars // 4, len(text) // 4
    return int(prompt), int(completion)


def cost(model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
    """Price a call from LiteLLM's price table.

    Uses ``litellm.cost_per_token`` (the per-token pricing that ``litellm.completion_cost`` applies).
    Never raises: an unknown model is simply not priced.

    Args:
        model: LiteLLM model string.
        prompt_tokens: Tokens of the prompt.
        completion_tokens: Tokens of the reply.

    Returns:
        US dollars, or ``None`` for ``local/`` and other unpriced models.
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
