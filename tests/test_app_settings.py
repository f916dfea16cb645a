"""The Settings page through ``AppTest``: the LLM listing (fake Ollama), Test (LiteLLM mock), Use, and
the reranker's download button against a fake Hugging Face Hub, and its offline message."""

from __future__ import annotations

import pytest
from fake_servers import FakeHub, FakeOllama, free_port
from test_app import MOCK, app_engine, page, seeded, served_engine, texts, ui  # noqa: F401 - pytest fixtures

from db_fixtures import database, engine, settings  # noqa: F401 - pytest fixtures
from rag import Engine

SETTINGS = "pages/settings.py"
RERANKER = "cross-encoder/ms-marco-MiniLM-L-6-v2"
OLLAMA_TAGS = {
    "models": [
        {"name": "qwen3:4b", "size": 2_500_000_000, "details": {"family": "qwen3", "parameter_size": "4.0B"}},
        {"name": "nomic-embed-text:latest", "size": 274_302_450, "details": {"family": "nomic-bert"}},
    ]
}


@pytest.fixture
def settings_app(app_engine, monkeypatch):  # noqa: F811
    """The app with no ``RAG_LLM_MODEL`` and no Ollama server; the stored choice is forgotten afterwards."""
    monkeypatch.delenv("RAG_LLM_MODEL", raising=False)
    monkeypatch.setenv("OLLAMA_API_BASE", f"http://127.0.0.1:{free_port()}")
    yield app_engine
    app_engine.choose_llm(None)  # the session database is shared by every test


def test_llm_listing_shows_the_ollama_models_and_missing_keys(settings_app, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-never-shown")
    monkeypatch.delenv("GROQ_API_KEY", raising=False)
    with FakeOllama(OLLAMA_TAGS) as ollama:
        monkeypatch.setenv("OLLAMA_API_BASE", ollama.url)
        at = page(SETTINGS)
    assert at.title[0].value == "Settings" and not at.error
    choice = at.selectbox(key="settings-llm-choice")
    assert choice.value == "local/smollm2"
    assert "Ollama · qwen3:4b (Ollama, 4.0B, 2.5 GB) · ready" in choice.options
    assert "Packaged · SmolLM2-135M (packaged, offline, 98 MB) · ready · current" in choice.options
    assert "API · groq/llama-3.1-8b-instant · missing GROQ_API_KEY" in choice.options
    assert "API · openai/gpt-4o-mini · ready" in choice.options
    assert not any("nomic-embed-text" in label for label in choice.options)
    shown = texts(at.markdown) + texts(at.caption) + "".join(choice.options)
    assert "sk-never-shown" not in shown
    assert "Ollama at http://127.0.0.1" in texts(at.caption)


def test_test_button_shows_latency_and_use_stores_the_choice(
    settings_app,
    settings,  # noqa: F811
    database,  # noqa: F811
    monkeypatch,
):
    monkeypatch.setenv("RAG_LLM_MOCK_RESPONSE", "OK")
    at = page(SETTINGS)
    at.text_input(key="settings-llm-custom").input("openai/gpt-4o-mini").run()
    at.button(key="settings-llm-test").click().run()
    assert not at.exception, at.exception
    [success] = at.success
    assert success.value.startswith("`openai/gpt-4o-mini` answered in ") and "ms: 'OK'" in success.value

    at.button(key="settings-llm-use").click().run()
    assert not at.exception, at.exception
    assert settings_app.settings.llm_model == "openai/gpt-4o-mini"
    assert "Every chat now uses `openai/gpt-4o-mini`" in texts(at.success)
    assert "**LLM** `openai/gpt-4o-mini`" in texts(at.sidebar.caption)
    fresh = Engine(settings, db=database)
    fresh.collections()
    assert fresh.settings.llm_model == "openai/gpt-4o-mini"


def test_a_failed_test_is_a_readable_error(settings_app, monkeypatch):
    monkeypatch.setenv("OLLAMA_API_BASE", f"http://127.0.0.1:{free_port()}")
    monkeypatch.delenv("RAG_LLM_MOCK_RESPONSE")
    at = page(SETTINGS)
    at.text_input(key="settings-llm-custom").input("ollama_chat/absent:latest").run()
    at.button(key="settings-llm-test").click().run()
    assert not at.exception, at.exception
    [error] = at.error
    assert error.value.startswith("`ollama_chat/absent:latest` failed after ")


def test_environment_model_wins_note(settings_app, monkeypatch):
    monkeypatch.setenv("RAG_LLM_MODEL", "local/smollm2")
    at = page(SETTINGS)
    assert "`RAG_LLM_MODEL` is set in the environment" in texts(at.info)


def test_download_button_pulls_the_reranker_with_progress(settings_app, tiny_repo, hub_cache, monkeypatch):
    monkeypatch.setattr(settings_app, "settings", settings_app.settings.with_(reranker_model=RERANKER))
    at = page(SETTINGS)
    [link] = at.sidebar.get("page_link")
    assert link.proto.label == "Reranker: off — not downloaded" and "rag models pull" in link.proto.help
    assert "**Reranker: off**, not downloaded" in texts(at.markdown)
    assert "Offline? To fix: run `rag models pull` on a machine with network access" in texts(at.caption)
    with FakeHub({RERANKER: tiny_repo}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        at.button(key="settings-reranker-download").click().run(timeout=120)
        assert hub.file_gets()
    assert not at.exception, at.exception
    assert f"{RERANKER} downloaded (" in texts(at.success)
    assert "**Reranker: on**" in texts(at.markdown)
    [link] = at.sidebar.get("page_link")
    assert link.proto.label == "Reranker: on"
    assert settings_app.reranker_availability().present
    assert settings_app.loaded_reranker_status() is None  # forgotten: the next search loads it


def test_download_without_network_says_what_to_do(settings_app, hub_cache, monkeypatch):
    monkeypatch.setattr(settings_app, "settings", settings_app.settings.with_(reranker_model=RERANKER))
    down = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("HF_ENDPOINT", down)
    at = page(SETTINGS)
    at.button(key="settings-reranker-download").click().run()
    assert not at.exception, at.exception
    [error] = at.error
    assert "The reranker cannot be downloaded" in error.value and f"{down} cannot be reached" in error.value
    assert "run `rag models pull` on a machine with network access" in error.value
    assert not settings_app.reranker_availability().present


def test_first_chat_question_downloads_the_reranker_then_reranks(seeded, tiny_repo, hub_cache, monkeypatch):  # noqa: F811
    import rag.embedding

    monkeypatch.setattr(rag.embedding, "_hub_offline_by_user", False)  # a user with a network
    monkeypatch.setenv("RAG_LLM_MOCK_RESPONSE", MOCK)
    original = seeded.settings
    seeded.settings = original.with_(reranker_model=RERANKER)
    seeded._reranker_status = None
    try:
        with FakeHub({RERANKER: tiny_repo}) as hub:
            monkeypatch.setenv("HF_ENDPOINT", hub.url)
            at = page()
            at.chat_input(key="chat-input").set_value("How long is the warranty?").run()
            assert not at.exception, at.exception
            assert hub.file_gets()  # downloaded on first use
        _, status = seeded.reranker()
        assert status.available
        (conversation,) = [c for c in seeded.conversations() if c.collection == seeded.settings.collection]
        answer = seeded.messages(conversation.id)[-1].answer
        assert answer.trace.reranked  # the first answer already used it
    finally:
        seeded.settings = original
        seeded._reranker, seeded._reranker_status = None, None
