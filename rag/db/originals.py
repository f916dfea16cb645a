"""The original bytes of each document (migration 7), for the citation viewer and the download button.

A document that is a whole file (PDF, DOCX, HTML, Markdown, text; not a CSV row or JSONL line)
keeps its file in ``document_originals``, written in the transaction that writes the document
(:func:`rag.db.documents.write_documents`), so a document never exists without its original or the
other way round. The row goes when its document goes (``ON DELETE CASCADE``: deleting a document, a
replaced version or a whole collection removes it), and it lives in PostgreSQL, so it survives a
restart and follows the same backups. Its size is bounded by the upload limit (``RAG_MAX_FILE_MB``,
:mod:`rag.loaders.guards`).

Row-level security: a user reads the original of a document it can read (the collection's owner
and members) and only a writer of the collection adds or deletes one. The policies name the
document's collection through a sub-select of ``documents``, so the original needs no
``collection_id`` of its own that could disagree with its document's.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

DOCUMENT_ORIGINALS = """
CREATE TABLE document_originals (
    document_id bigint PRIMARY KEY REFERENCES documents (id) ON DELETE CASCADE,
    media_type text NOT NULL,
    size_bytes bigint NOT NULL CHECK (size_bytes >= 0),
    sha256 text NOT NULL,
    data bytea NOT NULL,
    CHECK (octet_length(data) = size_bytes)
);

-- Written once with its document, never changed: no UPDATE for the app's role.
GRANT SELECT, INSERT, DELETE ON document_originals TO rag_app;
REVOKE UPDATE ON document_originals FROM rag_app;

ALTER TABLE document_originals ENABLE ROW LEVEL SECURITY;
CREATE POLICY document_originals_read ON document_originals FOR SELECT
    USING (document_id IN (SELECT d.id FROM documents d
                           WHERE d.collection_id = ANY ((SELECT rag_readable_collections())::bigint[])));
CREATE POLICY document_originals_insert ON document_originals FOR INSERT
    WITH CHECK (document_id IN (SELECT d.id FROM documents d
                                WHERE d.collection_id = ANY ((SELECT rag_writable_collections())::bigint[])));
CREATE POLICY document_originals_delete ON document_originals FOR DELETE
    USING (document_id IN (SELECT d.id FROM documents d
                           WHERE d.collection_id = ANY ((SELECT rag_writable_collections())::bigint[])));
"""
"""Migration 7's SQL (module docstring: the design)."""

INSERT_ORIGINAL = """
INSERT INTO document_originals (document_id, media_type, size_bytes, sha256, data)
VALUES (%(document_id)s, %(media_type)s, %(size_bytes)s, %(sha256)s, %(data)b)
"""

GET_ORIGINAL = """
SELECT o.data, o.media_type, d.source_name, o.sha256
FROM document_originals o JOIN documents d ON d.id = o.document_id
WHERE o.document_id = %(document_id)s
"""

DOCUMENT_NAME = "SELECT source_name FROM documents WHERE id = %(document_id)s"

HAS_ORIGINALS = "SELECT document_id FROM document_originals WHERE document_id = ANY(%(document_ids)s)"


@dataclass(frozen=True)
class OriginalFile:
    """The file a document was loaded from, as uploaded.

    Attributes:
        data: The file's bytes (at most the upload limit, ``RAG_MAX_FILE_MB``).
        media_type: Its MIME type, e.g. ``application/pdf``.
        filename: The document's source name (the uploaded file's name).
        sha256: Hex sha256 of ``data`` (equals the document's ``sha256``).
    """

    data: bytes
    media_type: str
    filename: str
    sha256: str


def get_original(conn: psycopg.Connection, document_id: int) -> OriginalFile | None:
    """The original of a document the acting user may read, or ``None``.

    ``None`` also for no such document, one not readable, or one stored without an original (a row
    of a file, or ingested before migration 7).
    """
    row = conn.execute(GET_ORIGINAL, {"document_id": document_id}, binary=True).fetchone()
    if row is None:
        return None
    return OriginalFile(data=bytes(row[0]), media_type=row[1], filename=row[2], sha256=row[3])


def documents_with_originals(conn: psycopg.Connection, document_ids: list[int]) -> set[int]:
    """Which of ``document_ids`` have an original the acting user may read."""
    rows = conn.execute(HAS_ORIGINALS, {"document_ids": document_ids}).fetchall()
    return {int(row[0]) for row in rows}


def document_name(conn: psycopg.Connection, document_id: int) -> str | None:
    """The source name of a document the acting user may read, or ``None``."""
    row = conn.execute(DOCUMENT_NAME, {"document_id": document_id}).fetchone()
    return None if row is None else str(row[0])
