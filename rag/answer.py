"""Answer values and how they are built: :class:`Answer`, :class:`Citation`, markers, prompts.

It holds the abstention answer, the mapping of the model's ``[n]`` markers to passages, and the
prompt for a set of passages. The pipeline that calls these (rewrite -> retrieve -> abstain or prompt -> stream) is ``rag.chat.ask``.
The evidence is the best cosine similarity between the question and a kept passage.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from rag.models import Candidate
from rag.prompting import ABSTAIN_TEXT, PromptSource, build_messages, parse_citations
from rag.retrieval import RetrievalTrace


@dataclass(frozen=True)
class Citation:
    """A source the answer cites with ``[number]``.

    Attributes:
        number: The marker number in the answer (the source's position in the prompt, 1-based).
        chunk_id, document_id: Database ids of the passage.
        title, source_name, pages_label, page_start, page_end, heading_path, text: What the UI shows.
        external_id: The document's external id, if any.
        from_ocr: True when the passage's text was (partly) read by OCR (:attr:`rag.models.Passage.from_ocr`).
    """

    number: int
    chunk_id: int
    document_id: int
    title: str
    source_name: str
    pages_label: str
    page_start: int | None
    page_end: int | None
    heading_path: tuple[str, ...]
    text: str
    external_id: str | None = None
    from_ocr: bool = False

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Citation:
        """Rebuild from ``dataclasses.asdict`` output (JSON lists become tuples; unknown keys ignored)."""
        known = {f: data[f] for f in cls.__dataclass_fields__ if f in data}
        known["heading_path"] = tuple(known.get("heading_path") or ())
        return cls(**known)

    @classmethod
    def from_candidate(cls, number: int, candidate: Candidate) -> Citation:
        """Build from a retrieved candidate."""
        return cls(
            number=number,
            chunk_id=candidate.chunk_id,
            document_id=candidate.document_id,
            title=candidate.title,
            source_name=candidate.source_name,
            pages_label=candidate.pages_label,
            page_start=candidate.page_start,
            page_end=candidate.page_end,
            heading_path=candidate.heading_path,
            text=candidate.text,
            external_id=candidate.external_id,
            from_ocr=candidate.from_ocr,
        )


@dataclass(frozen=True)
class SentenceCheck:
    """One sentence of a model answer and whether a passage it cites supports it.

    Attributes:
        text: The sentence (citation markers included). cited: Source numbers it is checked against.
        cosine: Best cosine similarity to a sentence of a cited passage, in [-1, 1].
        lexical: Best share of its content terms found in a cited passage, in [0, 1].
        supported: Whether ``rag.verification`` found it supported (its thresholds).
    """

    text: str
    cited: tuple[int, ...]
    cosine: float
    lexical: float
    supported: bool


@dataclass(frozen=True)
class Answer:
    """A finished answer with everything needed to trust or inspect it.

    Attributes:
        question: What the user typed. standalone_question: After follow-up rewriting.
        text: The answer with dangling markers removed (``[n]`` markers kept).
        citations: Sources cited by valid markers, in order of first citation.
        sources: All passages given to the LLM (or the closest passages when abstaining).
        abstained: True when the answer is "not in your documents" (threshold or model decision).
        abstained_before_llm: True when the abstention decision (``rag.abstention.decide``) declined
            without an LLM call.
        uncited: True when a non-abstaining answer has no valid citation (flag it in the UI).
        dangling_markers: Markers that named no source (removed from ``text``).
        evidence: Best cosine similarity of a kept passage (``None`` with no passages).
        threshold: The cosine similarity below which this question is declined: the calibrated or
            configured cosine threshold, or the evidence model's boundary with the question's other
            signals held fixed (``Decision.threshold``).
        model: LLM model string. prompt_tokens, completion_tokens: Token usage (0 without a call).
        cost_usd: ``litellm.completion_cost`` in US dollars when the model is priced, else ``None``.
        timings_ms: Retrieval stages plus ``rewrite``, ``prompt_build``, ``time_to_first_token``,
            ``generation`` and ``total`` (ms).
        messages: The exact messages sent to the LLM (empty when abstaining before the call).
        trace: The retrieval trace.
        message_id, conversation_id: Where the answer is stored (``None`` if not stored).
        verified: True when the text passed every check of ``rag.verification`` (or abstained).
        extractive: True when the text is quoted from the passages because the model's answer
            failed a check; ``model_text`` then holds the model's unverified answer and
            ``problems`` says why it failed.
        support: Per-sentence support checks of the model's text.
        rewrite_note: Why a follow-up was searched as typed although a rewrite was tried (the
            rewrite changed the subject), else ``None``.
        decision_probability: The abstention model's probability that the passages answer the
            question, in [0, 1] (``None`` for answers stored before it existed).
        decision_reason: Why it answered or declined, one readable sentence (``""`` when unknown).
        decision_rule: ``"model"`` (the evidence model's probability decided) or ``"cosine"`` (a
            calibrated or configured cosine threshold decided); ``""`` for older stored answers.
        decision_cut: The probability needed to answer under the ``model`` rule (``None`` otherwise).
        below_threshold: True when the user asked to answer although the decision declined
            ("answer anyway", :func:`rag.chat.answer_anyway`); the text is still cited and verified.
    """

    question: str
    standalone_question: str
    text: str
    citations: tuple[Citation, ...]
    sources: tuple[Citation, ...]
    abstained: bool
    abstained_before_llm: bool
    uncited: bool
    dangling_markers: int
    evidence: float | None
    threshold: float
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    messages: tuple[dict, ...] = ()
    trace: RetrievalTrace | None = None
    message_id: int | None = None
    conversation_id: int | None = None
    verified: bool = False
    extractive: bool = False
    model_text: str | None = None
    problems: tuple[str, ...] = ()
    support: tuple[SentenceCheck, ...] = ()
    rewrite_note: str | None = None
    decision_probability: float | None = None
    decision_reason: str = ""
    decision_rule: str = ""
    decision_cut: float | None = None
    below_threshold: bool = False

    def evidence_statement(self) -> str:
        """The evidence score against what answering needs, in plain words, for the UI and the CLI.

        Returns:
            E.g. ``"Evidence 0.31, below the 0.50 needed to answer"`` (the evidence model's
            probability and cut, ``rag.abstention``), ``"Best passage similarity 0.42, below the
            0.62 needed to answer"`` (a cosine threshold decided), ``"No passage was retrieved"``.
        """
        if self.evidence is None and not self.sources:
            return "No passage was retrieved"
        if self.decision_rule == "model" and self.decision_probability is not None and self.decision_cut:
            score, needed, name = self.decision_probability, self.decision_cut, "Evidence"
        elif self.evidence is not None:
            score, needed, name = self.evidence, self.threshold, "Best passage similarity"
        else:
            return "No passage was compared with the question"
        relation = "below" if score < needed else "at or above"
        return f"{name} {score:.2f}, {relation} the {needed:.2f} needed to answer"

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (CLI ``--json``, stored answers); :meth:`from_dict` reads it back."""
        data = asdict(self)
        data["trace"] = self.trace.to_dict() if self.trace else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Answer:
        """Rebuild an answer from :meth:`to_dict` output (a stored answer read back from the database).

        Missing optional fields take their defaults, so answers stored by older versions still load.
        """
        known = {f: data[f] for f in cls.__dataclass_fields__ if f in data}
        known["citations"] = tuple(Citation.from_dict(c) for c in data.get("citations") or ())
        known["sources"] = tuple(Citation.from_dict(c) for c in data.get("sources") or ())
        known["messages"] = tuple(data.get("messages") or ())
        known["timings_ms"] = {str(k): float(v) for k, v in (data.get("timings_ms") or {}).items()}
        known["trace"] = RetrievalTrace.from_dict(data["trace"]) if data.get("trace") else None
        known["problems"] = tuple(data.get("problems") or ())
        known["support"] = tuple(
            SentenceCheck(**{**c, "cited": tuple(c.get("cited") or ())}) for c in data.get("support") or ()
        )
        return cls(**known)


def evidence_of(hits: Sequence[Candidate]) -> float | None:
    """Best cosine similarity among the kept passages, or ``None`` without passages."""
    similarities = [h.similarity for h in hits if h.similarity is not None]
    return max(similarities) if similarities else None


def prompt_sources(hits: Sequence[Candidate]) -> list[PromptSource]:
    """Number the kept passages 1..k for the prompt, best first."""
    return [
        PromptSource(number=i, title=h.title, pages_label=h.pages_label, text=h.text)
        for i, h in enumerate(hits, 1)
    ]


class AnswerStream:
    """Iterate to receive the answer's text deltas; then read :attr:`answer`.

    For an abstention the single delta is the abstention text. The streamed text is the model's raw
    output; the final :attr:`answer` text has dangling markers removed.
    """

    def __init__(self, deltas: Iterator[str]) -> None:
        self._deltas = deltas
        self.answer: Answer | None = None

    def __iter__(self) -> Iterator[str]:
        return self._deltas


def finish_answer(
    *,
    question: str,
    standalone: str,
    raw_text: str,
    hits: Sequence[Candidate],
    evidence: float | None,
    threshold: float,
    model: str,
    trace: RetrievalTrace,
    messages: Sequence[dict],
    prompt_tokens: int,
    completion_tokens: int,
    cost_usd: float | None,
    timings_ms: dict[str, float],
) -> Answer:
    """Map markers to passages, drop dangling ones, and flag abstention or missing citations."""
    sources = tuple(Citation.from_candidate(i, h) for i, h in enumerate(hits, 1))
    parsed = parse_citations(raw_text, len(sources))
    by_number = {c.number: c for c in sources}
    citations = tuple(by_number[n] for n in parsed.cited)
    declined = ABSTAIN_TEXT.lower().rstrip(".") in parsed.clean_text.lower()
    return Answer(
        question=question,
        standalone_question=standalone,
        text=parsed.clean_text.strip(),
        citations=citations,
        sources=sources,
        abstained=declined and not citations,
        abstained_before_llm=False,
        uncited=not citations and not declined,
        dangling_markers=parsed.dangling,
        evidence=evidence,
        threshold=threshold,
        model=model,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cost_usd=cost_usd,
        timings_ms=timings_ms,
        messages=tuple(messages),
        trace=trace,
    )


def abstention(
    *,
    question: str,
    standalone: str,
    hits: Sequence[Candidate],
    evidence: float | None,
    threshold: float,
    model: str,
    trace: RetrievalTrace,
    timings_ms: dict[str, float],
) -> Answer:
    """The answer given without an LLM call when the abstention decision declines."""
    return Answer(
        question=question,
        standalone_question=standalone,
        text=ABSTAIN_TEXT,
        citations=(),
        sources=tuple(Citation.from_candidate(i, h) for i, h in enumerate(hits, 1)),
        abstained=True,
        abstained_before_llm=True,
        uncited=False,
        verified=True,
        dangling_markers=0,
        evidence=evidence,
        threshold=threshold,
        model=model,
        timings_ms=timings_ms,
        trace=trace,
    )


LOCAL_PROMPT_PASSAGES = 3
"""Passages in the prompt of an in-process ``local/`` model (all top-k passages for other models).

llama.cpp read prompts at 14-30 tokens/s on this 2-core machine under load (an 873-token prompt took
61 s at a load average of 7), while five full passages are about 1,900 tokens; so a local model gets
the best three, each cut to :data:`LOCAL_PROMPT_CHARS`. Verification and the quoted fallback still use
every retrieved passage.
"""

LOCAL_PROMPT_CHARS = 800
"""Characters kept per passage in a ``local/`` model's prompt (about 200 tokens)."""


def build_answer_messages(
    standalone: str, hits: Sequence[Candidate], history: Sequence[dict], model: str = ""
) -> tuple[list[dict], float]:
    """The LLM messages for ``hits`` and the time it took to build them (ms).

    Args:
        standalone: The question as searched.
        hits: Kept passages, best first (numbered 1..k in the prompt).
        history: Prior chat turns.
        model: The LLM model string; a ``local/`` model gets a smaller prompt
            (:data:`LOCAL_PROMPT_PASSAGES`, :data:`LOCAL_PROMPT_CHARS`).
    """
    started = time.perf_counter()
    if model.startswith("local/"):
        sources = prompt_sources(hits[:LOCAL_PROMPT_PASSAGES])
        messages = build_messages(standalone, sources, history, max_source_chars=LOCAL_PROMPT_CHARS)
    else:
        messages = build_messages(standalone, prompt_sources(hits), history)
    return messages, (time.perf_counter() - started) * 1000.0
