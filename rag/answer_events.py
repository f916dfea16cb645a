"""Progress of one answer while it is prepared: typed events a UI can show as they happen.

:func:`rag.chat.ask` and :func:`rag.chat.answer_anyway` call an ``on_progress`` callback with an
:class:`AnswerProgress` when each stage starts, always from the thread that iterates the answer
(so a Streamlit page or a terminal can draw it directly, like ``rag.uploads.FileProgress``). The
order for a question is::

    rewrite?  search  rerank?  found  (declined | write  verify)  done

``rewrite`` only happens for a follow-up that refers back; ``rerank`` only when a cross-encoder is
loaded. An "answer anyway" starts at ``write``. Events carry numbers, not sentences: the wording is
the UI's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

AnswerStage = Literal["rewrite", "search", "rerank", "found", "declined", "write", "verify", "done"]
"""Stages of an answer, in the order they run (see the module docstring)."""


@dataclass(frozen=True)
class AnswerProgress:
    """One stage of an answer starting (``done``: the answer is finished).

    Attributes:
        stage: The stage (:data:`AnswerStage`).
        elapsed_ms: Milliseconds since the question was asked.
        candidates: Candidates retrieved so far (``rerank``: how many the cross-encoder scores;
            ``found`` and later: the whole candidate list), 0 before retrieval.
        passages: Passages kept for the answer (``found`` and later), 0 before.
        model: The LLM that writes the answer (``rewrite``, ``write``), else ``""``.
        query: The question as it is searched (``search`` and later), else ``""``.
    """

    stage: AnswerStage
    elapsed_ms: float
    candidates: int = 0
    passages: int = 0
    model: str = ""
    query: str = ""


AnswerProgressCallback = Callable[[AnswerProgress], None]
"""Receives every :class:`AnswerProgress` of one answer, on the thread iterating it."""


class ProgressReporter:
    """Builds :class:`AnswerProgress` events with the elapsed time and the counts known so far.

    Args:
        callback: Where events go (``None``: nowhere, and reporting costs nothing).
        started: ``time.perf_counter()`` when the question was asked (default: now).
    """

    def __init__(self, callback: AnswerProgressCallback | None, started: float | None = None) -> None:
        self._callback = callback
        self.started = time.perf_counter() if started is None else started
        self.candidates = 0
        self.passages = 0
        self.query = ""

    def __call__(self, stage: AnswerStage, *, model: str = "") -> None:
        """Report that ``stage`` starts now."""
        if self._callback is None:
            return
        self._callback(
            AnswerProgress(
                stage=stage,
                elapsed_ms=round((time.perf_counter() - self.started) * 1000.0, 3),
                candidates=self.candidates,
                passages=self.passages,
                model=model,
                query=self.query,
            )
        )

    def rerank(self, candidates: int) -> None:
        """Report the cross-encoder starting on ``candidates`` candidates (``retrieve``'s hook)."""
        self.candidates = candidates
        self("rerank")
