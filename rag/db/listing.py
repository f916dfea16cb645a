"""Reads for display: documents with their counts, a document's chunks, database status.

Typed rows (STYLE.md practice 7): the Corpus page, ``rag docs`` and ``rag db`` read fields by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg

from rag.db.search import CHUNK_FROM_OCR_SQL
from rag.errors import NotFound

LIST_DOCUMENTS = r"""
SELECT d.id, c.name, d.title, d.source_name, d.media_type, d.size_bytes, d.page_count,
       count(ch.id), coalesce(array_agg(DISTINCT ch.embedding_model)
                              FILTER (WHERE ch.embedding_model IS NOT NULL), '{}'),
       d.external_id, d.created_at, d.updated_at,
       coalesce(d.metadata -> 'pages_without_text', '[]'::jsonb),
       CASE WHEN jsonb_typeof(d.metadata -> 'ocr_pages') = 'array' THEN d.metadata -> 'ocr_pages' ELSE '[]'::jsonb END,
       EXISTS (SELECT 1 FROM document_originals o WHERE o.document_id = d.id)
FROM documents d JOIN collections c ON c.id = d.collection_id
LEFT JOIN chunks ch ON ch.document_id = d.id
WHERE c.name = %(collection)s
  AND (%(pattern)s::text IS NULL OR d.title ILIKE %(pattern)s ESCAPE '\' OR d.source_name ILIKE %(pattern)s ESCAPE '\')
GROUP BY d.id, c.name ORDER BY d.created_at DESC, d.id DESC
"""
LIST_CHUNKS = (
    """
SELECT c.id, c.ordinal, c.text, c.page_start, c.page_end, c.heading_path, c.token_count, c.char_start,
       c.char_end, c.embedding_model, """
    + CHUNK_FROM_OCR_SQL
    + """
FROM chunks c JOIN documents d ON d.id = c.document_id
WHERE c.document_id = %(document_id)s ORDER BY c.ordinal
"""
)
DOCUMENT_EXISTS = "SELECT 1 FROM documents WHERE id = %(document_id)s"
CHUNK_TOKEN_COUNTS = """
SELECT ch.token_count FROM chunks ch JOIN collections c ON c.id = ch.collection_id WHERE c.name = %(collection)s
"""
COLLECTION_NAMES = "SELECT name FROM collections ORDER BY name"
COLLECTION_SUMMARIES = """
SELECT c.name, count(d.id), coalesce(c.settings ->> 'evaluation', ''), max(d.created_at)
FROM collections c LEFT JOIN documents d ON d.collection_id = c.id
GROUP BY c.id ORDER BY c.name
"""
SERVER_VERSIONS = """
SELECT current_setting('server_version'), (SELECT extversion FROM pg_extension WHERE extname = 'vector')
"""
TABLE_COUNTS = "SELECT (SELECT count(*) FROM collections), (SELECT count(*) FROM documents), (SELECT count(*) FROM chunks)"
CHUNKS_BY_MODEL = "SELECT coalesce(embedding_model, 'none'), count(*) FROM chunks GROUP BY 1 ORDER BY 1"
MIGRATION_NAMES = "SELECT name FROM schema_migrations ORDER BY id"


@dataclass(frozen=True)
class DocumentInfo:
    """A stored document with its counts (a row of ``rag docs`` and the Corpus page).

    Attributes:
        size_bytes: Size of the source bytes. page_count: Pages of paginated formats, else ``None``.
        chunk_count: Chunks stored. embedding_models: Models that embedded its chunks.
        pages_without_text: 1-based pages of a PDF with no text layer, not indexed (stored in
            ``documents.metadata`` by the PDF loader); ``()`` for other formats.
        ocr_pages: 1-based pages whose text was read by OCR (scanned PDF pages, images;
            ``metadata["ocr_pages"]``); ``()`` when none.
        has_original: Whether its original file is kept (``document_originals``, migration 7): for
            the Download button and the PDF page viewer.
    """

    id: int
    collection: str
    title: str
    source_name: str
    media_type: str
    size_bytes: int
    page_count: int | None
    chunk_count: int
    embedding_models: tuple[str, ...]
    external_id: str | None
    created_at: datetime
    updated_at: datetime
    pages_without_text: tuple[int, ...] = ()
    ocr_pages: tuple[int, ...] = ()
    has_original: bool = False


@dataclass(frozen=True)
class ChunkInfo:
    """A stored chunk for display.

    Attributes:
        ordinal: 0-based position in the document. token_count: Tokens of the embedding input.
        char_start, char_end: Offsets in the document's full text (characters, end exclusive).
        from_ocr: True when (part of) its text was read by OCR (one of its pages is in the
            document's ``metadata["ocr_pages"]``).
    """

    id: int
    ordinal: int
    text: str
    page_start: int | None
    page_end: int | None
    heading_path: tuple[str, ...]
    token_count: int
    char_start: int
    char_end: int
    embedding_model: str | None
    from_ocr: bool = False


@dataclass(frozen=True)
class CollectionSummary:
    """A collection as the collection pickers show it.

    Attributes:
        name: The collection's name. documents: Documents stored in it.
        evaluation: The dataset it was built from when ``rag eval`` created it (its
            ``settings["evaluation"]``), else ``""``: evaluation collections are kept out of Chat.
        last_added: When its newest document was added (``None`` when it has none).
    """

    name: str
    documents: int
    evaluation: str
    last_added: datetime | None

    @property
    def is_evaluation(self) -> bool:
        """True for a collection ``rag eval`` built from a dataset."""
        return bool(self.evaluation)


@dataclass(frozen=True)
class DatabaseStatus:
    """What ``rag db`` prints: where the data is and how much there is."""

    location: str
    embedded: bool
    server_version: str
    pgvector_version: str
    collections: int
    documents: int
    chunks: int
    chunks_by_model: dict[str, int]
    migrations: list[str]


def like_pattern(text: str) -> str:
    r"""``%text%`` for ILIKE with ``\``, ``%`` and ``_`` escaped, so the user's text matches literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def list_documents(
    conn: psycopg.Connection, collection: str, search: str | None = None
) -> list[DocumentInfo]:
    """Documents of a collection, newest first; ``search`` matches title or source name literally."""
    rows = conn.execute(
        LIST_DOCUMENTS, {"collection": collection, "pattern": like_pattern(search) if search else None}
    ).fetchall()
    return [
        DocumentInfo(
            id=r[0],
            collection=r[1],
            title=r[2],
            source_name=r[3],
            media_type=r[4],
            size_bytes=r[5],
            page_count=r[6],
            chunk_count=r[7],
            embedding_models=tuple(r[8]),
            external_id=r[9],
            created_at=r[10],
            updated_at=r[11],
            pages_without_text=tuple(int(page) for page in r[12]),
            ocr_pages=tuple(int(page) for page in r[13] if isinstance(page, int)),
            has_original=bool(r[14]),
        )
        for r in rows
    ]


def list_chunks(conn: psycopg.Connection, document_id: int) -> list[ChunkInfo]:
    """Chunks of one document in order.

    Raises:
        NotFound: no such document.
    """
    rows = conn.execute(LIST_CHUNKS, {"document_id": document_id}).fetchall()
    if not rows and conn.execute(DOCUMENT_EXISTS, {"document_id": document_id}).fetchone() is None:
        raise NotFound(f"document {document_id} does not exist")
    return [
        ChunkInfo(
            id=r[0],
            ordinal=r[1],
            text=r[2],
            page_start=r[3],
            page_end=r[4],
            heading_path=tuple(r[5] or ()),
            token_count=r[6],
            char_start=r[7],
            char_end=r[8],
            embedding_model=r[9],
            from_ocr=bool(r[10]),
        )
        for r in rows
    ]


def chunk_token_counts(conn: psycopg.Connection, collection: str) -> list[int]:
    """Token count of every chunk in a collection (for the chunk length distribution), in one query."""
    return [r[0] for r in conn.execute(CHUNK_TOKEN_COUNTS, {"collection": collection})]


def collection_names(conn: psycopg.Connection) -> list[str]:
    """Names of all collections, sorted."""
    return [r[0] for r in conn.execute(COLLECTION_NAMES)]


def collection_summaries(conn: psycopg.Connection) -> list[CollectionSummary]:
    """Every collection with its document count, evaluation dataset and newest document, by name."""
    return [CollectionSummary(r[0], int(r[1]), r[2], r[3]) for r in conn.execute(COLLECTION_SUMMARIES)]


def database_status(conn: psycopg.Connection, location: str, embedded: bool) -> DatabaseStatus:
    """Server and pgvector versions, row counts, chunks per embedding model, applied migrations."""
    server_version, pgvector_version = conn.execute(SERVER_VERSIONS).fetchone() or ("?", "?")
    counts = conn.execute(TABLE_COUNTS).fetchone() or (0, 0, 0)
    by_model = {name: int(n) for name, n in conn.execute(CHUNKS_BY_MODEL).fetchall()}
    migrations = [r[0] for r in conn.execute(MIGRATION_NAMES)]
    return DatabaseStatus(
        location=location,
        embedded=embedded,
        server_version=server_version,
        pgvector_version=pgvector_version,
        collections=int(counts[0]),
        documents=int(counts[1]),
        chunks=int(counts[2]),
        chunks_by_model=by_model,
        migrations=migrations,
    )
