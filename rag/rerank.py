"""Cross-encoder reranking (sentence-transformers ``CrossEncoder``; Nogueira & Cho 2019).

No PyPI package ships cross-encoder weights, so the model is a sentence-transformers name resolved from
the local Hugging Face cache (or a network, where one exists) or a local directory. When it cannot be
loaded, reranking is skipped and the reason is returned, so the trace, CLI and UI can show it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.embedding import offline_and_quiet


@dataclass
class Reranker:
    """A loaded cross-encoder.

    Attributes:
        name: The configured model name or path.
        model: The ``sentence_transformers.CrossEncoder``.
        max_length: Tokens per (query, passage) pair; longer pairs are truncated by the tokenizer.
    """

    name: str
    model: object
    max_length: int

    def score(self, query: str, passages: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Relevance scores for ``(query, passage)`` pairs.

        Returns:
            ``(n,)`` float32 raw scores (logits for one-logit models; higher is more relevant).
        """
        if not passages:
            return np.zeros((0,), dtype=np.float32)
        scores = self.model.predict(  # type: ignore[attr-defined]
            [(query, passage) for passage in passages],
            batch_size=batch_size,
            show_progress_bar=False,
            convert_to_numpy=True,
            activation_fn=None,
        )
        return np.asarray(scores, dtype=np.float32).reshape(-1)


@dataclass(frozen=True)
class RerankerStatus:
    """Whether reranking is available, and if not, why and how to fix it."""

    name: str
    available: bool
    reason: str | None = None


def load_reranker(name: str, max_length: int = 512) -> tuple[Reranker | None, RerankerStatus]:
    """Load a CrossEncoder without touching the network unless ``HF_HUB_OFFLINE=0`` is set.

    Args:
        name: A sentence-transformers model name (from the local Hugging Face cache) or a directory.
            Empty string disables reranking.
        max_length: Truncation length in tokens for each (query, passage) pair.

    Returns:
        ``(reranker or None, status)``; never raises for a missing model.
    """
    if not name:
        return None, RerankerStatus(
            name="", available=False, reason="reranking disabled (RAG_RERANKER_MODEL is empty)"
        )
    offline_and_quiet()
    try:
        from sentence_transformers import CrossEncoder

        local = Path(name).expanduser()
        source = str(local) if local.exists() else name
        model = CrossEncoder(source, device="cpu", max_length=max_length, local_files_only=not local.exists())
    except Exception as exc:  # any failure means: not available here
        # One line: it is shown after "reranking skipped" in the CLI and on the Settings page.
        detail = str(exc).splitlines()[0][:120] if str(exc) else "-"
        reason = f"failed to load ({type(exc).__name__}: {detail}); check RAG_RERANKER_MODEL"
        return None, RerankerStatus(name=name, available=False, reason=reason)
    return Reranker(name=name, model=model, max_length=max_length), RerankerStatus(name=name, available=True)
