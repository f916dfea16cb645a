"""Whether a LiteLLM model's provider key is set, in the environment or in ``secrets.toml``.

LiteLLM knows which variables each provider needs (``litellm.validate_environment``); the Streamlit app
copies the top-level entries of ``.streamlit/secrets.toml`` into the environment at start-up
(``ui.state.load_secrets``), so a key written there counts as set too. Only names are handled here;
secret values are never read into a result or printed.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rag.errors import ConfigError

if TYPE_CHECKING:
    from types import ModuleType

SECRETS_FILES = (Path(".streamlit/secrets.toml"), Path("~/.streamlit/secrets.toml"))
"""Where Streamlit looks for secrets: the project's (working directory) and the user's (Streamlit docs,
"Secrets management")."""

_EITHER = {
    "anthropic": ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"),
    "gemini": ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
}
"""Providers for which LiteLLM 1.100.5 accepts any one of several variables (``validate_environment``
lists one or both of them as missing, without saying that one is enough)."""


@dataclass(frozen=True)
class KeyCheck:
    """Whether the environment (or ``secrets.toml``) holds what a LiteLLM model's provider needs.

    Attributes:
        model: The LiteLLM model string, e.g. ``openai/gpt-4o-mini``.
        provider: LiteLLM's provider (``openai``; ``anthropic`` for ``claude-haiku-4-5``), or ``""``.
        ready: No variable LiteLLM knows of is missing. Also ``True`` for providers LiteLLM knows no
            requirement for (custom servers), which the call itself then has to prove.
        missing_keys: Variables to set, e.g. ``("OPENAI_API_KEY",)``; names only, never values.
        any_of: Setting one of ``missing_keys`` is enough (``GEMINI_API_KEY`` or ``GOOGLE_API_KEY``).
        from_secrets: Required variables found only in a ``secrets.toml`` file (the app copies them into
            the environment at start-up; the CLI does not read that file).
    """

    model: str
    provider: str
    ready: bool
    missing_keys: tuple[str, ...] = ()
    from_secrets: tuple[str, ...] = ()
    any_of: bool = False

    def hint(self) -> str:
        """What to do, e.g. ``set OPENAI_API_KEY in the environment or in .streamlit/secrets.toml``."""
        if not self.missing_keys:
            return ""
        keys = (" or " if self.any_of else " and ").join(self.missing_keys)
        where = "in the environment or in .streamlit/secrets.toml (see .streamlit/secrets.toml.example)"
        return f"set {keys} {where}"


def check_llm_keys(
    model: str, *, secret_names: Iterable[str] | None = None, secrets_files: Sequence[Path] | None = None
) -> KeyCheck:
    """Say whether the API key (or other variables) that ``model``'s provider needs is present.

    Uses ``litellm.validate_environment(model=...)`` (LiteLLM 1.100.5: returns
    ``{"keys_in_environment": bool, "missing_keys": [names]}`` from ``os.environ``). A missing
    variable named as a top-level key of a ``secrets.toml`` file counts as present. For Anthropic and
    Gemini one of two variables is enough (``any_of``), as in LiteLLM's own check.

    Args:
        model: LiteLLM model string, e.g. ``openai/gpt-4o-mini``.
        secret_names: Names already read from secrets files (skips reading them again).
        secrets_files: Files to read when ``secret_names`` is ``None``; default :data:`SECRETS_FILES`.

    Returns:
        A :class:`KeyCheck` (names only; values are never read into it).

    Raises:
        ConfigError: a secrets file is not valid TOML (only when ``secret_names`` is not given).
    """
    if secret_names is None:
        secret_names = read_secret_names(SECRETS_FILES if secrets_files is None else secrets_files)
    names = frozenset(secret_names)
    litellm = _litellm()
    try:
        provider = str(litellm.get_llm_provider(model=model)[1] or "")
        result = litellm.validate_environment(model=model)
    except Exception:  # noqa: BLE001 - a model string LiteLLM cannot parse needs no known key
        provider, result = (model.split("/", 1)[0] if "/" in model else ""), {}
    missing = [str(key) for key in result.get("missing_keys") or []]
    either = _EITHER.get(provider, ())
    if set(either) & set(missing):
        in_secrets = [key for key in either if key in names]
        rest = [key for key in missing if key not in either]
        if in_secrets:  # one is enough
            missing, from_secrets = rest, in_secrets[:1]
        else:
            missing, from_secrets = [*rest, *either], []
    else:
        from_secrets = [key for key in missing if key in names]
        missing = [key for key in missing if key not in names]
    return KeyCheck(
        model=model,
        provider=provider,
        ready=not missing,
        missing_keys=tuple(missing),
        from_secrets=tuple(from_secrets),
        any_of=bool(missing) and set(missing) == set(either),
    )


def read_secret_names(files: Iterable[Path]) -> frozenset[str]:
    """Top-level keys with a non-empty string or number value in the given ``secrets.toml`` files.

    These are the entries that ``ui.state.load_secrets`` copies into the environment; tables
    (``[section]``) are not. Files that do not exist are skipped. Values are never returned.

    Args:
        files: Paths to read (``~`` is expanded).

    Returns:
        The key names, e.g. ``frozenset({"OPENAI_API_KEY"})``.

    Raises:
        ConfigError: a file exists but is not valid TOML (the message names the file).
    """
    names: set[str] = set()
    for file in files:
        path = Path(file).expanduser()
        if not path.is_file():
            continue
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
            raise ConfigError(
                f"cannot read {path}: {exc}; fix the file (see .streamlit/secrets.toml.example)"
            ) from exc
        for key, value in data.items():
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                continue
            if value != "":
                names.add(key)
    return frozenset(names)


def _litellm() -> ModuleType:
    """LiteLLM, imported the way :mod:`rag.llm` does (bundled price table, local provider registered)."""
    from rag.llm import warm_up

    warm_up()
    import litellm

    return litellm
