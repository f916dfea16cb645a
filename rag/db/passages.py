"""Reads for the citation viewer: a cited chunk with its document, and the chunks around it.

Row-level security applies as everywhere: a chunk of a collection the acting user cannot read is
simply not found.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

CITED_CHUNK = """
SELECT ch.id, ch.document_id, ch.ordinal, ch.text, ch.char_start, ch.char_end, ch.heading_path,
       ch.page_start, ch.page_end, d.title, d.source_name, d.media_type, d.page_count,
       EXISTS (SELECT 1 FROM document_originals o WHERE o.document_id = d.id)
FROM chunks ch JOIN documents d ON d.id = ch.document_id
WHERE ch.id = %(chunk_id)s
"""

NEIGHBOUR_CHUNKS = """
SELECT id, document_id, ordinal, text, char_start, char_end, heading_path, page_start, page_end
FROM chunks
WHERE document_id = %(document_id)s AND ordinal BETWEEN %(first)s AND %(last)s
ORDER BY ordinal
"""


@dataclass(frozen=True)
class StoredPiece:
    """A stored chunk's text and where it lies in its document.

    Attributes:
        chunk_id, document_id, ordinal: Identity and 0-based position in the document.
        text: The passage. char_start, char_end: Its offsets in the document's full text
            (characters, end exclusive; ``rag.chunking.full_text``).
        heading_path: Headings above it. page_start, page_end: 1-based pages, or ``None``.
    """

    chunk_id: int
    document_id: int
    ordinal: int
    text: str
    char_start: int
    char_end: int
    heading_path: tuple[str, ...]
    page_start: int | None
    page_end: int | None


@dataclass(frozen=True)
class CitedChunk:
    """A cited chunk with the fields of its document the viewer needs.

    Attributes:
        piece: The chunk. title, source_name, media_type, page_count: From its document.
        has_original: Whether the document's original file is kept (``document_originals``).
    """

    piece: StoredPiece
    title: str
    source_name: str
    media_type: str
    page_count: int | None
    has_original: bool


def _piece(row: tuple) -> StoredPiece:
    return StoredPiece(
        chunk_id=row[0],
        document_id=row[1],
        ordinal=row[2],
        text=row[3],
        char_start=row[4],
        char_end=row[5],
        heading_path=tuple(row[6] or ()),
        page_start=row[7],
        page_end=row[8],
    )


def cited_chunk(conn: psycopg.Connection, chunk_id: int) -> CitedChunk | None:
    """The chunk ``chunk_id`` with its document, or ``None`` when it is not stored or not readable."""
    row = conn.execute(CITED_CHUNK, {"chunk_id": chunk_id}).fetchone()
    if row is None:
        return None
    return CitedChunk(
        piece=_piece(row),
        title=row[9],
        source_name=row[10],
        media_type=row[11],
        page_count=row[12],
        has_original=bool(row[13]),
    )


def neighbour_chunks(
    conn: psycopg.Connection, document_id: int, ordinal: int, reach: int
) -> list[StoredPiece]:
    """The document's chunks from ``ordinal - reach`` to ``ordinal + reach``, in order (itself included)."""
    rows = conn.execute(
        NEIGHBOUR_CHUNKS, {"document_id": document_id, "first": ordinal - reach, "last": ordinal + reach}
    ).fetchall()
    return [_piece(row) for row in rows]
