"""Reciprocal rank fusion (Cormack, Clarke & Buettcher, SIGIR 2009).

``score(d) = sum_i w_i / (k + rank_i(d))`` over the lists that contain ``d`` (ranks 1-based); a list
that does not contain ``d`` contributes nothing. ``k = 60`` is the paper's value and pgvector-python's
``examples/hybrid_search/rrf.py``; it damps the difference between the very top ranks so neither list
dominates.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TypeVar

from rag.errors import ConfigError

T = TypeVar("T", bound=Hashable)


def reciprocal_rank_fusion(
    ranked_lists: Sequence[Sequence[T]], weights: Sequence[float] | None = None, k: float = 60.0
) -> list[tuple[T, float]]:
    """Fuse ranked lists of ids into one list ordered by weighted RRF score.

    Args:
        ranked_lists: Each a list of ids, best first (an id should appear at most once per list;
            later repeats are ignored).
        weights: One non-negative weight per list (default all 1.0).
        k: The RRF constant, >= 0.

    Returns:
        ``(id, score)`` pairs, highest score first; ties keep first-seen order.

    Raises:
        ConfigError: weights do not match the lists, a weight is negative, or ``k < 0``.
    """
    if weights is None:
        weights = [1.0] * len(ranked_lists)
    if len(weights) != len(ranked_lists):
        raise ConfigError(f"{len(weights)} RRF weights given for {len(ranked_lists)} ranked lists")
    if any(w < 0 for w in weights):
        raise ConfigError("RRF weights must be >= 0")
    if k < 0:
        raise ConfigError(f"RRF k must be >= 0, got {k}")
    scores: dict[T, float] = {}
    for ranking, weight in zip(ranked_lists, weights, strict=True):
        seen: set[T] = set()
        for rank, item in enumerate(ranking, start=1):
            if item in seen:
                continue
            seen.add(item)
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda pair: pair[1], reverse=True)
