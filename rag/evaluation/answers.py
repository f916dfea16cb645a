"""Scoring of generated answers: citations, abstention, answer overlap, latency and tokens.

The inputs are plain values (:class:`AnswerRecord`), so canned answers can be scored without a
database or a model. Undefined ratios (an empty denominator) are ``None``, never 0.
"""

from __future__ import annotations

import collections
import re
import string
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rag.evaluation.metrics import latency_summary

# Citation markers such as "[2]" or "[1, 3]"; removed before overlap scoring so that marker numbers
# do not count as answer tokens.
_MARKER_RE = re.compile(r"\[\s*\d+(?:\s*[,;]\s*\d+)*\s*\]")
_ARTICLES_RE = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = frozenset(string.punctuation)


@dataclass(frozen=True)
class AnswerRecord:
    """What one question produced, reduced to the values scoring needs.

    Attributes:
        question_id: Id of the question in the QA set.
        answerable: Ground truth: the corpus holds an answer.
        abstained: The system declined to answer.
        answer_text: Cleaned answer text, citation markers kept as ``[n]``.
        references: Reference answers (may be empty).
        cited_external_ids: External ids of the documents cited by valid markers.
        gold_external_id: External id of the passage that answers the question, if known.
        dangling_markers: Markers that named no source (removed by the engine).
        valid_citations: Markers that resolved to a source.
        evidence: Evidence score used for abstention (best similarity of a kept passage).
        latency_ms: End-to-end latency in milliseconds.
        prompt_tokens: Prompt tokens sent to the LLM (0 when no call was made).
        completion_tokens: Completion tokens generated (0 when no call was made).
    """

    question_id: str
    answerable: bool
    abstained: bool
    answer_text: str
    references: tuple[str, ...]
    cited_external_ids: tuple[str, ...]
    gold_external_id: str | None
    dangling_markers: int
    valid_citations: int
    evidence: float
    latency_ms: float
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class AnswerMetrics:
    """Aggregate answer quality. Ratios are in [0, 1]; ``None`` when their denominator is empty.

    "Answered" means not abstained. For abstention the positive class is *unanswerable* and the
    predicted positive is *abstained*: TP = unanswerable & abstained, FP = answerable & abstained,
    FN = unanswerable & answered, TN = answerable & answered.

    Attributes:
        n: Number of records.
        n_answered: Records that were answered.
        citation_validity: Share of answered records whose answer has at least one citation
            (``valid_citations > 0``) and no dangling marker (``dangling_markers == 0``).
        dangling_markers_total: Sum of ``dangling_markers`` over all records.
        uncited_answers: Answered records with no valid citation (``valid_citations == 0``).
        gold_citation_rate: Among answerable, answered records with a known gold id, the share whose
            cited ids include the gold id.
        abstention_precision: TP / (TP + FP).
        abstention_recall: TP / (TP + FN), i.e. recall on unanswerable questions.
        abstention_balanced_accuracy: (TP / (TP + FN) + TN / (TN + FP)) / 2; ``None`` unless both
            answerable and unanswerable questions are present.
        answer_f1: Mean over scored records of the SQuAD token F1, max over references.
        rouge_l: Mean over scored records of the ROUGE-L F-measure, max over references.
        n_scored: Records behind ``answer_f1``/``rouge_l``: answerable, answered, with at least one
            reference.
        latency_p50_ms: Median latency over all records, in ms.
        latency_p95_ms: 95th percentile latency over all records, in ms.
        mean_prompt_tokens: Mean prompt tokens over all records (abstentions count their 0s).
        mean_completion_tokens: Mean completion tokens over all records.
    """

    n: int
    n_answered: int
    citation_validity: float | None
    dangling_markers_total: int
    uncited_answers: int
    gold_citation_rate: float | None
    abstention_precision: float | None
    abstention_recall: float | None
    abstention_balanced_accuracy: float | None
    answer_f1: float | None
    rouge_l: float | None
    n_scored: int
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    mean_prompt_tokens: float | None
    mean_completion_tokens: float | None


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def strip_markers(text: str) -> str:
    """Remove citation markers such as ``[2]`` or ``[1, 3]`` from an answer."""
    return _MARKER_RE.sub(" ", text)


def normalize_answer(text: str) -> str:
    """Normalise text as the official SQuAD evaluation script does.

    Lowercase, drop ASCII punctuation, drop the articles a/an/the, collapse whitespace
    (``normalize_answer`` in SQuAD's ``evaluate-v2.0.py``, Rajpurkar et al., ACL 2018).
    """
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES_RE.sub(" ", text).split())


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD token F1 between a prediction and one reference, after :func:`normalize_answer`.

    As in SQuAD's ``evaluate-v2.0.py`` ``compute_f1``: when either side has no tokens the score is 1.0
    if both are empty and 0.0 otherwise; tokens are counted with multiplicity.

    Returns:
        F1 in [0, 1].
    """
    pred_tokens = normalize_answer(prediction).split()
    ref_tokens = normalize_answer(reference).split()
    if not pred_tokens or not ref_tokens:
        return float(pred_tokens == ref_tokens)
    common = sum((collections.Counter(pred_tokens) & collections.Counter(ref_tokens)).values())
    if common == 0:
        return 0.0
    precision = common / len(pred_tokens)
    recall = common / len(ref_tokens)
    return 2 * precision * recall / (precision + recall)


def _best_f1(prediction: str, references: Sequence[str]) -> float:
    return max(token_f1(prediction, ref) for ref in references)


def record_f1(record: AnswerRecord) -> float | None:
    """SQuAD token F1 of one answer: the best over its references, with citation markers removed.

    Returns:
        F1 in [0, 1]; ``None`` unless the question is answerable, was answered and has at least one
        reference (the records behind :attr:`AnswerMetrics.answer_f1`).
    """
    if record.abstained or not record.answerable or not record.references:
        return None
    return _best_f1(strip_markers(record.answer_text), record.references)


def question_scores(record: AnswerRecord) -> dict[str, Any]:
    """The per-question values of an answer run, as stored with the run and compared between runs.

    Returns:
        ``answerable``, ``abstained``, ``evidence``, ``valid_citations``, ``dangling_markers``,
        ``gold_cited`` (a valid citation names the gold passage), ``answer`` (its first 500
        characters) and ``answer_f1`` (:func:`record_f1`).
    """
    return {
        "answerable": record.answerable,
        "abstained": record.abstained,
        "evidence": record.evidence,
        "valid_citations": record.valid_citations,
        "dangling_markers": record.dangling_markers,
        "gold_cited": bool(record.gold_external_id) and record.gold_external_id in record.cited_external_ids,
        "answer": record.answer_text[:500],
        "answer_f1": record_f1(record),
    }


def score_answers(records: Sequence[AnswerRecord]) -> AnswerMetrics:
    """Aggregate answer metrics over a set of records (see :class:`AnswerMetrics` for definitions).

    Answer overlap is measured on the answer text with citation markers removed. ROUGE-L comes from
    Google's ``rouge_score`` (``RougeScorer(["rougeL"])``: lowercased alphanumeric tokens, no
    stemming; Lin, 2004), taking the best F-measure over the references with ``score_multi``.

    Args:
        records: One record per question; may be empty (every ratio is then ``None``).

    Returns:
        The aggregate metrics.
    """
    n = len(records)
    answered = [r for r in records if not r.abstained]

    cited_cleanly = sum(1 for r in answered if r.valid_citations > 0 and r.dangling_markers == 0)
    gold_pool = [r for r in answered if r.answerable and r.gold_external_id is not None]
    gold_hits = sum(1 for r in gold_pool if r.gold_external_id in r.cited_external_ids)

    tp = sum(1 for r in records if not r.answerable and r.abstained)
    fp = sum(1 for r in records if r.answerable and r.abstained)
    fn = sum(1 for r in records if not r.answerable and not r.abstained)
    tn = sum(1 for r in records if r.answerable and not r.abstained)
    abstain_recall = _ratio(tp, tp + fn)
    answer_recall = _ratio(tn, tn + fp)
    balanced = (
        None if abstain_recall is None or answer_recall is None else (abstain_recall + answer_recall) / 2
    )

    scored = [r for r in answered if r.answerable and r.references]
    answer_f1: float | None = None
    rouge_l: float | None = None
    if scored:
        from rouge_score import rouge_scorer  # imported on use: ~2 s (nltk, absl)

        scorer = rouge_scorer.RougeScorer(["rougeL"])
        f1_values = []
        rouge_values = []
        for record in scored:
            prediction = strip_markers(record.answer_text)
            f1_values.append(_best_f1(prediction, record.references))
            rouge_values.append(scorer.score_multi(list(record.references), prediction)["rougeL"].fmeasure)
        answer_f1 = sum(f1_values) / len(f1_values)
        rouge_l = sum(rouge_values) / len(rouge_values)

    latency = latency_summary([r.latency_ms for r in records])
    return AnswerMetrics(
        n=n,
        n_answered=len(answered),
        citation_validity=_ratio(cited_cleanly, len(answered)),
        dangling_markers_total=sum(r.dangling_markers for r in records),
        uncited_answers=sum(1 for r in answered if r.valid_citations == 0),
        gold_citation_rate=_ratio(gold_hits, len(gold_pool)),
        abstention_precision=_ratio(tp, tp + fp),
        abstention_recall=abstain_recall,
        abstention_balanced_accuracy=balanced,
        answer_f1=answer_f1,
        rouge_l=rouge_l,
        n_scored=len(scored),
        latency_p50_ms=latency.p50_ms,
        latency_p95_ms=latency.p95_ms,
        mean_prompt_tokens=_ratio(sum(r.prompt_tokens for r in records), n),
        mean_completion_tokens=_ratio(sum(r.completion_tokens for r in records), n),
    )
