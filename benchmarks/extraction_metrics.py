"""Text-level measures of extraction quality, shared by ``extraction_quality.py`` and ``pdf_libraries.py``.

They look only at extracted text, never at the HTML or PDF structure the loaders use, so they
judge a loader without repeating its rules. Every measure is defined here, once:

- **Navigation-only chunk**: a chunk holding at least two navigation cells (a line, or a
  ``|``-separated cell, that is only a word like Prev, Next, Up, Home, index, modules, "previous
  topic", or a ``»`` breadcrumb) where those cells plus breadcrumb trails are at least half of its
  words, or whose remaining words are fewer than 8 (the "Prev | Up | ... | Home | Next" blocks of
  DocBook, the "index | modules | next | previous" and "Python » 3.11 Documentation »" bars of Sphinx).
- **Dot-leader line**: a table-of-contents line, four or more dots (``. . . .`` or ``....``)
  followed by a page number (arabic or roman). **Furniture line**: a page number alone, or a
  line found (digits and roman numerals ignored) among the first two or last two lines of at
  least 3 pages and at least 10 % of the pages with text of a PDF: running headers and footers.
  A chunk is **mostly furniture** when dot-leader and furniture lines hold at least half of its
  characters.
- **Run-together word rate**: among the words of the text (whitespace-separated, surrounding
  punctuation and ``'s`` stripped, ASCII letters only: words with digits, ``_``, ``.`` or ``/``
  inside are code, and CamelCase words (a capital after a small letter) are identifiers, both
  skipped), the share of words of 5+ letters that are not English words but split into three or
  more English words, and into no fewer. The English words are Debian's ``wamerican`` list
  (``/usr/share/dict/words``, 104,334 entries): a word is known when it, or it without one of the
  suffixes s/es/ed/ing/ly/er, is on the list in any case; the pieces of a split are list words of
  at least 3 letters written in lower case on the list (proper nouns and abbreviations do not
  count) or one of 24 common words of 1-2 letters (``a``, ``of``, ``to``...). "Theshellprompt"
  (the + shell + prompt) counts. Two-word runs do not, because a word list cannot tell them from
  compounds it lacks ("filesystem", "hostname": 1.5 % of the words of the Debian Reference's own
  plain-text edition split in two); PDF extractors that lose spaces lose them for whole lines, so
  runs of three catch them. The measure's floor on clean text is 0.12 % (Debian Reference,
  ``debian-reference.en.txt.gz``: "functionalities", "noatime", "ifupdown"...), about 0.3 % on
  the Python library reference (lower-case identifiers such as "fromisoformat").
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

WORD_LIST = Path("/usr/share/dict/words")
"""Debian's ``wamerican`` list (``apt-get install wamerican``)."""

_SHORT_WORDS = frozenset(
    "a i am an as at be by do go he if in is it me my no of on or so to up us we".split()
)
_SUFFIXES = ("s", "es", "ed", "ing", "ly", "er")
_STRIP = "\"'`‘’“”«»()[]{}<>,.;:!?*-–—…"

# Navigation words as Sphinx, DocBook, Javadoc-style and wiki pages print them, compared lower-cased.
_NAV_CELLS = frozenset(
    {"prev", "previous", "next", "up", "home", "index", "modules", "contents", "top", "back"}
    | {"table of contents", "previous topic", "next topic", "this page", "show source", "navigation"}
    | {"report a bug", "quick search", "search", "go", "fast forward", "fast backward"}
)
_CELL_SPLIT_RE = re.compile(r"\s*\|\s*|\n")
_BREADCRUMB_RE = re.compile(r"[^\n|]*»[^\n|]*")
_DOT_LEADER_RE = re.compile(r"(?:\.\s?){4,}\s*(?:\d+|[ivxlcdm]+)\s*$", re.IGNORECASE)
_PAGE_NUMBER_RE = re.compile(r"^(?:page\s+)?(?:\d+|[ivxlcdm]+)(?:\s*(?:/|of)\s*\d+)?$", re.IGNORECASE)
_CAMEL_RE = re.compile(r"[a-z][A-Z]")
_NUMBERS_RE = re.compile(r"\b(?:\d+|[ivxlcdm]+)\b", re.IGNORECASE)


@lru_cache(maxsize=1)
def english_words(path: Path = WORD_LIST) -> tuple[frozenset[str], frozenset[str]]:
    """The word list as (every entry lower-cased, the entries of >= 3 letters written in lower case).

    Raises:
        SystemExit: The list is missing (with the command that installs it).
    """
    if not path.exists():
        raise SystemExit(f"{path} is missing: apt-get install wamerican")
    entries = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    known = frozenset(entry.lower() for entry in entries)
    pieces = frozenset(entry for entry in entries if entry.islower() and len(entry) >= 3 and "'" not in entry)
    return known, pieces | _SHORT_WORDS


def _is_known(word: str, known: frozenset[str]) -> bool:
    if word in known:
        return True
    return any(word.endswith(suffix) and word[: -len(suffix)] in known for suffix in _SUFFIXES)


def fewest_pieces(word: str, pieces: frozenset[str]) -> int:
    """The fewest ``pieces`` whose concatenation is ``word`` (lower case), 0 when none (dynamic programming)."""
    n = len(word)
    # parts[i]: fewest pieces that make word[:i], or 0 when impossible (parts[0] is the empty prefix).
    parts = [0] * (n + 1)
    parts[0] = -1
    for end in range(1, n + 1):
        for start in range(max(0, end - 24), end):
            if parts[start] and word[start:end] in pieces:
                count = 1 if parts[start] == -1 else parts[start] + 1
                if not parts[end] or count < parts[end]:
                    parts[end] = count
    return max(parts[n], 0)


def prose_words(text: str) -> list[str]:
    """The letters-only words of ``text`` with surrounding punctuation stripped (code-like words dropped)."""
    words = []
    for raw in text.split():
        word = raw.strip(_STRIP)
        if word.endswith(("'s", "’s")):
            word = word[:-2]
        if len(word) >= 2 and word.isascii() and word.isalpha() and not _CAMEL_RE.search(word):
            words.append(word)
    return words


def run_together_words(text: str) -> tuple[list[str], int]:
    """The run-together words of ``text`` and the number of words looked at (see the module docstring)."""
    known, pieces = english_words()
    words = prose_words(text)
    flagged = [
        word
        for word in words
        if len(word) >= 5 and not _is_known(word.lower(), known) and fewest_pieces(word.lower(), pieces) >= 3
    ]
    return flagged, len(words)


def is_navigation_only(text: str) -> bool:
    """Whether a chunk is page navigation rather than content (see the module docstring)."""
    cells = [cell.strip(" \t»«›‹·•") for cell in _CELL_SPLIT_RE.split(text)]
    cells = [cell for cell in cells if cell]
    nav_cells = [cell for cell in cells if cell.lower() in _NAV_CELLS]
    if len(nav_cells) < 2:
        return False
    total_words = len(text.split())
    nav_words = sum(len(cell.split()) for cell in nav_cells)
    nav_words += sum(len(trail.split()) for trail in _BREADCRUMB_RE.findall(text))
    return nav_words * 2 >= total_words or total_words - nav_words < 8


def is_dot_leader_line(line: str) -> bool:
    """Whether ``line`` is a table-of-contents entry: dots leading to a page number."""
    return _DOT_LEADER_RE.search(line) is not None


def furniture_keys(pages: Sequence[str]) -> frozenset[str]:
    """Running headers and footers of a PDF, one text per page in ``pages``.

    Returns:
        The first two and last two lines of a page (numbers removed, lower-cased) that are among
        the first two or last two lines of >= 3 pages and >= 10 % of ``pages``.
    """
    counts: Counter[str] = Counter()
    for page in pages:
        lines = [line for line in page.splitlines() if line.strip()]
        counts.update({_line_key(line) for line in lines[:2] + lines[-2:]})
    floor = max(3, len(pages) // 10)
    return frozenset(key for key, n in counts.items() if n >= floor and key)


def _line_key(line: str) -> str:
    return " ".join(_NUMBERS_RE.sub("", line).lower().split())


def is_furniture_line(line: str, repeated: frozenset[str]) -> bool:
    """Whether ``line`` is a page number alone or one of the ``repeated`` lines (:func:`furniture_keys`)."""
    stripped = line.strip()
    return bool(_PAGE_NUMBER_RE.match(stripped)) or (bool(repeated) and _line_key(stripped) in repeated)


def is_mostly_furniture(text: str, repeated: frozenset[str] = frozenset()) -> bool:
    """Whether dot-leader and furniture lines hold at least half of the chunk's characters."""
    lines = [line for line in text.splitlines() if line.strip()]
    total = sum(len(line) for line in lines)
    junk = sum(len(line) for line in lines if is_dot_leader_line(line) or is_furniture_line(line, repeated))
    return total > 0 and junk * 2 >= total


def rate(part: int, whole: int) -> float:
    """``part / whole`` as a percentage with 2 decimals (0 when ``whole`` is 0)."""
    return round(100.0 * part / whole, 2) if whole else 0.0
