"""``rag eval answers``: ask every question of a QA set, score citations, abstention and overlap."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rag.answer import evidence_of
from rag.chat import ask
from rag.evaluation.answers import AnswerRecord
from rag.evaluation.calibration import Calibration, fit_abstention_threshold
from rag.evaluation.datasets import QAItem, load_qa


@dataclass(frozen=True)
class AnswerRun:
    """The records of one answer run and the threshold that applied.

    Attributes:
        records: One per question.
        threshold: The cosine threshold that applied (the collection's calibrated one or
            ``Settings.abstain_threshold``), ``None`` when the evidence model decided.
        calibration: The fit, when ``--calibrate`` ran.
    """

    records: list[AnswerRecord]
    threshold: float | None
    calibration: Calibration | None


def question_evidence(engine, items: Sequence[QAItem], collection: str) -> list[float]:
    """Best-passage cosine similarity per question (retrieval only, no LLM): the abstention signal."""
    params = engine.default_params()
    traces = engine.iter_search([item.question for item in items], params, collection)
    return [evidence_of(trace.hits) or -1.0 for trace in traces]


def calibrate(engine, items: Sequence[QAItem], collection: str) -> Calibration:
    """Fit the abstention threshold maximising balanced accuracy on ``items`` and store it.

    The threshold goes into the collection's settings (``abstain_threshold``), which ``ask`` uses.
    """
    evidence = question_evidence(engine, items, collection)
    calibration = fit_abstention_threshold(evidence, [item.answerable for item in items])
    engine.update_collection_settings(
        {
            "abstain_threshold": calibration.threshold,
            "abstain_calibration": {
                "balanced_accuracy": calibration.balanced_accuracy,
                "n": calibration.n,
                "signal": "best cosine similarity of a kept passage",
            },
        },
        collection,
    )
    return calibration


def run_answers(
    engine,
    directory: Path,
    *,
    collection: str,
    limit: int | None = None,
    do_calibrate: bool = False,
    on_item: Callable[[], None] | None = None,
    max_tokens: int | None = None,
) -> AnswerRun:
    """Ask the questions (a seeded random sample of ``limit``) with the configured LLM; collect records.

    Raises:
        NotFound / ConfigError: bad dataset layout. LLMError: the LLM failed.
    """
    items = load_qa(directory)
    calibration = calibrate(engine, items, collection) if do_calibrate else None
    if limit is not None and limit < len(items):
        # QA files are often grouped (all answerable questions first): a seeded shuffle makes a
        # subset representative, and the same --limit always picks the same questions.
        items = random.Random(0).sample(items, limit)
    records = []
    threshold = engine.collection(collection).settings.get(
        "abstain_threshold", engine.settings.abstain_threshold
    )
    threshold = None if threshold is None else float(threshold)
    for item in items:
        stream = ask(engine, item.question, collection=collection, max_tokens=max_tokens)
        for _ in stream:
            pass
        answer = stream.answer
        assert answer is not None  # set once the stream is exhausted
        records.append(
            AnswerRecord(
                question_id=item.id,
                answerable=item.answerable,
                abstained=answer.abstained,
                answer_text=answer.text,
                references=item.answers,
                cited_external_ids=tuple(c.external_id or "" for c in answer.citations),
                gold_external_id=item.gold_passage_id,
                dangling_markers=answer.dangling_markers,
                valid_citations=len(answer.citations),
                evidence=answer.evidence if answer.evidence is not None else -1.0,
                latency_ms=answer.timings_ms.get("total", 0.0),
                prompt_tokens=answer.prompt_tokens,
                completion_tokens=answer.completion_tokens,
            )
        )
        if on_item:
            on_item()
    return AnswerRun(records, threshold, calibration)
