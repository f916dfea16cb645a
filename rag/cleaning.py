"""Text typed or uploaded by a user, made storable: no NUL, no stray control characters.

PostgreSQL ``text`` and ``jsonb`` cannot hold U+0000 (psycopg refuses to send it), and the other C0/C1
control characters are never meant in a query, a question, a title or a name: they only garble what
is shown. The engine cleans every string a user hands it with these functions before it reaches SQL.
"""

from __future__ import annotations

import re

_ONE_LINE_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Tab, newline and carriage return stay in multi-line text (a question may have several lines).
_TEXT_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def one_line(text: str) -> str:
    """``text`` without NUL and every other C0/C1 control character (tab and newline included).

    For titles, names and ids: a single line that is shown in tables and chips.
    """
    return _ONE_LINE_CONTROL_RE.sub("", text) if _ONE_LINE_CONTROL_RE.search(text) else text


def clean_input(text: str) -> str:
    """``text`` without NUL and the control characters other than tab, newline and carriage return.

    For queries and questions: what the user typed, minus what PostgreSQL cannot store.
    """
    return _TEXT_CONTROL_RE.sub("", text) if _TEXT_CONTROL_RE.search(text) else text


def has_control_characters(text: str) -> bool:
    """Whether ``text`` holds NUL or another C0/C1 control character (tab and newline included)."""
    return _ONE_LINE_CONTROL_RE.search(text) is not None
