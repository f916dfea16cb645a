"""The LLM chosen in the app is remembered for the installation; RAG_LLM_MODEL still wins."""

from __future__ import annotations

import pytest

from rag import ConfigError, Engine


@pytest.fixture
def clean_choice(engine, monkeypatch):
    monkeypatch.delenv("RAG_LLM_MODEL", raising=False)
    yield engine
    engine.choose_llm(None)  # the session database is shared by every test


def test_choice_applies_now_and_to_the_next_engine(clean_choice, settings, database, monkeypatch):
    clean_choice.choose_llm("ollama/llama3.2")
    assert clean_choice.settings.llm_model == "ollama/llama3.2"
    later = Engine(settings, db=database)
    assert later.settings.llm_model == "local/smollm2"  # nothing read before the database is used
    later.collections()
    assert later.settings.llm_model == "ollama/llama3.2"

    monkeypatch.setenv("RAG_LLM_MODEL", "openai/gpt-4o-mini")
    explicit = Engine(settings.with_(llm_model="openai/gpt-4o-mini"), db=database)
    explicit.collections()
    assert explicit.settings.llm_model == "openai/gpt-4o-mini"


def test_forgetting_the_choice_and_empty_names(clean_choice, settings, database):
    clean_choice.choose_llm("ollama/llama3.2")
    clean_choice.choose_llm(None)
    assert clean_choice.settings.llm_model == "local/smollm2"
    fresh = Engine(settings, db=database)
    fresh.collections()
    assert fresh.settings.llm_model == "local/smollm2"
    with pytest.raises(ConfigError, match="must not be empty"):
        clean_choice.choose_llm("  ")
