"""``rag models``: listing (with a fake Ollama server), choosing, testing and pulling (fake Hub)."""

from __future__ import annotations

import json

import pytest
from fake_servers import FakeHub, FakeOllama, free_port

from rag.catalog.download import PULL_FIX
from rag.cli import main
from rag.config import DEFAULT_RERANKER_MODEL
from rag.engine import Engine

OLLAMA_TAGS = {
    "models": [
        {
            "name": "llama3.2:latest",
            "size": 2019393189,
            "details": {"family": "llama", "parameter_size": "3.2B"},
        },
        {"name": "nomic-embed-text:latest", "size": 274302450, "details": {"family": "nomic-bert"}},
    ]
}


@pytest.fixture
def cli_env(engine, monkeypatch):
    monkeypatch.setenv("RAG_DATA_DIR", str(engine.db.data_dir))
    monkeypatch.setenv("RAG_COLLECTION", engine.settings.collection)
    monkeypatch.setenv("RAG_RERANKER_MODEL", "")
    monkeypatch.delenv("RAG_LLM_MODEL", raising=False)
    monkeypatch.setenv("OLLAMA_API_BASE", f"http://127.0.0.1:{free_port()}")  # nothing listens
    yield engine
    engine.choose_llm(None)  # the session database is shared by every test


def test_models_lists_ollama_models_and_key_status_without_values(cli_env, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-value")
    monkeypatch.delenv("GROQ_API_KEY", raising=False)
    monkeypatch.setenv("COLUMNS", "200")  # rich wraps table cells to the terminal width
    with FakeOllama(OLLAMA_TAGS) as ollama:
        url = ollama.url
        monkeypatch.setenv("OLLAMA_API_BASE", url)
        assert main(["models", "--json"]) == 0
        listing = json.loads(capsys.readouterr().out)
        assert main(["models"]) == 0
        text = capsys.readouterr().out
    by_model = {c["model"]: c for c in listing["choices"]}
    assert by_model["ollama_chat/llama3.2:latest"]["ready"]
    assert "ollama_chat/nomic-embed-text:latest" not in by_model  # embedding-only models are left out
    assert listing["ollama_status"] == f"Ollama at {url}: 1 model"
    assert by_model["openai/gpt-4o-mini"]["ready"]
    assert by_model["groq/llama-3.1-8b-instant"]["missing_keys"] == ["GROQ_API_KEY"]
    assert listing["llm_model"] == "local/smollm2" and listing["reranker"]["present"] is False
    assert "sk-test-secret-value" not in json.dumps(listing) and "sk-test-secret-value" not in text
    assert "Reranker: off (disabled: RAG_RERANKER_MODEL is empty)" in text
    assert "ollama_chat/llama3.2:latest" in text and "missing GROQ_API_KEY" in text


def test_models_use_remembers_the_choice_and_reset_forgets_it(cli_env, settings, database, capsys):
    assert main(["models", "use", "ollama_chat/llama3.2:latest"]) == 0
    assert capsys.readouterr().out.strip() == "LLM: ollama_chat/llama3.2:latest"
    fresh = Engine(settings, db=database)
    fresh.collections()
    assert fresh.settings.llm_model == "ollama_chat/llama3.2:latest"
    assert main(["models", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["llm_model"] == "ollama_chat/llama3.2:latest"

    assert main(["models", "use", "--reset"]) == 0
    again = Engine(settings, db=database)
    again.collections()
    assert again.settings.llm_model == "local/smollm2"
    capsys.readouterr()
    assert main(["models", "use"]) == 2
    assert capsys.readouterr().err.startswith("error: give a model")


def test_models_test_reports_latency_or_the_error(cli_env, monkeypatch, capsys):
    monkeypatch.setenv("RAG_LLM_MOCK_RESPONSE", "OK")
    assert main(["models", "test", "openai/gpt-4o-mini"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("openai/gpt-4o-mini: ok in ") and "ms, replied 'OK'" in out


def test_models_pull_downloads_with_progress_then_reranking_is_on(
    cli_env, tiny_repo, hub_cache, monkeypatch, capsys
):
    monkeypatch.setenv("RAG_RERANKER_MODEL", DEFAULT_RERANKER_MODEL)
    with FakeHub({DEFAULT_RERANKER_MODEL: tiny_repo}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        assert main(["models", "pull"]) == 0
        out, err = capsys.readouterr()
        assert hub.file_gets()  # the bytes came from the fake Hub
    assert out.startswith(f"{DEFAULT_RERANKER_MODEL}: ") and str(hub_cache) in out
    assert f"Downloading {DEFAULT_RERANKER_MODEL}" in err  # the tqdm bar
    assert main(["models"]) == 0
    assert f"Reranker: on ({DEFAULT_RERANKER_MODEL})" in capsys.readouterr().out
    assert main(["models", "pull"]) == 0  # the Hub is gone, but nothing is missing
    assert "is already in" in capsys.readouterr().out


def test_models_pull_without_a_server_is_one_readable_error(cli_env, hub_cache, monkeypatch, capsys):
    down = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("HF_ENDPOINT", down)
    assert main(["models", "pull", "cross-encoder/ms-marco-MiniLM-L-6-v2"]) == 2
    err = capsys.readouterr().err
    [line] = [x for x in err.splitlines() if x.startswith("error:")]
    assert f"{down} cannot be reached" in line and PULL_FIX in line and "Traceback" not in err
    absent = cli_env.settings.with_(reranker_model=DEFAULT_RERANKER_MODEL)
    assert not Engine(absent).reranker_availability().present


def test_rerank_search_without_the_model_prints_one_short_note(
    cli_env, hub_cache, monkeypatch, tmp_path, capsys
):
    monkeypatch.setenv("RAG_RERANKER_MODEL", DEFAULT_RERANKER_MODEL)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (tmp_path / "owls.txt").write_text("Owls hunt mice at night with silent flight.")
    assert main(["ingest", str(tmp_path), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["search", "silent hunters", "--mode", "rerank"]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note:")]
    assert notes == [
        "note: reranking skipped (not downloaded); fix: `rag models pull` (status: `rag models`)"
    ]


def test_first_rerank_use_downloads_the_model_with_progress(engine, tiny_repo, hub_cache, monkeypatch):
    import rag.embedding

    monkeypatch.setattr(rag.embedding, "_hub_offline_by_user", False)  # a user with a network
    eng = Engine(engine.settings.with_(reranker_model=DEFAULT_RERANKER_MODEL), db=engine.db)
    eng._embedder = engine.embedder
    progress = []
    eng.download_progress = lambda done, total: progress.append((done, total))
    with FakeHub({DEFAULT_RERANKER_MODEL: tiny_repo}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        reranker, status = eng.reranker()
        assert hub.file_gets()
    assert status.available and reranker is not None
    assert progress and progress[-1][0] == progress[-1][1] > 0


def test_no_download_when_the_user_chose_offline(engine, tiny_repo, hub_cache, monkeypatch):
    import rag.embedding

    monkeypatch.setattr(rag.embedding, "_hub_offline_by_user", True)
    eng = Engine(engine.settings.with_(reranker_model=DEFAULT_RERANKER_MODEL), db=engine.db)
    with FakeHub({DEFAULT_RERANKER_MODEL: tiny_repo}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        reranker, status = eng.reranker()
        assert not hub.file_gets()
    assert reranker is None and "rag models pull" in status.reason
