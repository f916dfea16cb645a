"""Detect a reply that has started to loop, and where to cut it; pure functions, provider-independent.

Small models (SmolLM2-135M in particular) fall into loops such as "Concurrent builds of index builds
on other tables." written again and again until the token limit. Sampling penalties make loops rarer
but cannot rule them out, so the stream also watches its own text with :func:`find_loop`.

Two rules, both about the reply's own text:

* **Words**: some run of :data:`LOOP_NGRAM_WORDS` consecutive words occurs :data:`LOOP_REPEATS` times.
  Words are compared lower-cased without surrounding punctuation, and every number counts as the
  same word, so "1. Foo bar... 2. Foo bar..." and "The source is 1. The source is 2. ..." count as
  repeats; n-grams made only of numbers ("80, 443, 8080, ...") do not. A phrase shorter than the
  n-gram that repeats back to back ("I don't know. I don't know. ...") also triggers, once the
  repeated span holds three copies of an n-gram.
* **Characters**: the reply ends with at least :data:`LOOP_MIN_CHARS` characters that repeat a
  period of at most :data:`LOOP_MAX_PERIOD_CHARS` characters (``=====...``, ``- - - ...``,
  text without spaces), which the word rule cannot see.

The cut keeps one copy of the repeated part, ending at a sentence or line end when there is one.
"""

from __future__ import annotations

import re

LOOP_NGRAM_WORDS = 8
"""Words in the n-gram that must repeat: long enough that set phrases ("one of the most important")
do not count, short enough to catch a one-sentence loop in its third copy."""

LOOP_REPEATS = 3
"""Occurrences of the n-gram that make a loop; two can be a deliberate restatement, three cannot."""

LOOP_MIN_CHARS = 80
"""Shortest periodic tail (characters) for the character rule: longer than a Markdown rule or underline."""

LOOP_MAX_PERIOD_CHARS = 40
"""Longest period (characters) checked by the character rule; longer periods are left to the word rule."""

_WORD = re.compile(r"\S+")
_DIGITS = re.compile(r"\d+")
_NUMBER = re.compile(r"0(?:[.,:]0)*")
_STRIP = "\"'`.,;:!?()[]{}<>*_-–—|#/\\"


def _words(text: str) -> list[tuple[str, int, int]]:
    """Normalised words of ``text`` with their start and end offsets (characters); bare punctuation skipped."""
    out = []
    for match in _WORD.finditer(text):
        raw = match.group()
        # Numbers count as one word so that "The source is 1. The source is 2. ..." is a loop.
        word = _DIGITS.sub("0", raw.strip(_STRIP).lower())
        if word:
            out.append((word, match.start(), match.end()))
    return out


def _word_loop(text: str, ngram: int, repeats: int) -> int | None:
    """Where to cut the first n-gram seen ``repeats`` times: after the word before its second occurrence."""
    words = _words(text)
    seen: dict[tuple[str, ...], list[int]] = {}
    for i in range(len(words) - ngram + 1):
        key = tuple(w for w, _, _ in words[i : i + ngram])
        if all(_NUMBER.fullmatch(w) for w in key):
            continue  # a list of numbers ("80, 443, 8080...") is not a loop
        starts = seen.setdefault(key, [])
        # Overlapping occurrences count too: a phrase shorter than the n-gram repeating back to back.
        starts.append(i)
        if len(starts) >= repeats:
            return _cut(text, words, starts[0], starts[1])
    return None


def _cut(text: str, words: list[tuple[str, int, int]], first: int, second: int) -> int:
    """Cut offset for a repeat whose occurrences start at word indexes ``first`` < ``second``.

    The cut goes after a word that ends a sentence or a line, at most one period (``second - first``
    words) into the second copy, so one whole unit of the loop is kept; else right before the second
    occurrence. Cutting after a word also drops a list marker ("2.") that starts the next copy.
    """
    for k in range(second, min(2 * second - first, len(words))):
        end = words[k - 1][2]
        if text[end - 1] in ".!?:" or "\n" in text[end : words[k][1]]:
            return end
    return words[second - 1][2]


def _char_loop(text: str, min_chars: int, max_period: int, repeats: int) -> int | None:
    """Offset where a periodic tail's second period starts, or ``None`` when the tail is not periodic."""
    tail = text.rstrip()
    end = len(tail)
    for period in range(1, max_period + 1):
        span = max(min_chars, repeats * period)
        if end < span:
            break
        # Walk back from the last period while every character equals the one a period later.
        start = end - period
        while start > 0 and tail[start - 1] == tail[start - 1 + period]:
            start -= 1
        if end - start >= span:
            return start + period
    return None


def find_loop(
    text: str,
    *,
    ngram_words: int = LOOP_NGRAM_WORDS,
    repeats: int = LOOP_REPEATS,
    min_chars: int = LOOP_MIN_CHARS,
    max_period_chars: int = LOOP_MAX_PERIOD_CHARS,
) -> int | None:
    """Find where a looping reply should be cut.

    Args:
        text: The reply so far (any length; a partial last word is fine).
        ngram_words: Words in the repeated n-gram of the word rule.
        repeats: Occurrences of that n-gram that make a loop (at least 2); the character rule also
            needs this many periods.
        min_chars: Shortest periodic tail (characters) of the character rule.
        max_period_chars: Longest period (characters) of the character rule.

    Returns:
        The character offset at which to cut ``text`` (``text[:offset]`` keeps one copy of the
        repeated part), or ``None`` when the text does not loop. When both rules fire, the earlier
        offset wins.

    Raises:
        ValueError: ``ngram_words`` < 1 or ``repeats`` < 2.
    """
    if ngram_words < 1 or repeats < 2:
        raise ValueError(f"need ngram_words >= 1 and repeats >= 2, got {ngram_words} and {repeats}")
    cuts = [
        cut
        for cut in (
            _word_loop(text, ngram_words, repeats),
            _char_loop(text, min_chars, max_period_chars, repeats),
        )
        if cut is not None
    ]
    return min(cuts) if cuts else None
