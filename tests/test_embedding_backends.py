"""Embedding backends: the packaged MiniLM built for ONNX Runtime / OpenVINO, checked against torch fp32."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rag.config import Settings
from rag.embedding import load_embedder, resolve_model_path
from rag.embedding_backends import EmbeddingBackend, ensure_built, model_file, verify_build
from rag.errors import ConfigError, EmbeddingModelMismatch, ModelNotAvailable
from rag.retrieval import SearchParams

TEXTS = [
    "The cat sat on the mat.",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "x",
    "PostgreSQL keeps an HNSW index over the chunk embeddings; BM25 statistics are kept per collection. " * 8,
]
"""A short sentence, a scientific one, a single character and one longer than MiniLM's 256 tokens."""

BACKENDS = ["onnx-fp32", "onnx-qint8", "openvino-fp32", "openvino-bf16", "openvino-qint8"]


def parse(tag: str) -> EmbeddingBackend:
    runtime, quantization = tag.split("-")
    return EmbeddingBackend.parse(runtime, quantization)


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory):
    """One cache of built models for the whole session (each build takes 10-60 s)."""
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(scope="session")
def backend_embedders(model_cache):
    """Each non-torch backend of the packaged MiniLM, built once into the session cache."""
    messages: dict[str, list[str]] = {}
    loaded = {}
    for tag in BACKENDS:
        messages[tag] = []
        try:
            loaded[tag] = load_embedder("all-MiniLM-L6-v2", parse(tag), model_cache, messages[tag].append)
        except ModelNotAvailable as exc:  # bf16 needs AVX512_BF16 or AMX: said, not hidden
            assert tag == "openvino-bf16" and "no bfloat16" in str(exc), exc
            messages[tag].append(str(exc))
    return loaded, messages


@pytest.mark.parametrize("tag", BACKENDS)
def test_backend_matches_torch_per_text(backend_embedders, embedder, tag):
    loaded, messages = backend_embedders
    if tag not in loaded:
        pytest.skip(messages[tag][-1])
    other = loaded[tag]
    assert other.name == f"all-MiniLM-L6-v2@{tag}"
    assert (other.dimension, other.max_tokens) == (embedder.dimension, embedder.max_tokens)
    assert any("Building" in m for m in messages[tag]) and any("Built" in m for m in messages[tag])
    reference = embedder.embed(TEXTS)
    vectors = other.embed(TEXTS, batch_size=3)
    assert vectors.shape == reference.shape == (len(TEXTS), 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    cosines = np.sum(vectors * reference, axis=1)
    floor = {"qint8": 0.99, "bf16": 0.999}.get(tag.split("-")[1], 0.9999)
    assert cosines.min() >= floor, cosines
    query = other.embed_query(TEXTS[1])
    assert query.shape == (384,)
    # Dynamic int8 quantization (ONNX Runtime) scales activations per batch, so a text alone and in
    # a batch differ slightly (fp32 and static int8 agree to 1e-4): both stay close to torch.
    assert float(query @ reference[1]) >= floor


def test_a_built_model_is_reused_and_a_damaged_one_rebuilt(backend_embedders, model_cache):
    backend = parse("onnx-qint8")
    source = Path(resolve_model_path("all-MiniLM-L6-v2"))
    messages: list[str] = []
    built = ensure_built(source, backend, model_cache, messages.append)
    assert messages == [] and verify_build(built) is None  # built by the fixture: only verified
    graph = built / model_file(backend)
    data = bytearray(graph.read_bytes())
    data[len(data) // 2] ^= 0xFF
    graph.write_bytes(bytes(data))
    assert verify_build(built) == f"{model_file(backend)}: checksum mismatch"
    rebuilt = ensure_built(source, backend, model_cache, messages.append)
    assert rebuilt == built and verify_build(rebuilt) is None
    assert "failed verification" in messages[0] and "checksum mismatch" in messages[0]


def test_vectors_from_another_backend_are_refused_until_reembedded(engine, backend_embedders, tmp_path):
    path = tmp_path / "notes.md"
    path.write_text("# Plants\n\nPhotosynthesis converts light into chemical energy.\n")
    assert [r.status for r in engine.ingestor().ingest_paths([path])] == ["new"]
    assert engine.search("light energy", SearchParams(mode="vector")).hits
    engine._embedder = backend_embedders[0]["onnx-qint8"]
    with pytest.raises(EmbeddingModelMismatch, match="rag reembed") as raised:
        engine.search("light energy", SearchParams(mode="vector"))
    assert "'all-MiniLM-L6-v2@onnx-qint8'" in str(raised.value) and "all-MiniLM-L6-v2 (1 chunks)" in str(
        raised.value
    )
    report = engine.reembed()
    assert (report.model, report.stale_chunks, report.embedded) == ("all-MiniLM-L6-v2@onnx-qint8", 1, 1)
    [hit] = engine.search("light energy", SearchParams(mode="vector", k=1)).hits
    assert "Photosynthesis" in hit.text


def test_backend_settings_are_validated(monkeypatch):
    assert Settings().backend == EmbeddingBackend("torch", "fp32")  # until another passes the floors
    monkeypatch.setenv("RAG_EMBEDDING_BACKEND", "onnx")
    monkeypatch.delenv("RAG_EMBEDDING_QUANTIZATION", raising=False)
    assert Settings.from_env().backend == EmbeddingBackend("onnx", "qint8")
    monkeypatch.setenv("RAG_EMBEDDING_QUANTIZATION", "fp32")
    assert Settings.from_env().backend.tag == "onnx-fp32"
    monkeypatch.setenv("RAG_EMBEDDING_BACKEND", "Torch")
    monkeypatch.setenv("RAG_EMBEDDING_QUANTIZATION", "qint8")
    with pytest.raises(ConfigError, match="torch embedding backend runs fp32 only"):
        Settings.from_env()
    monkeypatch.delenv("RAG_EMBEDDING_QUANTIZATION")
    assert Settings.from_env().backend.stored_name("all-MiniLM-L6-v2") == "all-MiniLM-L6-v2"
    monkeypatch.setenv("RAG_EMBEDDING_BACKEND", "openvino")
    assert Settings.from_env().backend == EmbeddingBackend("openvino", "qint8")
    monkeypatch.setenv("RAG_EMBEDDING_QUANTIZATION", "fp32")
    assert Settings.from_env().backend.stored_name("m") == "m@openvino-fp32"
    monkeypatch.setenv("RAG_EMBEDDING_QUANTIZATION", "bf16")
    assert Settings.from_env().backend.tag == "openvino-bf16"
    monkeypatch.setenv("RAG_EMBEDDING_BACKEND", "onnx")
    with pytest.raises(ConfigError, match="bf16 runs on the openvino embedding backend only"):
        Settings.from_env()
    monkeypatch.setenv("RAG_EMBEDDING_BACKEND", "tensorrt")
    with pytest.raises(ConfigError, match="torch, onnx, openvino"):
        Settings.from_env()


def test_int8_weight_type_follows_the_cpu(tmp_path, monkeypatch):
    import platform

    from rag.embedding_backends import build_variant, int8_weight_type

    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 fma\n")
    assert int8_weight_type(cpuinfo) == "u8"  # AVX2 without VNNI: U8U8 avoids U8S8 saturation
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_vnni\n")
    assert int8_weight_type(cpuinfo) == "s8"
    assert int8_weight_type(tmp_path / "missing") == "u8"
    monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    assert int8_weight_type(tmp_path / "missing") == "s8"
    assert build_variant(parse("onnx-qint8")) == "onnx-qint8-s8"
    assert build_variant(parse("onnx-fp32")) == "onnx-fp32"
    assert build_variant(parse("openvino-qint8")).startswith("openvino-qint8-py3.")


def test_calibration_texts_are_offline_prose_not_evaluation_data():
    from rag.embedding_calibration import PARAGRAPHS, SNIPPETS, calibration_texts

    texts = calibration_texts()
    assert len(texts) == PARAGRAPHS + SNIPPETS and len(set(texts)) == len(texts)
    assert texts == calibration_texts()  # deterministic for one Python
    assert all(len(t.split()) <= 4 for t in texts[PARAGRAPHS:])
    assert sum(len(t) for t in texts[:PARAGRAPHS]) / PARAGRAPHS > 100
