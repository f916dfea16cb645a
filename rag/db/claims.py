"""Claims on documents being ingested, so two processes never embed the same file twice.

A claim is a session-level advisory lock keyed by (collection, document sha256), taken with
``pg_try_advisory_lock`` on a connection the ingest keeps for its whole run. A process that finds the
claim held knows another process is ingesting the same bytes right now and skips the document
("already ingested by another process") instead of embedding it and losing the race on the unique
key. PostgreSQL releases the locks of a session that dies, so a killed ingest leaves no stale claim.
"""

from __future__ import annotations

from collections.abc import Iterable

import psycopg

from rag.errors import DatabaseError

_CLAIM_NAMESPACE = 7_273_012_204 % 2**31

TRY_CLAIM = """
SELECT sha FROM unnest(%(shas)s::text[]) AS sha
WHERE pg_try_advisory_lock(%(ns)s, hashtext(%(collection)s || ':' || sha))
"""
RELEASE_CLAIM = "SELECT pg_advisory_unlock(%(ns)s, hashtext(%(collection)s || ':' || sha)) FROM unnest(%(shas)s::text[]) AS sha"


def claim_documents(conn: psycopg.Connection, collection_name: str, shas: Iterable[str]) -> set[str]:
    """Claim the documents with these sha256 for this session; return the ones claimed now.

    A sha missing from the result is claimed by another session (another process, or another
    upload of this app). Claims are re-entrant within a session: claim twice, release twice.

    Args:
        conn: An autocommit connection that lives as long as the claims are needed.
        collection_name: The collection (the claim is per collection: names exist before ids do).
        shas: Documents' ``content_sha256``.

    Returns:
        The shas claimed by this call.

    Raises:
        DatabaseError: the connection is lost (the server stopped).
    """
    wanted = list(dict.fromkeys(shas))
    if not wanted:
        return set()
    try:
        rows = conn.execute(
            TRY_CLAIM, {"ns": _CLAIM_NAMESPACE, "collection": collection_name, "shas": wanted}
        ).fetchall()
    except psycopg.OperationalError as exc:
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DatabaseError(
            f"the connection to the database was lost ({first_line}): check that PostgreSQL is running, "
            "then try again"
        ) from exc
    return {row[0] for row in rows}


def release_documents(conn: psycopg.Connection, collection_name: str, shas: Iterable[str]) -> None:
    """Release claims taken by :func:`claim_documents` on the same connection (once per claim).

    A lost connection is ignored: its session, and so its locks, are gone with it.
    """
    released = list(shas)
    if not released or conn.broken or conn.closed:
        return
    try:
        conn.execute(RELEASE_CLAIM, {"ns": _CLAIM_NAMESPACE, "collection": collection_name, "shas": released})
    except psycopg.OperationalError:
        if not (conn.broken or conn.closed):
            raise
