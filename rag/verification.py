"""Checks an answer must pass before it is shown as an answer, and the extractive fallback.

A model's text is trusted only when it (1) does not echo the prompt's markup or instructions, (2) is
not degenerate repetition, (3) cites at least one passage, and (4) every sentence is supported by a
passage it cites. Support of a sentence by a passage is checked two ways, either one suffices:

* semantic: the highest cosine similarity between the sentence and any sentence of the passage,
  both embedded by the collection's embedding model, is at least :data:`SUPPORT_COSINE`;
* lexical: the share of the sentence's content terms that occur in the passage is at least
  :data:`SUPPORT_LEXICAL` (terms are lowercased words without stop words, cut to
  :data:`STEM_CHARS` characters: truncation stemming, Mayfield & McNamee, SIGIR 2003).

Both thresholds were fitted by ``benchmarks/fit_support.py`` on ClapNQ dev (reference answer
sentences against their gold passage = supported, against the best-ranked other passage =
unsupported); the figures are in ``docs/evaluation.md``.

When a check fails, :func:`extractive_answer` builds the answer from the passages themselves: the
sentences most similar to the question, each with its citation, clearly labelled.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from rag.answer import Answer, SentenceCheck
from rag.embedding import Embedder
from rag.prompting import ANSWER_REMINDER, SYSTEM_PROMPT, parse_citations

SUPPORT_COSINE = 0.74
"""Minimum best sentence-to-sentence cosine similarity (all-MiniLM-L6-v2) for semantic support."""

SUPPORT_LEXICAL = 0.55
"""Minimum share of a sentence's content terms found in the passage for lexical support."""

STEM_CHARS = 6
"""Terms are compared on their first 6 characters (``configured`` ~ ``configuration``)."""

MIN_CHECKED_WORDS = 4
"""Sentences shorter than this many words ("Yes.", "See [2].") are not checked on their own."""

EXTRACTIVE_SENTENCES = 3
"""Sentences quoted by the extractive answer."""

LITERAL_BONUS = 0.3
"""Score added to a sentence that contains a literal symbol of the question (see :func:`literal_symbols`).

Chosen, not fitted.
"""

_SYMBOL_RE = re.compile(r"(?<![\w-])(?:--?[A-Za-z][\w-]*|[!#$%&*~^|]+|\w+(?:[._/:]\w+)+)")

_STOP_WORDS = frozenset(
    "a an and are as at be been being but by can could did do does doing for from had has have how i if in "
    "into is it its itself may might more most must no not of on or other our should so such than that the "
    "their them then there these they this those through to too under up very was we were what when where "
    "which while who whom why will with would you your also only any each both all one two use used using "
    "about tell me please explain describe source sources answer question".split()
)
_WORD_RE = re.compile(r"[A-Za-z0-9_]+(?:[-'][A-Za-z0-9_]+)*")
_SENTENCE_END_RE = re.compile(r"(?<=[.!?])(?:\s*\[[\d,;\s\-–]+\])*\s+(?=[A-Z0-9\"'“(\[])")
_MARKUP_RE = re.compile(
    r"<\s*/?\s*(?:source|sources|document|context|passage)\b[^>]*>"  # tags of older prompt formats
    r"|\bSource \d+\s*[(:]",  # the header of a source block in rag.prompting's format
    re.IGNORECASE,
)
_SECTION_LINE_RE = re.compile(r"^\s*(?:\d+\.){1,}\d*\.?\s+\S")
_MARKER_RE = re.compile(r"\[\s*\d[\d,;\s\-–]*\]")


@dataclass(frozen=True)
class Verification:
    """The outcome of checking a model answer.

    Attributes:
        passed: True when the text can be shown as a trusted answer.
        problems: Readable reasons it failed (empty when it passed), e.g. ``"2 of 3 sentences are not
            supported by the passage they cite"``.
        sentences: Per-sentence support checks.
    """

    passed: bool
    problems: tuple[str, ...]
    sentences: tuple[SentenceCheck, ...] = ()


def terms(text: str) -> set[str]:
    """Content terms of ``text``: lowercased words minus stop words, cut to :data:`STEM_CHARS`."""
    return {
        word[:STEM_CHARS]
        for word in (w.lower() for w in _WORD_RE.findall(text))
        if word not in _STOP_WORDS and (len(word) > 1 or word.isdigit())
    }


def literal_symbols(question: str) -> list[str]:
    """Tokens of the question that must match literally.

    These are options (``-n``, ``--force``), symbols (``!``) and dotted or slashed names
    (``os.path.join``, ``etc/fstab``).
    """
    return [m.group(0) for m in _SYMBOL_RE.finditer(question)]


def split_sentences(text: str) -> list[str]:
    """Split text into sentences on ``. ! ?`` followed by a capital, keeping trailing ``[n]`` markers.

    Lines are split too (list items and headings are separate statements).
    """
    sentences = []
    for line in text.splitlines():
        for part in _SENTENCE_END_RE.split(line.strip()):
            if part.strip():
                sentences.append(part.strip())
    return sentences


def lexical_support(sentence: str, passage: str) -> float:
    """Share of the sentence's content terms that occur in the passage (1.0 for a sentence without terms)."""
    wanted = terms(_MARKER_RE.sub(" ", sentence))
    if not wanted:
        return 1.0
    return len(wanted & terms(passage)) / len(wanted)


def echo_problem(text: str, instructions: Sequence[str] = ()) -> str | None:
    """Why ``text`` is an echo of the prompt rather than an answer, or ``None``.

    Args:
        text: The model's answer.
        instructions: The prompt's own text (system message, reminder), which an answer must not repeat.

    Returns:
        A reason when the text contains prompt markup (``<source ...>``), repeats 8 or more words of
        the instructions verbatim, or is mostly numbered section headings (a table of contents).
    """
    if _MARKUP_RE.search(text):
        return "it repeats the prompt's markup"
    words = [w.lower() for w in _WORD_RE.findall(text)]
    grams = {tuple(words[i : i + 8]) for i in range(len(words) - 7)}
    for instruction in instructions:
        own = [w.lower() for w in _WORD_RE.findall(instruction)]
        if grams & {tuple(own[i : i + 8]) for i in range(len(own) - 7)}:
            return "it repeats the prompt's instructions"
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) >= 3 and sum(bool(_SECTION_LINE_RE.match(line)) for line in lines) >= 0.5 * len(lines):
        return "it lists section headings instead of answering"
    return None


def degenerate_problem(text: str) -> str | None:
    """Why ``text`` is degenerate repetition, or ``None``.

    Returns:
        A reason when a run of 6 words occurs 3 or more times, or when fewer than 40% of the word
        trigrams of a text of 40 or more words are distinct.
    """
    words = [w.lower() for w in _WORD_RE.findall(text)]
    counts: dict[tuple[str, ...], int] = {}
    for i in range(len(words) - 5):
        gram = tuple(words[i : i + 6])
        counts[gram] = counts.get(gram, 0) + 1
        if counts[gram] >= 3:
            return "it repeats itself"
    if len(words) >= 40:
        trigrams = [tuple(words[i : i + 3]) for i in range(len(words) - 2)]
        if len(set(trigrams)) < 0.4 * len(trigrams):
            return "it repeats itself"
    return None


def _cited_per_sentence(sentences: Sequence[str], n_sources: int) -> list[tuple[int, ...]]:
    """Source numbers each sentence is checked against.

    A sentence's own markers; else those of the next sentence that has markers (models often cite
    once at the end of a passage of sentences); else every source the answer cites.
    """
    own = [parse_citations(s, n_sources).cited for s in sentences]
    everything = tuple(sorted({n for cited in own for n in cited}))
    result = []
    for i, cited in enumerate(own):
        following = next((c for c in own[i:] if c), ())
        result.append(tuple(cited) or tuple(following) or everything)
    return result


def check_support(answer_text: str, passages: Sequence[str], embedder: Embedder) -> tuple[SentenceCheck, ...]:
    """Check every sentence of ``answer_text`` against the passages it cites.

    Args:
        answer_text: The model's answer with ``[n]`` markers (1-based numbers into ``passages``).
        passages: The passages given to the model, in prompt order.
        embedder: The embedding model (sentences are embedded in one batch).

    Returns:
        One :class:`SentenceCheck` per sentence of at least :data:`MIN_CHECKED_WORDS` words.
    """
    sentences = [s for s in split_sentences(answer_text) if len(_WORD_RE.findall(s)) >= MIN_CHECKED_WORDS]
    if not sentences or not passages:
        return ()
    cited = _cited_per_sentence(sentences, len(passages))
    needed = sorted({n for numbers in cited for n in numbers})
    passage_sentences = {n: split_sentences(passages[n - 1]) or [passages[n - 1]] for n in needed}
    texts = [_MARKER_RE.sub(" ", s) for s in sentences]
    flat = [(n, s) for n in needed for s in passage_sentences[n]]
    vectors = embedder.embed(texts + [s for _, s in flat]) if texts else np.zeros((0, 1))
    answer_vectors, passage_vectors = vectors[: len(texts)], vectors[len(texts) :]
    owners = np.array([n for n, _ in flat])
    checks = []
    for i, sentence in enumerate(sentences):
        cosine = lexical = 0.0
        for n in cited[i]:
            rows = passage_vectors[owners == n]
            if rows.size:
                cosine = max(cosine, float(np.max(rows @ answer_vectors[i])))
            lexical = max(lexical, lexical_support(sentence, passages[n - 1]))
        supported = bool(cited[i]) and (cosine >= SUPPORT_COSINE or lexical >= SUPPORT_LEXICAL)
        checks.append(SentenceCheck(sentence, cited[i], round(cosine, 4), round(lexical, 4), supported))
    return tuple(checks)


def verify_answer(
    answer_text: str,
    passages: Sequence[str],
    cited: Sequence[int],
    embedder: Embedder,
    *,
    instructions: Sequence[str] = (),
    finish_reason: str | None = None,
) -> Verification:
    """Run every check on a model answer (module docstring: what they are and where thresholds come from).

    Args:
        answer_text: The answer with dangling markers already removed.
        passages: The passages given to the model, in prompt order.
        cited: Valid source numbers the answer cites.
        embedder: The embedding model.
        instructions: Prompt text the answer must not repeat.
        finish_reason: Why generation stopped; ``repetition`` and ``timeout`` fail the answer.

    Returns:
        A :class:`Verification`.
    """
    problems = []
    if finish_reason == "repetition":
        problems.append("it repeats itself")
    elif finish_reason == "timeout":
        problems.append("the model ran out of time")
    for problem in (echo_problem(answer_text, instructions), degenerate_problem(answer_text)):
        if problem and problem not in problems:
            problems.append(problem)
    if not cited:
        problems.append("it cites none of your documents")
    sentences = check_support(answer_text, passages, embedder) if cited else ()
    unsupported = [s for s in sentences if not s.supported]
    if unsupported:
        problems.append(
            f"{len(unsupported)} of {len(sentences)} sentences are not supported by the passage they cite"
        )
    return Verification(passed=not problems, problems=tuple(problems), sentences=sentences)


def extractive_answer(
    question: str, passages: Sequence[str], embedder: Embedder, limit: int = EXTRACTIVE_SENTENCES
) -> str:
    """The passages' sentences that best answer ``question``, one per line, each with its ``[n]``.

    Sentences are ranked by cosine similarity to the question, plus half the share of the question's
    content terms they contain, plus :data:`LITERAL_BONUS` when they contain the question's literal
    symbols (``!``, ``--force``, ``-n``, ``a.b``: option and syntax lookups, which embeddings blur);
    only the first three passages (the best ranked) are used.

    Args:
        question: The (standalone) question.
        passages: Passages in prompt order (numbered from 1).
        embedder: The embedding model.
        limit: Sentences to return.

    Returns:
        Lines ``- <sentence> [n]`` in ranking order; empty when there is no passage.
    """
    candidates = [
        (number, sentence)
        for number, passage in enumerate(passages[:3], 1)
        for sentence in split_sentences(passage)
        if 4 <= len(_WORD_RE.findall(sentence)) <= 80
    ]
    if not candidates:
        return ""
    vectors = embedder.embed([question] + [s for _, s in candidates])
    cosine = vectors[1:] @ vectors[0]
    wanted = terms(question)
    symbols = literal_symbols(question)
    scores = [
        float(cosine[i])
        + 0.5 * (len(wanted & terms(s)) / len(wanted) if wanted else 0.0)
        + (LITERAL_BONUS if symbols and any(symbol in s for symbol in symbols) else 0.0)
        for i, (_, s) in enumerate(candidates)
    ]
    best = sorted(range(len(candidates)), key=lambda i: scores[i], reverse=True)[:limit]
    return "\n".join(f"- {candidates[i][1]} [{candidates[i][0]}]" for i in best)


def guard_answer(answer: Answer, embedder: Embedder, finish_reason: str | None = None) -> Answer:
    """Verify a model answer; when it fails, replace it with the extractive answer, clearly labelled.

    Abstentions pass unchanged. A failed answer keeps the model's text in ``model_text`` (the UI
    shows it as unverified), its reasons in ``problems``, and cites the passages quoted.

    Args:
        answer: The answer built from the model's text (``rag.answer.finish_answer``).
        embedder: The embedding model used for the support check.
        finish_reason: Why generation stopped (``stop``, ``length``, ``timeout``, ``repetition``).

    Returns:
        ``answer`` with ``verified`` set, or the extractive replacement.
    """
    if answer.abstained:
        return replace(answer, verified=True)
    passages = [source.text for source in answer.sources]
    check = verify_answer(
        answer.text,
        passages,
        [c.number for c in answer.citations],
        embedder,
        instructions=(SYSTEM_PROMPT, ANSWER_REMINDER),
        finish_reason=finish_reason,
    )
    if check.passed:
        return replace(answer, verified=True, support=check.sentences)
    quoted = extractive_answer(answer.standalone_question or answer.question, passages, embedder)
    numbers = parse_citations(quoted, len(passages)).cited
    by_number = {source.number: source for source in answer.sources}
    return replace(
        answer,
        text=quoted,
        citations=tuple(by_number[n] for n in numbers),
        uncited=not numbers,
        verified=False,
        extractive=True,
        model_text=answer.text,
        problems=check.problems,
        support=check.sentences,
    )
