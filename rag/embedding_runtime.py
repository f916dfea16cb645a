"""A built embedding model (``rag.embedding_backends``) run on ONNX Runtime or OpenVINO, without torch.

The forward pass is the runtime's; around it this module does exactly what sentence-transformers
does for a Transformer + mean Pooling + Normalize model: batches sorted by length (longest first, as
``SentenceTransformer.encode``), the model's own fast tokenizer truncating at ``max_seq_length``,
the mean of the token vectors under the attention mask, L2 normalisation. Tokenizing with the Rust
``tokenizers`` library directly keeps torch and transformers out of the process.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.embedding import TOKENIZE_CACHE_SIZE, l2_normalise, token_functions
from rag.embedding_backends import BUILD_INFO_NAME, EmbeddingBackend, model_file, require_runtime
from rag.errors import ModelNotAvailable

Forward = Callable[[dict[str, np.ndarray]], np.ndarray]
"""Named int64 inputs ``(batch, tokens)`` -> ``last_hidden_state`` float32 ``(batch, tokens, hidden)``."""


def onnx_forward(path: Path, threads: int, backend: EmbeddingBackend) -> Forward:
    """An ONNX Runtime session on ``threads`` intra-op threads that never spin-wait.

    Raises:
        ModelNotAvailable: onnxruntime is not installed.

    ``session.intra_op.allow_spinning = 0``: ONNX Runtime's workers otherwise busy-wait after each
    pass (ONNX Runtime "Thread management"), burning the cores PostgreSQL and the LLM need between
    batches and between queries.
    """
    onnxruntime = require_runtime("onnxruntime", backend)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def forward(inputs: dict[str, np.ndarray]) -> np.ndarray:
        return np.asarray(session.run(["last_hidden_state"], inputs)[0])

    return forward


def openvino_forward(path: Path, threads: int, backend: EmbeddingBackend) -> Forward:
    """An OpenVINO CPU model compiled for latency on ``threads`` threads (one stream).

    The float arithmetic is set explicitly (``INFERENCE_PRECISION_HINT``): OpenVINO otherwise runs
    an fp32 model in bfloat16 on CPUs that have AVX512_BF16 or AMX (OpenVINO "CPU device",
    "Inference precision"), so ``openvino-fp32`` would silently give other numbers on other CPUs.
    ``bf16`` asks for bfloat16; ``qint8`` runs its int8 layers in int8 and the rest in f32.

    Raises:
        ModelNotAvailable: openvino is not installed, or ``bf16`` on a CPU without bfloat16.
    """
    openvino = require_runtime("openvino", backend)
    core = openvino.Core()
    precision = "bf16" if backend.quantization == "bf16" else "f32"
    if precision == "bf16" and "BF16" not in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
        raise ModelNotAvailable(
            "this CPU has no bfloat16 instructions (AVX512_BF16 or AMX) for the openvino-bf16 embedding "
            "backend: set RAG_EMBEDDING_QUANTIZATION=qint8 or fp32"
        )
    compiled = core.compile_model(
        str(path),
        "CPU",
        {
            "INFERENCE_NUM_THREADS": threads,
            "PERFORMANCE_HINT": "LATENCY",
            "NUM_STREAMS": 1,
            "INFERENCE_PRECISION_HINT": precision,
        },
    )
    request = compiled.create_infer_request()

    def forward(inputs: dict[str, np.ndarray]) -> np.ndarray:
        return np.array(request.infer(inputs)[0])  # np.array copies: the request reuses its buffer

    return forward


class RuntimeEmbedder:
    """An :class:`rag.embedding.Embedder` over a built model directory.

    With qint8, ONNX Runtime quantizes activations per batch (dynamic quantization), so a text's
    vector changes slightly with its batch mates; fp32 runtimes give the same vector alone or batched.

    Attributes:
        name: Stored model name including the backend, e.g. ``all-MiniLM-L6-v2@onnx-qint8``.
        dimension: Vector length (384 for MiniLM). max_tokens: Longest input, special tokens
            included (256 for MiniLM). backend: The runtime and precision. directory: The build.
    """

    def __init__(
        self, directory: Path, backend: EmbeddingBackend, name: str, threads: int | None = None
    ) -> None:
        """Load a directory made by :func:`rag.embedding_backends.ensure_built`.

        Args:
            directory: The verified build. backend: Its runtime and precision. name: Stored name.
            threads: Threads per forward pass; default ``os.cpu_count()`` (ingest uses every core).
        """
        from tokenizers import Tokenizer

        info: dict[str, Any] = json.loads((directory / BUILD_INFO_NAME).read_text(encoding="utf-8"))
        self.name = name
        self.directory = directory
        self.backend = backend
        self.dimension = int(info["dimension"])
        self.max_tokens = int(info["max_seq_length"])
        self._inputs = list(info["inputs"])
        tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self._tokens, self._count = token_functions(tokenizer)
        # Memoised like SentenceTransformerEmbedder.tokenize: the splitter measures pieces repeatedly.
        self._cached_tokens = functools.lru_cache(maxsize=TOKENIZE_CACHE_SIZE)(self._tokens)
        tokenizer.enable_truncation(max_length=self.max_tokens)
        tokenizer.enable_padding(pad_id=int(info["pad_id"]), pad_token=str(info["pad_token"]))
        self._tokenizer = tokenizer
        threads = threads or os.cpu_count() or 1
        graph = directory / model_file(backend)
        self._forward = (
            onnx_forward(graph, threads, backend)
            if backend.runtime == "onnx"
            else openvino_forward(graph, threads, backend)
        )

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` including ``[CLS]``/``[SEP]``, before truncation."""
        return self._count(text)

    def tokenize(self, text: str) -> list[str]:
        """Word pieces of ``text`` without special tokens (memoised, LRU of 8,192 texts)."""
        return list(self._cached_tokens(text))

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Embed passages.

        Args:
            texts: Strings; longer than ``max_tokens`` is truncated like sentence-transformers does.
            batch_size: Texts per forward pass.

        Returns:
            ``(len(texts), dimension)`` float32 with L2-normalised rows; ``(0, dimension)`` for none.
        """
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            encodings = self._tokenizer.encode_batch([texts[i] for i in batch])
            arrays = {
                "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
                "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
            }
            hidden = self._forward({name: arrays[name] for name in self._inputs})
            mask = arrays["attention_mask"][:, :, None].astype(np.float32)
            vectors[batch] = (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
        return l2_normalise(vectors)

    def embed_query(self, text: str) -> np.ndarray:
        """Embed one query like a passage: ``(dimension,)`` float32, L2-normalised."""
        return self.embed([text])[0]
