"""How a local sentence-transformers model runs: torch, ONNX Runtime or OpenVINO, fp32 or int8.

The same model gives vectors with different numerics on each runtime, so the stored model name
carries the backend (``all-MiniLM-L6-v2@onnx-qint8``) and :func:`rag.db.embeddings.check_embedding_model`
refuses to compare vectors across backends. torch fp32 keeps the bare name (vectors stored before
backends existed stay valid).

An ONNX or OpenVINO model is built from the local weights on first use (:func:`export_model`:
``torch.onnx.export`` of the transformer, ``onnxruntime.quantization.quantize_dynamic`` for qint8,
``openvino.convert_model`` for OpenVINO), written into a temporary directory next to the cache,
checksummed (sha256 of every file, in ``rag-build.json``) and moved into place in one rename. Every
later load verifies the checksums and rebuilds a damaged copy. Nothing is downloaded: the source is
the packaged model directory. sentence-transformers' own ``backend="onnx"`` path and its
``export_dynamic_quantized_onnx_model`` helper are not used: they need Optimum, whose ONNX package
(optimum-onnx 0.1) requires transformers < 4.58, while sentence-transformers 6 requires
transformers >= 5.

Threads: ONNX Runtime and OpenVINO use one thread per core (``os.cpu_count()``) inside a forward
pass, so a batch of ingest uses every core; ONNX Runtime's worker threads do not spin-wait between
passes (``session.intra_op.allow_spinning = 0``, ``rag.embedding_runtime.onnx_forward``), so an
idle embedder leaves the cores to PostgreSQL and the local LLM.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import os
import platform
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.errors import ConfigError, ModelNotAvailable

RUNTIMES = ("torch", "onnx", "openvino")
"""Values of ``RAG_EMBEDDING_BACKEND``."""

QUANTIZATIONS = ("fp32", "bf16", "qint8")
"""Values of ``RAG_EMBEDDING_QUANTIZATION``: full precision, bfloat16 arithmetic (OpenVINO on CPUs
with AVX512_BF16 or AMX), or int8 weights and activations."""

DEFAULT_QUANTIZATION = {"torch": "fp32", "onnx": "qint8", "openvino": "qint8"}
"""Precision used when ``RAG_EMBEDDING_QUANTIZATION`` is empty: int8 where it is what makes the runtime
worth choosing and passes the accuracy floor (``docs/performance.md``, "Embedding backends")."""

MANIFEST_NAME = "rag-build.json"
"""File in a built model directory listing the sha256 of every other file."""

ProgressMessage = Callable[[str], None]
"""Receives one line of text when a model is built or rebuilt (the default prints to stderr)."""


def print_progress(message: str) -> None:
    """Default :data:`ProgressMessage`: the line on stderr (the CLI and ``streamlit run`` show it)."""
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class EmbeddingBackend:
    """A runtime and a precision for the local embedding model.

    Attributes:
        runtime: ``torch``, ``onnx`` (ONNX Runtime) or ``openvino``.
        quantization: ``fp32``; ``bf16`` (OpenVINO only: the fp32 model run with bfloat16
            arithmetic, ``INFERENCE_PRECISION_HINT=bf16``); or ``qint8``: dynamic int8 on ONNX
            Runtime (activation scales per batch), static int8 on OpenVINO (scales calibrated
            once, :func:`quantize_openvino`).
    """

    runtime: str = "torch"
    quantization: str = "fp32"

    @classmethod
    def parse(cls, runtime: str, quantization: str = "") -> EmbeddingBackend:
        """Validate ``RAG_EMBEDDING_BACKEND`` / ``RAG_EMBEDDING_QUANTIZATION`` values.

        Args:
            runtime: One of :data:`RUNTIMES` (case and surrounding spaces ignored).
            quantization: One of :data:`QUANTIZATIONS`; empty means the runtime's
                :data:`DEFAULT_QUANTIZATION`.

        Raises:
            ConfigError: an unknown runtime or quantization, ``qint8`` or ``bf16`` on torch, or
                ``bf16`` on ONNX Runtime.
        """
        runtime = runtime.strip().lower()
        if runtime not in RUNTIMES:
            raise ConfigError(
                f"RAG_EMBEDDING_BACKEND={runtime!r} is not one of {', '.join(RUNTIMES)}: e.g. RAG_EMBEDDING_BACKEND=onnx"
            )
        quantization = quantization.strip().lower() or DEFAULT_QUANTIZATION[runtime]
        if quantization not in QUANTIZATIONS:
            raise ConfigError(
                f"RAG_EMBEDDING_QUANTIZATION={quantization!r} is not one of {', '.join(QUANTIZATIONS)}"
            )
        if runtime == "torch" and quantization != "fp32":
            raise ConfigError(
                "the torch embedding backend runs fp32 only: set RAG_EMBEDDING_BACKEND=openvino or onnx "
                "for qint8, or RAG_EMBEDDING_QUANTIZATION=fp32"
            )
        if runtime == "onnx" and quantization == "bf16":
            raise ConfigError(
                "bf16 runs on the openvino embedding backend only: set RAG_EMBEDDING_BACKEND=openvino, "
                "or RAG_EMBEDDING_QUANTIZATION=qint8 or fp32"
            )
        return cls(runtime, quantization)

    @property
    def tag(self) -> str:
        """Short name, e.g. ``torch``, ``onnx-fp32``, ``onnx-qint8``."""
        return "torch" if self.runtime == "torch" else f"{self.runtime}-{self.quantization}"

    def stored_name(self, model_name: str) -> str:
        """The name stored on chunks: ``model_name`` for torch, else ``model_name@<tag>``."""
        return model_name if self.runtime == "torch" else f"{model_name}@{self.tag}"


TORCH = EmbeddingBackend()


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def directory_checksums(directory: Path) -> dict[str, str]:
    """Relative POSIX path -> sha256 of every file under ``directory`` except the manifest."""
    return {
        path.relative_to(directory).as_posix(): file_sha256(path)
        for path in sorted(directory.rglob("*"))
        if path.is_file() and path.name != MANIFEST_NAME
    }


def source_digest(source: Path) -> str:
    """One sha256 over a model directory's files (names and contents).

    A new release of the weights thus gets a new cache entry instead of a stale export.
    """
    digest = hashlib.sha256()
    for name, file_digest in directory_checksums(source).items():
        digest.update(f"{name}\0{file_digest}\n".encode())
    return digest.hexdigest()


def verify_build(directory: Path) -> str | None:
    """Check a built model directory against its manifest.

    Returns:
        ``None`` when every listed file is present with its sha256 and nothing else is there, else
        what is wrong (e.g. ``"model_qint8.onnx: checksum mismatch"``).
    """
    try:
        manifest = json.loads((directory / MANIFEST_NAME).read_text(encoding="utf-8"))
        expected = dict(manifest["files"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"no readable {MANIFEST_NAME} ({type(exc).__name__})"
    actual = directory_checksums(directory)
    for name, digest in expected.items():
        if name not in actual:
            return f"{name}: missing"
        if actual[name] != digest:
            return f"{name}: checksum mismatch"
    extra = sorted(set(actual) - set(expected))
    return f"{extra[0]}: not in the manifest" if extra else None


BUILD_INFO_NAME = "rag-model.json"
"""File in a built model directory: what the runtime needs besides the graph (see :func:`build_info`)."""

EXPORT_VERSION = 2
"""Bumped whenever :func:`export_model` changes what it writes, so older builds are not reused."""

ONNX_OPSET = 17
"""ONNX opset of the export: 17 is supported by ONNX Runtime >= 1.14 and OpenVINO >= 2023.0."""


VNNI_FLAGS = frozenset({"avx512_vnni", "avx_vnni"})
"""``/proc/cpuinfo`` flags of x86-64 int8 dot-product instructions (``vpdpbusd``, uint8 x int8)."""


def int8_weight_type(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """Weight type of a qint8 export on this CPU: ``"s8"`` (int8) or ``"u8"`` (uint8).

    ONNX Runtime's dynamic quantization makes activations uint8; with int8 weights its x86 kernels
    multiply uint8 x int8 (U8S8), which VNNI runs in one instruction and which may saturate on AVX2
    CPUs without VNNI, where U8U8 is the safe choice (ONNX Runtime "Quantize ONNX models", "When and
    why do I need to try U8U8?"). ARM64 kernels have no saturation issue (same page), so they get s8.

    Args:
        cpuinfo: The Linux CPU description; missing (macOS, Windows) means no VNNI is known.
    """
    if platform.machine().lower() in ("arm64", "aarch64"):
        return "s8"
    try:
        flags = {
            flag
            for line in cpuinfo.read_text().splitlines()
            if line.startswith("flags")
            for flag in line.split()
        }
    except OSError:
        return "u8"
    return "s8" if flags & VNNI_FLAGS else "u8"


def build_variant(backend: EmbeddingBackend) -> str:
    """:attr:`EmbeddingBackend.tag` plus what else decides the build's numbers.

    ONNX qint8 adds this CPU's :func:`int8_weight_type` (``onnx-qint8-s8``), so a data directory
    moved to a CPU with other int8 kernels builds the model again instead of reusing weights chosen
    for the old one; OpenVINO qint8 adds the Python version (``openvino-qint8-py3.11``), whose
    docstrings are the calibration set (``rag.embedding_calibration``). The stored model name stays
    ``@onnx-qint8`` / ``@openvino-qint8``: builds of one recipe agree with fp32 to the same
    tolerance (``docs/performance.md``).
    """
    if backend.tag == "onnx-qint8":
        return f"{backend.tag}-{int8_weight_type()}"
    if backend.tag == "openvino-qint8":
        return f"{backend.tag}-py{sys.version_info.major}.{sys.version_info.minor}"
    return backend.tag


def model_file(backend: EmbeddingBackend) -> str:
    """Name of the graph file inside a built directory (``model.onnx``, ``model_qint8.onnx``, ``model.xml``)."""
    if backend.runtime == "onnx":
        return "model.onnx" if backend.quantization == "fp32" else "model_qint8.onnx"
    return "model.xml"


def ensure_built(
    source: Path, backend: EmbeddingBackend, cache_root: Path, progress: ProgressMessage = print_progress
) -> Path:
    """The directory of ``source`` exported for ``backend``, building it once under ``cache_root``.

    The directory name holds the backend, :data:`EXPORT_VERSION` and the first 16 hex digits of
    :func:`source_digest`, so changed weights or a changed recipe never reuse an old export. Two
    processes building at once each write their own temporary directory; the first rename wins and
    the other copy is discarded.

    Args:
        source: A local sentence-transformers model directory (e.g. the packaged MiniLM).
        backend: ``onnx`` or ``openvino``, fp32 or qint8.
        cache_root: Where built models live (``<data dir>/models``); created when missing.
        progress: Told when a build starts and ends (10-60 s on 2 cores) or a cached copy fails
            its checksum.

    Returns:
        The verified model directory.

    Raises:
        ModelNotAvailable: the runtime's packages are missing (the message names them), or the
            model is not a mean-pooled transformer (other sentence-transformers layouts run on torch).
    """
    if backend.runtime == "torch":
        raise ValueError("torch runs the source directory itself; nothing is built")
    variant = build_variant(backend)
    target = cache_root / f"{source.name}-{variant}-v{EXPORT_VERSION}-{source_digest(source)[:16]}"
    if target.is_dir():
        problem = verify_build(target)
        if problem is None:
            return target
        progress(
            f"The cached {backend.tag} embedding model in {target} failed verification ({problem}); rebuilding it."
        )
        shutil.rmtree(target, ignore_errors=True)
    cache_root.mkdir(parents=True, exist_ok=True)
    progress(f"Building the {backend.tag} embedding model from {source} (once; cached in {target})...")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=cache_root, prefix=".build-") as scratch:
        staged = Path(scratch) / "model"
        staged.mkdir()
        export_model(source, backend, staged)
        manifest = {"source": str(source), "backend": variant, "files": directory_checksums(staged)}
        (staged / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1, sort_keys=True), encoding="utf-8")
        with contextlib.suppress(OSError):  # another process renamed its copy first: keep that one
            os.replace(staged, target)
    problem = verify_build(target)
    if problem is not None:
        raise ModelNotAvailable(
            f"the {backend.tag} embedding model built in {target} failed verification: {problem}"
        )
    progress(f"Built the {backend.tag} embedding model in {time.perf_counter() - started:.0f} s.")
    return target


def export_model(source: Path, backend: EmbeddingBackend, destination: Path) -> None:
    """Write ``source``'s transformer as one graph file, its tokenizer and :data:`BUILD_INFO_NAME`.

    fp32: ``torch.onnx.export`` of the transformer (inputs ``input_ids``, ``attention_mask`` and,
    for BERT, ``token_type_ids``; output ``last_hidden_state`` (batch, tokens, hidden)), dynamic
    batch and sequence axes. ONNX qint8: ``onnxruntime.quantization.quantize_dynamic`` (weights per
    output channel, int8 or uint8 by :func:`int8_weight_type`, activations quantized per batch at run
    time; ONNX Runtime "Quantize ONNX models"; :func:`fp32_matmuls` stay fp32). OpenVINO:
    ``openvino.convert_model`` of the fp32 ONNX graph, saved as IR; qint8 quantized statically
    first by :func:`quantize_openvino`.

    Raises:
        ModelNotAvailable: a runtime package is missing, or the model is not Transformer + mean
            Pooling (+ Normalize), the layout the runtime embedder reproduces.
    """
    from rag.embedding import offline_and_quiet  # here, not at import: rag.embedding imports this module

    offline_and_quiet()
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(source), device="cpu")
    info = build_info(model)
    transformer = model[0]
    network = getattr(transformer, "auto_model", None) or transformer.model
    inputs = info["inputs"]

    class LastHiddenState(torch.nn.Module):
        """The transformer called with keyword inputs, returning only ``last_hidden_state``."""

        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *tensors: Any) -> Any:
            return self.inner(**dict(zip(inputs, tensors, strict=True)), return_dict=True).last_hidden_state

    sample = model.tokenizer(
        ["an example input", "a second, longer example input"], padding=True, return_tensors="pt"
    )
    onnx_path = destination / "model.onnx"
    with torch.no_grad():
        torch.onnx.export(
            LastHiddenState(network).eval(),
            tuple(sample[name] for name in inputs),
            str(onnx_path),
            input_names=inputs,
            output_names=["last_hidden_state"],
            dynamic_axes={name: {0: "batch", 1: "tokens"} for name in [*inputs, "last_hidden_state"]},
            opset_version=ONNX_OPSET,
            do_constant_folding=True,
            dynamo=False,  # the TorchScript exporter: no onnxscript dependency, stable for BERT graphs
        )
    model.tokenizer.backend_tokenizer.save(str(destination / "tokenizer.json"))
    if backend.runtime == "onnx" and backend.quantization == "qint8":
        require_runtime("onnxruntime", backend)
        from onnxruntime.quantization import QuantType, quantize_dynamic

        info["int8_weights"] = int8_weight_type()
        quantize_dynamic(
            onnx_path,
            destination / model_file(backend),
            weight_type=QuantType.QInt8 if info["int8_weights"] == "s8" else QuantType.QUInt8,
            per_channel=True,
            nodes_to_exclude=fp32_matmuls(onnx_path),
        )
        onnx_path.unlink()
    elif backend.runtime == "openvino":
        openvino = require_runtime("openvino", backend)
        graph = openvino.convert_model(str(onnx_path))
        if backend.quantization == "qint8":
            graph = quantize_openvino(graph, model.tokenizer, info, backend)
            info["calibration"] = f"Python {sys.version.split()[0]} standard-library docstrings"
        openvino.save_model(graph, str(destination / model_file(backend)), compress_to_fp16=False)
        onnx_path.unlink()
    (destination / BUILD_INFO_NAME).write_text(json.dumps(info, indent=1), encoding="utf-8")


def fp32_matmuls(onnx_path: Path) -> list[str]:
    """MatMul nodes of an exported BERT graph that stay fp32 in the qint8 model.

    Dynamic int8 quantization of every MatMul of MiniLM moved short inputs furthest from fp32 (worst
    cosine 0.970 for "x" among 4 test texts, 36 SciFact abstracts and 4 short queries). Keeping the
    feed-forward down-projections (``layer.N/output/dense``: GELU outputs, the widest activation
    range) and the whole last layer in fp32 raised the worst cosine to 0.9905 (mean 0.9968); the
    other 35 of 48 MatMuls run on int8 kernels (measured with uint8 weights; int8 weights on a VNNI
    CPU, :func:`int8_weight_type`, gave worst 0.9909). Graphs with other node names keep every
    MatMul quantized.
    """
    import onnx

    names = [
        n.name
        for n in onnx.load(str(onnx_path), load_external_data=False).graph.node
        if n.op_type == "MatMul"
    ]
    layers = [int(m.group(1)) for n in names if (m := re.search(r"/layer\.(\d+)/", n))]
    last = f"/layer.{max(layers)}/" if layers else None
    return [n for n in names if ("/output/dense/" in n and "/attention/" not in n) or (last and last in n)]


OPENVINO_FP32_PATTERNS = (r".*layer\.\d+/output/dense/MatMul.*",)
"""OpenVINO node names kept fp32 in the static int8 model: BERT's feed-forward down-projections.

Their inputs are GELU outputs, the widest activation range in the layer, which one per-tensor
scale fits worst. Measured on MiniLM (300 SciFact abstracts, 46 short texts and queries; static
int8 with every MatMul quantized): worst per-text cosine to fp32 0.979 / 0.985; these 6 of 36
weight MatMuls kept fp32: 0.9895 / 0.9938, at about 2.5-3.5x torch fp32 chunks/s (a noisy machine;
``benchmarks/embedding_backends.py`` gives the committed figure). Also tried and worse: NNCF's
SmoothQuant off or at alpha 0.5, the first layer kept fp32, full bias correction, calibration
with longer texts."""


def quantize_openvino(graph: Any, tokenizer: Any, info: dict[str, Any], backend: EmbeddingBackend) -> Any:
    """Static int8 quantization of an OpenVINO model with NNCF (``nncf.quantize``).

    ``model_type=TRANSFORMER`` (NNCF's transformer scheme: SmoothQuant on MatMuls, attention
    softmax and LayerNorm kept in float), calibrated on :func:`rag.embedding_calibration.calibration_texts`
    one text at a time (no padding, truncated at ``max_seq_length``), with
    :data:`OPENVINO_FP32_PATTERNS` kept fp32. Takes about 30 s on 2 cores.

    Args:
        graph: ``openvino.Model`` of the fp32 transformer. tokenizer: The model's Hugging Face
            tokenizer. info: :func:`build_info` of the model.

    Returns:
        The quantized ``openvino.Model``.

    Raises:
        ModelNotAvailable: nncf is not installed.
    """
    import logging

    nncf = require_runtime("nncf", backend)
    from rag.embedding_calibration import calibration_texts

    nncf.set_log_level(logging.ERROR)
    samples = []
    for text in calibration_texts():
        encoded = tokenizer(text, truncation=True, max_length=info["max_seq_length"], return_tensors="np")
        samples.append({name: encoded[name].astype("int64") for name in info["inputs"]})
    with contextlib.redirect_stdout(sys.stderr):  # NNCF's progress bars: never into a CLI's --json output
        return nncf.quantize(
            graph,
            nncf.Dataset(samples),
            model_type=nncf.ModelType.TRANSFORMER,
            subset_size=len(samples),
            ignored_scope=nncf.IgnoredScope(patterns=list(OPENVINO_FP32_PATTERNS), validate=False),
        )


def build_info(model: Any) -> dict[str, Any]:
    """What the runtime embedder needs: inputs, longest input, dimension, padding token.

    Raises:
        ModelNotAvailable: the modules are not Transformer, mean Pooling and optionally Normalize.
    """
    kinds = [type(module).__name__ for module in model]
    pooling = model[1] if len(kinds) > 1 else None
    mode = getattr(pooling, "pooling_mode", None)
    if pooling is not None and not isinstance(mode, str) and hasattr(pooling, "get_pooling_mode_str"):
        mode = pooling.get_pooling_mode_str()  # sentence-transformers < 6 kept one flag per mode
    if kinds[:2] != ["Transformer", "Pooling"] or kinds[2:] not in ([], ["Normalize"]) or mode != "mean":
        raise ModelNotAvailable(
            f"the ONNX / OpenVINO embedding backends run Transformer + mean Pooling models; this one is "
            f"{' + '.join(kinds)} (pooling {mode!r}): set RAG_EMBEDDING_BACKEND=torch"
        )
    tokenizer = model.tokenizer
    inputs = [
        name
        for name in ("input_ids", "attention_mask", "token_type_ids")
        if name in tokenizer.model_input_names
    ]
    return {
        "inputs": inputs,
        "max_seq_length": int(model.max_seq_length),
        "dimension": int(
            model.get_embedding_dimension()
            if hasattr(model, "get_embedding_dimension")  # sentence-transformers >= 5
            else model.get_sentence_embedding_dimension()
        ),
        "pad_id": int(tokenizer.pad_token_id or 0),
        "pad_token": str(tokenizer.pad_token or "[PAD]"),
    }


def require_runtime(module: str, backend: EmbeddingBackend) -> Any:
    """Import a runtime package (``onnxruntime``, ``openvino``) and return the module.

    Raises:
        ModelNotAvailable: it is not installed; the message names the package and the torch fallback.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ModelNotAvailable(
            f"the {backend.tag} embedding backend needs the {module} package: pip install {module}, "
            "or set RAG_EMBEDDING_BACKEND=torch"
        ) from exc
