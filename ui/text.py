"""Small text helpers for labels."""

from __future__ import annotations


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """``"1 document"``, ``"3 documents"`` (``plural_form`` for irregular words)."""
    word = singular if count == 1 else (plural_form or singular + "s")
    return f"{count} {word}"


def human_size(size_bytes: int) -> str:
    """``"512 B"``, ``"1.9 KiB"``, ``"3.2 MiB"``, ``"1.1 GiB"`` (binary units)."""
    size = float(size_bytes)
    for unit in ("B", "KiB", "MiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"
