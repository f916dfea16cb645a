"""Where a cited passage lies in a page's words: the word runs the passage and the page share.

The stored passage is not a substring of the page text as PDFium (or OCR) reads it: the loader
rejoined hyphenated words, collapsed whitespace and took out page numbers and running headers, and
a passage may start on one page and end on the next. So both are cut into words (runs of letters and
digits, lower-cased) and aligned with :class:`difflib.SequenceMatcher` (Ratcliff/Obershelp
"gestalt pattern matching", Python standard library); the page words inside matching runs of at
least :data:`MIN_RUN_WORDS` words are the passage's, and gaps of at most :data:`MAX_GAP_WORDS`
words between two such runs (a dropped page number, a word OCR misread) are taken in too.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from difflib import SequenceMatcher

MIN_RUN_WORDS = 3
"""Shortest run of shared words that counts as the passage (shorter runs are common words that
happen to be equal, "of the"); a passage of fewer words needs all of them."""

MAX_GAP_WORDS = 3
"""Page words between two matched runs that are highlighted with them (a page number, a hyphenation
the loader rejoined, one misread word)."""

_WORD_RE = re.compile(r"[^\W_]+")


def words(text: str) -> list[str]:
    """The lower-cased words (runs of letters and digits) of ``text``, in order."""
    return [w.lower() for w in _WORD_RE.findall(text)]


def words_with_offsets(text: str) -> list[tuple[str, int, int]]:
    """Like :func:`words`, with each word's character offsets in ``text`` (start, end exclusive)."""
    return [(m.group().lower(), m.start(), m.end()) for m in _WORD_RE.finditer(text)]


def matched_word_spans(page_words: Sequence[str], passage_words: Sequence[str]) -> list[tuple[int, int]]:
    """Spans of ``page_words`` (start, end exclusive) that belong to the passage, in page order.

    Args:
        page_words: The page's words in reading order (from :func:`words` or the same rule).
        passage_words: The passage's words.

    Returns:
        Merged, non-overlapping spans of page word indexes; ``[]`` when no run of
        :data:`MIN_RUN_WORDS` words (or the whole passage, when shorter) is shared.
    """
    if not page_words or not passage_words:
        return []
    min_run = min(MIN_RUN_WORDS, len(passage_words))
    matcher = SequenceMatcher(None, page_words, passage_words, autojunk=False)
    spans: list[tuple[int, int]] = []
    for block in matcher.get_matching_blocks():
        if block.size < min_run:
            continue
        start, end = block.a, block.a + block.size
        if spans and start - spans[-1][1] <= MAX_GAP_WORDS:
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
    return spans


def matched_share(spans: Sequence[tuple[int, int]], passage_word_count: int) -> float:
    """Share of the passage's words that the spans cover, in [0, 1] (gaps counted, so capped at 1)."""
    if passage_word_count <= 0:
        return 0.0
    return min(1.0, sum(end - start for start, end in spans) / passage_word_count)
