"""Installation-wide preferences chosen in the app (``preferences`` table, key -> JSON value)."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.types.json import Jsonb

LIST_PREFERENCES = "SELECT key, value FROM preferences"
SET_PREFERENCE = """
INSERT INTO preferences (key, value) VALUES (%(key)s, %(value)s)
ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()
"""
DELETE_PREFERENCE = "DELETE FROM preferences WHERE key = %(key)s"


def get_preferences(conn: psycopg.Connection) -> dict[str, Any]:
    """Every stored preference, key -> decoded JSON value."""
    return dict(conn.execute(LIST_PREFERENCES).fetchall())


def set_preference(conn: psycopg.Connection, key: str, value: Any) -> None:
    """Store ``value`` (JSON-serialisable) under ``key``; ``None`` removes the preference."""
    if value is None:
        conn.execute(DELETE_PREFERENCE, {"key": key})
    else:
        conn.execute(SET_PREFERENCE, {"key": key, "value": Jsonb(value)})
