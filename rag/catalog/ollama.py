"""The models of an Ollama server, listed without ever raising.

``GET {OLLAMA_API_BASE}/api/tags`` answers ``{"models": [{"name": "llama3.2:latest", "size": 2019393189,
"details": {"family": "llama", "parameter_size": "3.2B", "quantization_level": "Q4_K_M"}}]}`` (Ollama
API docs, "List models"). The standard library's ``urllib`` is enough for one GET; like LiteLLM's own
HTTP client it honours the ``*_proxy`` environment variables.
"""

from __future__ import annotations

import http.client
import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

DEFAULT_OLLAMA_API_BASE = "http://localhost:11434"
"""Where ``ollama serve`` listens by default; ``OLLAMA_API_BASE`` (LiteLLM's variable) overrides it."""

_EMBEDDING_FAMILIES = ("bert",)
"""Model families that only embed (``nomic-bert``, ``bert``...): listed by Ollama, useless for chat."""


@dataclass(frozen=True)
class OllamaModel:
    """One model an Ollama server has pulled.

    Attributes:
        name: Ollama's model name with tag, e.g. ``llama3.2:latest`` (LiteLLM string:
            ``ollama_chat/<name>``).
        size_bytes: Size on disk in bytes, ``None`` if not reported.
        parameter_size: e.g. ``3.2B``, ``""`` if not reported.
        quantization: e.g. ``Q4_K_M``, ``""`` if not reported.
        family: e.g. ``llama``, ``""`` if not reported.
    """

    name: str
    size_bytes: int | None = None
    parameter_size: str = ""
    quantization: str = ""
    family: str = ""


def ollama_api_base(base: str | None = None) -> str:
    """The Ollama server URL: ``base``, else ``OLLAMA_API_BASE``, else ``http://localhost:11434``.

    Trailing slashes are removed. The environment is read at call time.
    """
    return (base or os.environ.get("OLLAMA_API_BASE") or DEFAULT_OLLAMA_API_BASE).rstrip("/")


def list_ollama_models(
    base: str | None = None, *, timeout_s: float = 1.5
) -> tuple[tuple[OllamaModel, ...], str]:
    """Ask an Ollama server which models it has, waiting at most about ``timeout_s`` seconds.

    Embedding-only models (BERT families such as ``nomic-embed-text``) are left out: they cannot chat.

    Args:
        base: Server URL; default :func:`ollama_api_base`.
        timeout_s: Seconds to wait for the connection and for the answer.

    Returns:
        ``(models, status)``: the chat models in the server's order, and one line for the user, e.g.
        ``Ollama at http://localhost:11434: 2 models``. When nothing answers, or the answer is not a
        model list, ``models`` is empty and ``status`` says why and what to do. Never raises.
    """
    url = ollama_api_base(base)
    try:
        with urllib.request.urlopen(f"{url}/api/tags", timeout=timeout_s) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:  # something answers, but not as Ollama does
        return (), f"{url} answered /api/tags with HTTP {exc.code}: is OLLAMA_API_BASE an Ollama server?"
    except (OSError, http.client.HTTPException) as exc:  # refused, timeout, DNS, reset
        reason = getattr(exc, "reason", None) or exc
        return (), (
            f"no Ollama server answers at {url} ({reason}): start it with `ollama serve`, "
            "or set OLLAMA_API_BASE to where it runs"
        )
    try:
        entries = json.loads(body)["models"]
        if not isinstance(entries, list):
            raise TypeError(f"'models' is a {type(entries).__name__}")
    except (ValueError, KeyError, TypeError) as exc:  # not JSON, or not Ollama's shape
        return (), f"{url} answered /api/tags with something that is not Ollama's model list ({exc!s:.100})"
    models = tuple(model for model in map(_parse, entries) if model is not None)
    chat = tuple(m for m in models if not m.family.lower().endswith(_EMBEDDING_FAMILIES))
    if not chat:
        return (), f"Ollama at {url} has no chat model: pull one, e.g. `ollama pull llama3.2`"
    return chat, f"Ollama at {url}: {len(chat)} model{'s' if len(chat) != 1 else ''}"


def _parse(entry: object) -> OllamaModel | None:
    """One ``/api/tags`` entry, or ``None`` when it has no usable name."""
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"]:
        return None
    raw_details = entry.get("details")
    details: dict[str, Any] = raw_details if isinstance(raw_details, dict) else {}
    size = entry.get("size")
    return OllamaModel(
        name=entry["name"],
        size_bytes=size if isinstance(size, int) and not isinstance(size, bool) else None,
        parameter_size=str(details.get("parameter_size") or ""),
        quantization=str(details.get("quantization_level") or ""),
        family=str(details.get("family") or ""),
    )
