"""A cited passage in its surrounding section, rebuilt from the stored chunks around it.

Chunks record their offsets in the document's full text (``rag.chunking``:
``full_text[char_start:char_end] == text``), so the text before and after a passage is read back
exactly from its neighbours (overlaps taken once); a gap between two chunks (whitespace the splitter
dropped, or a section boundary) is written as a paragraph break. The section is the run of
neighbouring chunks under the same heading path, at most :data:`CONTEXT_CHUNKS` chunks and
:data:`MAX_CONTEXT_CHARS` characters on each side. Nothing is re-parsed, so it works for every
stored document, also one ingested before originals were kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rag.db.passages import CitedChunk, StoredPiece

CONTEXT_CHUNKS = 3
"""Neighbouring chunks read on each side of the passage."""
MAX_CONTEXT_CHARS = 2_000
"""Characters of context kept on each side (cut at a word boundary, marked with "…")."""


@dataclass(frozen=True)
class PassageContext:
    """A cited passage with the text around it in its section.

    Attributes:
        chunk_id, document_id: Database ids of the passage and its document.
        title, source_name, media_type: The document's.
        heading_path: The section's headings, outermost first (``()`` for a document without
            headings).
        before: Text of the section before the passage (``""`` at the section's start; starts with
            "…" when cut).
        passage: The passage, exactly as stored.
        after: Text of the section after it (ends with "…" when cut).
        page_start, page_end: 1-based pages of the passage, or ``None``.
        has_original: Whether the original file is kept (for a download button / the PDF page).
    """

    chunk_id: int
    document_id: int
    title: str
    source_name: str
    media_type: str
    heading_path: tuple[str, ...]
    before: str
    passage: str
    after: str
    page_start: int | None
    page_end: int | None
    has_original: bool


def _text_between(pieces: Sequence[StoredPiece], start: int, end: int) -> str:
    """The document text from offset ``start`` to ``end`` as far as ``pieces`` cover it."""
    out: list[str] = []
    position = start
    for piece in sorted(pieces, key=lambda p: p.char_start):
        if piece.char_end <= position or piece.char_start >= end:
            continue
        if piece.char_start > position:
            if out:
                out.append("\n\n")
            position = piece.char_start
        stop = min(end, piece.char_end)
        out.append(piece.text[position - piece.char_start : stop - piece.char_start])
        position = stop
    if out and position < end:
        out.append("\n\n")
    return "".join(out)


def _cut_start(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    kept = text[-limit:]
    space = kept.find(" ")
    return "…" + (kept[space + 1 :] if 0 <= space < 40 else kept)


def _cut_end(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    kept = text[:limit]
    space = kept.rfind(" ")
    return (kept[:space] if space > limit - 40 else kept) + "…"


def _same_section_run(pieces: Sequence[StoredPiece], cited: StoredPiece) -> list[StoredPiece]:
    """The consecutive pieces around ``cited`` that share its heading path."""
    ordered = sorted(pieces, key=lambda p: p.ordinal)
    index = next(i for i, p in enumerate(ordered) if p.chunk_id == cited.chunk_id)
    first = index
    while first > 0 and ordered[first - 1].heading_path == cited.heading_path:
        first -= 1
    last = index
    while last + 1 < len(ordered) and ordered[last + 1].heading_path == cited.heading_path:
        last += 1
    return ordered[first : last + 1]


def build_context(
    cited: CitedChunk, neighbours: Sequence[StoredPiece], max_chars: int = MAX_CONTEXT_CHARS
) -> PassageContext:
    """The passage of ``cited`` with the text of its section around it.

    Args:
        cited: The cited chunk and its document.
        neighbours: Chunks of the same document around it (it may be among them).
        max_chars: Characters of context kept on each side.

    Returns:
        The context; ``before`` / ``after`` are empty when the passage opens / closes its section.
    """
    piece = cited.piece
    pieces = [p for p in neighbours if p.chunk_id != piece.chunk_id] + [piece]
    section = _same_section_run(pieces, piece)
    earlier = [p for p in section if p.ordinal < piece.ordinal]
    later = [p for p in section if p.ordinal > piece.ordinal]
    before = _text_between(
        earlier, min((p.char_start for p in earlier), default=piece.char_start), piece.char_start
    )
    after_end = max((p.char_end for p in later), default=piece.char_end)
    after = _text_between(later, piece.char_end, after_end)
    if later and later[0].char_start > piece.char_end:
        after = "\n\n" + after
    return PassageContext(
        chunk_id=piece.chunk_id,
        document_id=piece.document_id,
        title=cited.title,
        source_name=cited.source_name,
        media_type=cited.media_type,
        heading_path=piece.heading_path,
        before=_cut_start(before, max_chars),
        passage=piece.text,
        after=_cut_end(after, max_chars),
        page_start=piece.page_start,
        page_end=piece.page_end,
        has_original=cited.has_original,
    )
