"""Deciding whether the retrieved passages can answer a question, before any LLM call.

A single cosine threshold does not transfer between collections: fitted on Wikipedia questions
(ClapNQ), 0.62 declined plainly answered questions over a technical manual, where MiniLM
similarities run lower. The decision here combines several signals that retrieval already produced
(:class:`EvidenceSignals`) in a logistic regression (:class:`AbstentionModel`) whose coefficients are
constants fitted by ``benchmarks/fit_abstention.py`` (see ``docs/evaluation.md``, "Abstention").

Per-collection calibration stays possible: a collection's ``settings["abstain_threshold"]`` (a
cosine threshold written by ``rag eval answers --calibrate``) or ``Settings.abstain_threshold``
brings back the cosine-only gate; ``settings["abstain_probability"]`` moves the model's cut.
Nothing here calls a model: the signals are computed from the :class:`RetrievalTrace` in Python.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from rag.retrieval import RetrievalTrace

# Question words, auxiliaries and function words: they say what kind of answer is wanted, not what
# it is about, so a passage need not contain them. Short on purpose (a long list drops real terms).
STOP_WORDS = frozenset(
    """a an the and or but if then else of to in on at by for with from into onto about as is are was
    were be been being am do does did doing done have has had having can could may might must shall
    should will would what which who whom whose when where why how that this these those there here it
    its it's i me my we our you your he she they them their his her not no yes than too very so such
    any some all each every other more most much many few one ones also just only own same both either
    neither between via per vs versus e g eg ie etc use used using get gets got make makes made
    mean means meaning called call name named tell explain describe difference differently different
    way ways type types kind kinds purpose happen happens thing things work works stand stands""".split()
)

#: Passages (best first) whose words count as covering the question.
COVERAGE_PASSAGES = 3
#: Depth of each retriever's list for the agreement signal.
AGREEMENT_DEPTH = 10

_WORD = re.compile(r"[a-z0-9]+")
# Longest first, so "ations" is stripped before "s". Enough to match plural/verb forms of a term.
_SUFFIXES = ("ations", "ation", "ings", "ing", "ies", "ied", "es", "ed", "ly", "s")


def stem(word: str) -> str:
    """A light suffix-stripping stem: ``"vacuuming"``/``"vacuums"`` -> ``"vacuum"``.

    Args:
        word: A lowercase word token.

    Returns:
        The word with at most one common English suffix removed, keeping at least 3 characters;
        ``ies``/``ied`` become ``y``.
    """
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            base = word[: -len(suffix)]
            return base + "y" if suffix in ("ies", "ied") else base
    return word


def content_terms(text: str) -> list[str]:
    """Distinct stemmed content terms of ``text``, in order of first occurrence.

    Lowercase ``[a-z0-9]+`` tokens minus :data:`STOP_WORDS` and one-character tokens, each stemmed
    with :func:`stem`.
    """
    seen: dict[str, None] = {}
    for word in _WORD.findall(text.lower()):
        if len(word) > 1 and word not in STOP_WORDS:
            seen.setdefault(stem(word), None)
    return list(seen)


@dataclass(frozen=True)
class EvidenceSignals:
    """What retrieval says about whether a question is answerable from the collection.

    Attributes:
        similarity: Best cosine similarity between the question and a kept passage, in [-1, 1]
            (``None`` with no vector-ranked passage).
        coverage: Share of the question's content terms (:func:`content_terms`) that occur in the
            title, headings or text of the best :data:`COVERAGE_PASSAGES` kept passages, in [0, 1]
            (``None`` when the question has no content term).
        terms: Number of content terms in the question.
        covered: How many of them the best passages contain.
        lexical_found: Whether BM25 returned any candidate (no question term in the collection
            otherwise).
        bm25_per_term: Best BM25 score of a candidate divided by ``terms`` (0 without a BM25 hit).
        agreement: Share of the best :data:`COVERAGE_PASSAGES` kept passages that are in both the
            BM25 and the vector top :data:`AGREEMENT_DEPTH`, in [0, 1]; ``None`` when the mode ran
            only one retriever.
        rerank_score: Best cross-encoder logit of a kept passage, ``None`` when not reranked.
        passages: Number of kept passages.
    """

    similarity: float | None
    coverage: float | None
    terms: int
    covered: int
    lexical_found: bool
    bm25_per_term: float
    agreement: float | None
    rerank_score: float | None
    passages: int

    @classmethod
    def from_trace(cls, question: str, trace: RetrievalTrace) -> EvidenceSignals:
        """Compute the signals for ``question`` from its retrieval trace (no model call).

        Args:
            question: The (standalone) question that was searched.
            trace: Its retrieval trace; ``trace.hits`` are the kept passages, best first.
        """
        hits = trace.hits
        similarities = [h.similarity for h in hits if h.similarity is not None]
        terms = content_terms(question)
        best = hits[:COVERAGE_PASSAGES]
        passage_terms: set[str] = set()
        for hit in best:
            passage_terms.update(content_terms(" ".join((hit.title, *hit.heading_path, hit.text))))
        covered = sum(1 for t in terms if t in passage_terms)
        bm25 = [c.bm25_score for c in trace.candidates if c.bm25_score is not None]
        hybrid = trace.params.mode in ("hybrid", "rerank")

        def in_both(c) -> bool:
            return (c.lexical_rank or AGREEMENT_DEPTH + 1) <= AGREEMENT_DEPTH and (
                c.vector_rank or AGREEMENT_DEPTH + 1
            ) <= AGREEMENT_DEPTH

        reranks = [h.rerank_score for h in hits if h.rerank_score is not None]
        return cls(
            similarity=max(similarities) if similarities else None,
            coverage=covered / len(terms) if terms else None,
            terms=len(terms),
            covered=covered,
            lexical_found=bool(bm25),
            bm25_per_term=max(bm25) / len(terms) if bm25 and terms else 0.0,
            agreement=sum(in_both(h) for h in best) / len(best) if hybrid and best else None,
            rerank_score=max(reranks) if reranks else None,
            passages=len(hits),
        )

    def to_dict(self) -> dict:
        """JSON-serialisable form."""
        return asdict(self)


@dataclass(frozen=True)
class Decision:
    """Whether to answer, and why.

    Attributes:
        answer: True to call the LLM, False to decline without it.
        probability: The model's probability that the passages answer the question, in [0, 1].
        reason: One readable sentence for the UI, e.g. "best passages cover 1 of 5 question terms
            and similarity 0.41 is low".
        evidence: Best cosine similarity of a kept passage (``None`` without passages).
        threshold: The cosine similarity below which this question would be declined: the fixed
            gate when one applies, else the model's boundary with the other signals held at their
            values (``-inf``/``inf`` clipped to -1/1).
        rule: ``"model"`` or ``"cosine"`` (a calibrated or configured cosine threshold applied).
        cut: The probability needed to answer under the ``model`` rule (``AbstentionModel.cut``,
            0.5 by default); ``None`` under the ``cosine`` rule, where ``threshold`` decides.
    """

    answer: bool
    probability: float
    reason: str
    evidence: float | None
    threshold: float
    rule: str = "model"
    cut: float | None = None


@dataclass(frozen=True)
class AbstentionModel:
    """Logistic regression over :class:`EvidenceSignals`: answer when P(answerable) >= ``cut``.

    ``logit = intercept + w_sim * similarity + w_cov * coverage + w_agree * agreement
    + w_lex * lexical_found``; missing signals take the ``neutral_*`` values (the mean on the fitting
    data), so the model also works in lexical-only or vector-only mode and without a cross-encoder.

    Attributes:
        intercept, w_similarity, w_coverage, w_agreement, w_lexical: Coefficients.
        neutral_coverage, neutral_agreement: Values used when the signal is ``None``.
        cut: Probability at or above which the question is answered.
    """

    intercept: float
    w_similarity: float
    w_coverage: float
    w_agreement: float
    w_lexical: float
    neutral_coverage: float
    neutral_agreement: float
    cut: float = 0.5

    def logit(self, s: EvidenceSignals) -> float:
        """The log-odds that the passages answer the question."""
        return self._rest(s) + self.w_similarity * (s.similarity if s.similarity is not None else 0.0)

    def _rest(self, s: EvidenceSignals) -> float:
        coverage = s.coverage if s.coverage is not None else self.neutral_coverage
        agreement = s.agreement if s.agreement is not None else self.neutral_agreement
        return (
            self.intercept
            + self.w_coverage * coverage
            + self.w_agreement * agreement
            + self.w_lexical * float(s.lexical_found)
        )

    def probability(self, s: EvidenceSignals) -> float:
        """P(answerable) in [0, 1]."""
        return 1.0 / (1.0 + math.exp(-self.logit(s)))

    def cosine_boundary(self, s: EvidenceSignals) -> float:
        """The similarity at which the decision flips with the other signals fixed, clipped to [-1, 1]."""
        target = math.log(self.cut / (1.0 - self.cut))
        if self.w_similarity <= 0:
            return -1.0
        return min(1.0, max(-1.0, (target - self._rest(s)) / self.w_similarity))

    def decide(self, s: EvidenceSignals) -> Decision:
        """Answer or decline, with the probability and a readable reason."""
        if s.passages == 0 or s.similarity is None:
            return Decision(
                False, 0.0, "no passage was retrieved", None, self.cosine_boundary(s), cut=self.cut
            )
        p = self.probability(s)
        answer = p >= self.cut
        return Decision(answer, p, _reason(s, answer, p), s.similarity, self.cosine_boundary(s), cut=self.cut)

    def with_cut(self, cut: float) -> AbstentionModel:
        """A copy with another probability cut (a collection's ``abstain_probability``).

        Raises:
            ValueError: ``cut`` is not strictly between 0 and 1.
        """
        if not 0.0 < cut < 1.0:
            raise ValueError(f"abstain_probability must be in (0, 1), got {cut}")
        return AbstentionModel(**{**asdict(self), "cut": cut})


def _reason(s: EvidenceSignals, answer: bool, p: float) -> str:
    terms = (
        f"the best passages cover {s.covered} of {s.terms} question terms"
        if s.terms
        else "the question has no content term"
    )
    sim = f"similarity {s.similarity:.2f}"
    if answer:
        return f"{terms} and {sim}: answering (P(answerable) {p:.2f})"
    return f"{terms} and {sim} is low: declined (P(answerable) {p:.2f})"


#: The default model. Fitted by ``benchmarks/fit_abstention.py`` on ClapNQ dev (answerable vs its
#: near-miss unanswerable questions, plus the same questions asked of a SciFact collection as
#: off-topic ones), logistic regression with balanced class weights; the intercept is then moved to
#: the operating point explained in ``docs/evaluation.md`` ("Abstention").
DEFAULT_MODEL = AbstentionModel(
    intercept=-5.2189,  # the balanced fit's -5.6327, raised 0.4139 so 95% of answerable ones answer
    w_similarity=6.8568,
    w_coverage=1.5704,
    w_agreement=0.9472,
    w_lexical=0.0357,
    neutral_coverage=0.5685,
    neutral_agreement=0.5231,
)


def cosine_decision(s: EvidenceSignals, threshold: float, model: AbstentionModel = DEFAULT_MODEL) -> Decision:
    """The cosine-only gate: decline when the best similarity is below ``threshold``.

    ``probability`` is still the model's, for display; the decision is the threshold's alone.
    """
    if s.similarity is None:
        return Decision(False, 0.0, "no passage was retrieved", None, threshold, "cosine")
    answer = s.similarity >= threshold
    relation = ">=" if answer else "<"
    reason = f"similarity {s.similarity:.2f} {relation} the collection's threshold {threshold:.2f}"
    return Decision(answer, model.probability(s), reason, s.similarity, threshold, "cosine")


def decide(
    question: str,
    trace: RetrievalTrace,
    collection_settings: Mapping[str, Any],
    default_threshold: float | None,
    model: AbstentionModel = DEFAULT_MODEL,
) -> Decision:
    """Decide for one question, honouring the per-collection and configured overrides.

    Order: the collection's ``abstain_threshold`` (cosine gate, from calibration), then its
    ``abstain_probability`` (the model with another cut), then ``default_threshold``
    (``Settings.abstain_threshold``, a cosine gate when set), else the model.

    Args:
        question: The standalone question that was searched.
        trace: Its retrieval trace.
        collection_settings: The collection's JSON settings.
        default_threshold: ``Settings.abstain_threshold`` (``None`` means use the model).
        model: The model (default :data:`DEFAULT_MODEL`).

    Raises:
        ValueError: ``abstain_probability`` is not in (0, 1).
    """
    signals = EvidenceSignals.from_trace(question, trace)
    if collection_settings.get("abstain_threshold") is not None:
        return cosine_decision(signals, float(collection_settings["abstain_threshold"]), model)
    if collection_settings.get("abstain_probability") is not None:
        return model.with_cut(float(collection_settings["abstain_probability"])).decide(signals)
    if default_threshold is not None:
        return cosine_decision(signals, default_threshold, model)
    return model.decide(signals)
