"""Tests of rag.config: the answer limits (token cap, wall-clock cap) read from the environment."""

from __future__ import annotations

import pytest

from rag.config import Settings
from rag.errors import ConfigError


def test_answer_limits_default_and_read_from_the_environment_at_call_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("RAG_MAX_ANSWER_TOKENS", raising=False)
    monkeypatch.delenv("RAG_ANSWER_TIMEOUT_S", raising=False)
    defaults = Settings.from_env()
    assert (defaults.max_answer_tokens, defaults.answer_timeout_s) == (300, 60.0)
    monkeypatch.setenv("RAG_MAX_ANSWER_TOKENS", "120")
    monkeypatch.setenv("RAG_ANSWER_TIMEOUT_S", "12.5")
    settings = Settings.from_env()
    assert (settings.max_answer_tokens, settings.answer_timeout_s) == (120, 12.5)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("RAG_MAX_ANSWER_TOKENS", "many", "RAG_MAX_ANSWER_TOKENS='many' is not a whole number"),
        ("RAG_MAX_ANSWER_TOKENS", "0", "set RAG_MAX_ANSWER_TOKENS"),
        ("RAG_ANSWER_TIMEOUT_S", "soon", "RAG_ANSWER_TIMEOUT_S='soon' is not a number"),
        ("RAG_ANSWER_TIMEOUT_S", "0", "set RAG_ANSWER_TIMEOUT_S"),
    ],
)
def test_bad_answer_limits_are_config_errors(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=message):
        Settings.from_env()


def test_with_checks_the_answer_limits() -> None:
    with pytest.raises(ConfigError, match="max_answer_tokens -1 must be positive"):
        Settings().with_(max_answer_tokens=-1)
    assert Settings().with_(answer_timeout_s=5.0).answer_timeout_s == 5.0
