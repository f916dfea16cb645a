"""Calibration of the abstention threshold on a labelled question set.

The engine abstains when the evidence score (best similarity of a kept passage) is below a threshold
``t``. :func:`fit_abstention_threshold` picks ``t`` to maximise balanced accuracy, the mean of the
recall on unanswerable questions (abstained) and on answerable ones (answered), so the class ratio of
the calibration set does not bias the threshold (Brodersen et al., ICPR 2010).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rag.errors import ConfigError


@dataclass(frozen=True)
class Calibration:
    """A fitted abstention threshold and its quality on the calibration set.

    Attributes:
        threshold: Abstain when ``evidence < threshold``.
        balanced_accuracy: ``(abstain_recall + answer_recall) / 2`` at this threshold, in [0, 1].
        abstain_recall: Share of unanswerable questions with ``evidence < threshold``.
        answer_recall: Share of answerable questions with ``evidence >= threshold``.
        n: Number of questions used.
    """

    threshold: float
    balanced_accuracy: float
    abstain_recall: float
    answer_recall: float
    n: int


def fit_abstention_threshold(evidence: Sequence[float], answerable: Sequence[bool]) -> Calibration:
    """Choose the abstention threshold that maximises balanced accuracy.

    Balanced accuracy only changes where the threshold crosses an observed evidence value. With the
    sorted unique values ``u_0 < ... < u_{m-1}``, "abstain on the ``k`` lowest values" is reached by any
    ``t`` in ``(u_{k-1}, u_k]``; the candidates are ``u_0`` (abstain on none), the midpoints
    ``(u_{k-1} + u_k) / 2``, and the float just above ``u_{m-1}`` (abstain on all). Scores are compared
    as exact integers (``TP * n_answerable + TN * n_unanswerable``), so ties are real ties.

    Ties: consecutive best candidates form an interval of equally good thresholds, from ``u_{a-1}``
    (or ``u_0`` when it starts at "abstain on none") to ``u_b``; the threshold is the middle of that
    interval, the point furthest from a change. When several separate intervals tie, the widest
    wins, then the lowest (fewer abstentions).

    Args:
        evidence: Evidence score per question (e.g. cosine similarity in [-1, 1]).
        answerable: Ground truth per question, same length and order.

    Returns:
        The threshold and its recalls and balanced accuracy on this set.

    Raises:
        ConfigError: The sequences differ in length, a score is NaN or infinite, or the set lacks
            answerable or unanswerable questions (balanced accuracy is then undefined).
    """
    scores = np.asarray(evidence, dtype=np.float64)
    labels = np.asarray(answerable, dtype=bool)
    if scores.ndim != 1 or scores.shape != labels.shape:
        raise ConfigError(
            f"evidence ({scores.size} values) and answerable ({labels.size} values) "
            "must be flat and equally long."
        )
    if not np.all(np.isfinite(scores)):
        raise ConfigError("Evidence scores must be finite numbers; drop or fix the NaN/infinite values.")
    n_answerable = int(labels.sum())
    n_unanswerable = int(labels.size - n_answerable)
    if n_answerable == 0 or n_unanswerable == 0:
        raise ConfigError(
            f"Calibration needs both answerable and unanswerable questions, got {n_answerable} answerable "
            f"and {n_unanswerable} unanswerable; use a QA set with unanswerable questions (e.g. ClapNQ)."
        )

    values, inverse = np.unique(scores, return_inverse=True)
    m = values.size
    answerable_at = np.bincount(inverse, weights=labels, minlength=m).astype(np.int64)
    unanswerable_at = np.bincount(inverse, weights=~labels, minlength=m).astype(np.int64)
    # Candidate k (0..m) abstains on the k lowest unique values.
    tp = np.concatenate(([0], np.cumsum(unanswerable_at)))  # unanswerable & abstained
    tn = n_answerable - np.concatenate(([0], np.cumsum(answerable_at)))  # answerable & answered
    objective = tp * n_answerable + tn * n_unanswerable
    best = int(objective.max())

    def candidate(k: int) -> float:
        if k == 0:
            return float(values[0])
        if k == m:
            return math.nextafter(float(values[-1]), math.inf)
        return float((values[k - 1] + values[k]) / 2)

    # Maximal runs of consecutive best candidates, as (first k, last k, lower bound, upper bound).
    runs: list[tuple[int, int, float, float]] = []
    k = 0
    while k <= m:
        if objective[k] != best:
            k += 1
            continue
        start = k
        while k + 1 <= m and objective[k + 1] == best:
            k += 1
        low = float(values[start - 1]) if start > 0 else float(values[0])
        high = float(values[k]) if k < m else candidate(m)
        runs.append((start, k, low, high))
        k += 1
    start, end, low, high = min(runs, key=lambda run: (-(run[3] - run[2]), run[2]))

    threshold = candidate(start) if start == end else (low + high) / 2
    chosen_k = int(np.searchsorted(values, threshold, side="left"))  # values strictly below threshold
    if not start <= chosen_k <= end:  # float rounding of the middle left the interval: stay inside it
        threshold = candidate((start + end) // 2)
        chosen_k = (start + end) // 2

    abstain_recall = float(tp[chosen_k]) / n_unanswerable
    answer_recall = float(tn[chosen_k]) / n_answerable
    return Calibration(
        threshold=threshold,
        balanced_accuracy=(abstain_recall + answer_recall) / 2,
        abstain_recall=abstain_recall,
        answer_recall=answer_recall,
        n=int(labels.size),
    )
