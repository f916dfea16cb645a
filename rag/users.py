"""Who acts: user names as the engine stores them, and the local single user of an embedded install.

A user name is whatever identifies a person to the deployment: the e-mail claim of an OpenID Connect
sign-in, the value an authenticating proxy puts in a header, ``--user`` / ``RAG_USER`` on the CLI.
The engine compares names exactly (``alice@example.com`` and ``Alice@example.com`` are two users).
"""

from __future__ import annotations

import unicodedata

from rag.errors import ConfigError

LOCAL_USER = "local"
"""The single user of an installation without sign-in, and the operator on the CLI (``RAG_USER`` unset).

Rows from before users existed belong to it (migration 6), and only it may change the installation's
preferences (the chosen LLM).
"""

MAX_USER_NAME_CHARS = 320
"""Longest accepted user name in characters: RFC 5321's limit of an e-mail address (64 + 1 + 255)."""


def check_user_name(name: str) -> str:
    """Return ``name`` without surrounding blanks, or raise if it cannot name a user.

    Raises:
        ConfigError: the name is empty, longer than :data:`MAX_USER_NAME_CHARS` characters, or
            contains control characters (NUL, newline ...).
    """
    cleaned = name.strip()
    if not cleaned:
        raise ConfigError("a user name must not be empty: pass --user NAME or set RAG_USER")
    if len(cleaned) > MAX_USER_NAME_CHARS:
        raise ConfigError(f"a user name has at most {MAX_USER_NAME_CHARS} characters (got {len(cleaned)})")
    if any(unicodedata.category(ch) == "Cc" for ch in cleaned):
        raise ConfigError(f"the user name {cleaned!r} contains control characters")
    return cleaned
