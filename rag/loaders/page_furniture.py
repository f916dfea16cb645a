"""Page furniture of paginated text: running headers and footers, page numbers, tables of contents.

A PDF's text layer holds, besides the text, what the typesetter repeats on every page. Left in, it
lands in chunks ("Debian Reference 33 / 233" before every page's text) or becomes chunks of its own
(a table of contents is pages of "1.1 Console basics . . . . . 1"). :func:`strip_furniture` takes it
out from the text of each page, using only what the text shows, so it works for any PDF library:

- **Page numbers**: a first or last line that is only a page number (``12``, ``xiv``, ``Page 3``,
  ``3 / 261``, ``- 3 -``).
- **Running headers and footers**: a line among the first two (or last two) lines of a page
  whose text, with numbers left out and case ignored, is also among the first two (last two) lines
  of at least :data:`MIN_REPEATS` pages and :data:`MIN_REPEAT_SHARE` of all pages. The share is low
  enough for a chapter's running header ("Memcheck: a memory error detector" on 29 of Valgrind's
  397 pages) and high enough to keep a line that begins a few pages by chance.
- **Tables of contents**: an entry is a line that runs into four or more leader dots and a page
  number (``Console basics . . . . 1``, ``Valgrind FAQ ...... clxxviii``). A page where entries
  are at least half of the lines left is a contents page (or a list of tables or figures) and is
  dropped whole, with its "Contents" heading and its entries that have no leaders. Entries on
  other pages are dropped too when the document has contents pages (where the contents end and
  the text begins) or the page has :data:`MIN_CONTENTS_ENTRIES` of them (a paper's contents below
  its abstract). When every page with text looks like a contents page (a price list, a one-page
  index), nothing is dropped: it is the document.
- **Pages without text**: nothing left, or no letter or digit left.

These are the usual rules of PDF-to-text pipelines (repetition at page edges with digits
normalised); no well-kept library does it on plain page text, which is why it is here.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

MIN_REPEATS = 3
"""A running header or footer is on at least this many pages..."""
MIN_REPEAT_SHARE = 0.05
"""...and on at least this share of the document's pages."""
EDGE_LINES = 2
"""Lines at the top and at the bottom of a page where running headers and footers are looked for."""
CONTENTS_PAGE_SHARE = 0.5
"""A page whose lines are at least this share of table-of-contents entries is a contents page."""
MIN_CONTENTS_ENTRIES = 3
"""A page with at least this many table-of-contents entries holds contents, even beside other text."""

_PAGE_NUMBER_RE = re.compile(
    r"^(?:page\s+)?[-–—]?\s*(?:\d{1,5}|[ivxlcdm]{1,8})\s*[-–—]?(?:\s*(?:/|of)\s*\d{1,5})?$", re.IGNORECASE
)
_DOT_LEADER_RE = re.compile(r"(?:\.\s?){4,}\s*(?:\d{1,5}|[ivxlcdm]{1,8})\s*$", re.IGNORECASE)
_NUMBER_RE = re.compile(r"\b(?:\d+|[ivxlcdm]+)\b", re.IGNORECASE)


@dataclass(frozen=True)
class PageTexts:
    """The pages' text without furniture.

    Attributes:
        texts: One text per page, in page order; ``""`` for a page with nothing left.
        without_text: 1-based numbers of the pages that had no text besides furniture (blank,
            scanned without a text layer, or only a running header and a page number).
        contents_pages: 1-based numbers of the pages dropped as tables of contents.
    """

    texts: tuple[str, ...]
    without_text: tuple[int, ...]
    contents_pages: tuple[int, ...]


def _key(line: str) -> str:
    return " ".join(_NUMBER_RE.sub("", line).lower().split())


def is_contents_entry(line: str) -> bool:
    """Whether ``line`` is a table-of-contents entry: text, four or more leader dots, a page number."""
    return _DOT_LEADER_RE.search(line) is not None


def _running_lines(pages: Sequence[list[str]]) -> tuple[frozenset[str], frozenset[str]]:
    """The keys of the running headers (top of pages) and footers (bottom)."""
    tops: Counter[str] = Counter()
    bottoms: Counter[str] = Counter()
    for lines in pages:
        tops.update({_key(line) for line in lines[:EDGE_LINES]})
        bottoms.update({_key(line) for line in lines[-EDGE_LINES:]})
    floor = max(MIN_REPEATS, MIN_REPEAT_SHARE * len(pages))

    def repeated(counts: Counter[str]) -> frozenset[str]:
        return frozenset(key for key, n in counts.items() if key and n >= floor)

    return repeated(tops), repeated(bottoms)


def _without_edges(lines: list[str], top_keys: frozenset[str], bottom_keys: frozenset[str]) -> list[str]:
    def furniture(line: str, keys: frozenset[str]) -> bool:
        return _PAGE_NUMBER_RE.match(line) is not None or _key(line) in keys

    start, end = 0, len(lines)
    while start < min(EDGE_LINES, end) and furniture(lines[start], top_keys):
        start += 1
    while end > max(start, len(lines) - EDGE_LINES) and furniture(lines[end - 1], bottom_keys):
        end -= 1
    return lines[start:end]


def strip_furniture(pages: Sequence[str]) -> PageTexts:
    """Take page numbers, running headers and footers, and tables of contents out of each page's text.

    Args:
        pages: Each page's text in page order, lines separated by ``"\\n"`` and already stripped
            (as :func:`~rag.loaders.text.clean_text` leaves them).

    Returns:
        The pages' text without furniture, the pages without text, the contents pages.
    """
    lines_by_page = [[line for line in page.split("\n") if line.strip()] for page in pages]
    top_keys, bottom_keys = _running_lines(lines_by_page)
    kept = [_without_edges(lines, top_keys, bottom_keys) for lines in lines_by_page]
    # A page with no letter or digit left (a stray "~" or rule) has no text either.
    kept = [lines if any(char.isalnum() for line in lines for char in line) else [] for lines in kept]
    entries = [sum(map(is_contents_entry, lines)) for lines in kept]
    contents = {
        number
        for number, (lines, count) in enumerate(zip(kept, entries, strict=True), start=1)
        if lines and count >= CONTENTS_PAGE_SHARE * len(lines)
    }
    # Only "contents" pages: a price list or an index, say, rather than a book's contents. Keep it all.
    is_the_document = all(number in contents for number, lines in enumerate(kept, start=1) if lines)
    texts: list[str] = []
    for number, (lines, count) in enumerate(zip(kept, entries, strict=True), start=1):
        if is_the_document:
            texts.append("\n".join(lines))
        elif number in contents:
            texts.append("")
        elif contents or count >= MIN_CONTENTS_ENTRIES:
            # Where the contents end and the text begins, or contents below a paper's abstract.
            texts.append("\n".join(line for line in lines if not is_contents_entry(line)))
        else:
            texts.append("\n".join(lines))
    return PageTexts(
        texts=tuple(texts),
        without_text=tuple(number for number, lines in enumerate(kept, start=1) if not lines),
        contents_pages=() if is_the_document else tuple(sorted(contents)),
    )
