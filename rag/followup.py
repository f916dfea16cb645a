"""Follow-up questions: when to rewrite one into a standalone question, and when to keep the user's.

A rewrite must never replace the user's question with a different one (a small model once turned
"How does a BRIN index work?" into "What is the default isolation level in PostgreSQL?"). So:

* a question that names its own subject (no pronoun or other reference back to the conversation,
  and at least :data:`SELF_CONTAINED_TERMS` content terms) is searched as typed, without an LLM call;
* a rewrite is accepted only when it keeps every content term of the question (it may add the
  subject the question referred to, never drop what the user wrote) and its embedding stays close
  to the question's (cosine >= :data:`MIN_REWRITE_COSINE`); otherwise the original question is
  searched and the reason is recorded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.embedding import Embedder
from rag.verification import terms

SELF_CONTAINED_TERMS = 2
"""Content terms from which a question without back-references is taken as standalone."""

MIN_REWRITE_COSINE = 0.3
"""Lowest cosine similarity (all-MiniLM-L6-v2) between a question and an accepted rewrite.

Chosen from 9 hand-made pairs, not fitted: correct rewrites of short follow-ups scored 0.33-0.73
("And for directories?" -> "How does a gitignore pattern match directories?" 0.33; "And what about
taxi receipts?" -> "How long do employees have to submit taxi receipts?" 0.73), rewrites into another
question 0.08-0.21 ("How does a BRIN index work?" -> "What is the default isolation level in
PostgreSQL?" 0.16). The term check above is the main guard; this one catches rewrites that keep the
words but change the question.
"""

_REFERENCE_RE = re.compile(
    r"\b(it|its|it's|this|that|these|those|they|them|their|theirs|he|him|his|she|her|hers|there|then|"
    r"one|ones|same|such|former|latter|above|previous|also|else|other|another|more|again)\b"
    r"|^\s*(and|but|or|so|what about|how about|why not|and what|and how)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class RewriteDecision:
    """What is searched for a follow-up, and why.

    Attributes:
        query: The question to retrieve with (the rewrite, or the user's own words).
        rewritten: True when ``query`` is an accepted rewrite.
        reason: Why the user's question was kept (``None`` when a rewrite was accepted or none was
            needed), e.g. ``"the rewrite dropped: brin, index"``.
    """

    query: str
    rewritten: bool
    reason: str | None = None


def is_self_contained(question: str) -> bool:
    """True when ``question`` refers to nothing earlier and has enough content terms to search alone."""
    return not _REFERENCE_RE.search(question) and len(terms(question)) >= SELF_CONTAINED_TERMS


def check_rewrite(question: str, rewrite: str, embedder: Embedder) -> RewriteDecision:
    """Accept ``rewrite`` only if it keeps the question's subject (module docstring: the rules).

    Args:
        question: What the user typed.
        rewrite: The model's standalone version.
        embedder: The embedding model (two short texts are embedded).

    Returns:
        The decision; ``query`` is ``question`` whenever the rewrite is rejected.
    """
    question, rewrite = question.strip(), rewrite.strip()
    if not rewrite or rewrite.lower() == question.lower():
        return RewriteDecision(question, False, None if rewrite else "the rewrite was empty")
    dropped = sorted(terms(question) - terms(rewrite))
    if dropped:
        return RewriteDecision(question, False, f"the rewrite dropped: {', '.join(dropped)}")
    vectors = embedder.embed([question, rewrite])
    cosine = float(vectors[0] @ vectors[1])
    if cosine < MIN_REWRITE_COSINE:
        return RewriteDecision(question, False, f"the rewrite changed the question (similarity {cosine:.2f})")
    return RewriteDecision(rewrite, True)
