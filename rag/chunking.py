r"""Split a loaded document into passages that the embedding model sees whole.

Each chunk is embedded (and lexically indexed) as ``context + text``: a short header with the document
title and heading path (:func:`build_context`), then a passage of the document. Passages come from
LangChain's ``RecursiveCharacterTextSplitter`` (separators paragraph, line, sentence, word, character)
with lengths measured in the embedding model's own tokens, so that the whole embedding input stays
within ``min(chunk_size, embedder.max_tokens)`` tokens, special tokens included. MiniLM silently drops
everything after 256 word pieces; here no text is ever lost that way: every chunk is checked with
``embedder.count_tokens`` and split further by tokens if it is still too long.

Character offsets refer to :func:`full_text` (sections joined with ``"\n\n"``):
``full_text(doc)[c.char_start:c.char_end] == c.text`` for every chunk.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rag.embedding import Embedder
from rag.errors import ConfigError, RagError
from rag.models import ChunkDraft, LoadedDocument

SECTION_SEPARATOR = "\n\n"
"""Joins sections in :func:`full_text`; also the splitter's strongest boundary."""

SEPARATORS = ["\n\n", "\n", ". ", " ", ""]
"""Split points tried in order: paragraph, line, sentence end, word, character."""

HEADING_SEPARATOR = " > "
ELLIPSIS = "…"
SHORT_STREAM_CHARS_PER_TOKEN = 4
"""Streams up to this many characters per budget token are first tried as one chunk (a speed-up)."""
MIN_CHUNK_SIZE = 16
"""Smallest accepted ``chunk_size`` in tokens (same floor as ``Settings.validate``)."""
MAX_CHARS_PER_TOKEN = 10
"""Chunk lengths count at least one token per this many characters, so chunks stay bounded in characters.

WordPiece (MiniLM's tokenizer) turns any whitespace-free run over 100 characters into ONE ``[UNK]``
token (``max_input_chars_per_word``), so a base64 blob or a long URL list made a "256-token" chunk of
32,120 characters. English prose averages ~4.4 characters per MiniLM token (SciFact) and code ~3,
so real text never meets this floor: at ``chunk_size`` 256 a chunk holds at most 2,560 characters.
"""


@dataclass(frozen=True)
class _Group:
    """Consecutive sections sharing one heading path: one stream of text for the splitter."""

    heading_path: tuple[str, ...]
    start: int  # character offsets in full_text, end exclusive
    end: int


class _Meter:
    """Token measurements of one document, memoised: the splitter measures each piece repeatedly.

    Tokenizing dominates chunking time (SciFact: most of it), so each distinct string is tokenized
    once per document; the memo is dropped with the document.
    """

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self._lengths: dict[str, int] = {}
        self._counts: dict[str, int] = {}

    def length(self, text: str) -> int:
        """Return the tokens of ``text`` without special tokens (the splitter's length function).

        No character floor here: the splitter sums its pieces' lengths, and a floor on single
        characters would make every character a token. :meth:`count` applies the floor to the
        joined passage, and a passage over it is cut by :func:`_split_by_tokens`.
        """
        n = self._lengths.get(text)
        if n is None:
            n = self._lengths[text] = len(self.embedder.tokenize(text))
        return n

    def count(self, text: str) -> int:
        """Return :meth:`model_count`, but at least ``len(text) / MAX_CHARS_PER_TOKEN`` (rounded up)."""
        return max(self.model_count(text), -(-len(text) // MAX_CHARS_PER_TOKEN))

    def model_count(self, text: str) -> int:
        """Return ``embedder.count_tokens(text)``: tokens as the model sees them, specials included."""
        n = self._counts.get(text)
        if n is None:
            n = self._counts[text] = self.embedder.count_tokens(text)
        return n


def full_text(doc: LoadedDocument) -> str:
    r"""Return the document's text as one string: its sections' text joined with ``"\n\n"``.

    Args:
        doc: A loaded document.

    Returns:
        The string that chunk character offsets (``char_start``, ``char_end``) refer to.
    """
    return SECTION_SEPARATOR.join(section.text for section in doc.sections)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def build_context(title: str, heading_path: Sequence[str]) -> str:
    r"""Return the header prepended to every chunk's passage for embedding and lexical indexing.

    Whitespace inside the title and headings is collapsed so each takes one line.

    Args:
        title: The document title (its line is left out when empty).
        heading_path: Headings above the passage, outermost first.

    Returns:
        ``"title\nH1 > H2\n"``; the heading line only when there are headings, ``""`` when both
        are empty.
    """
    lines = [_one_line(title), HEADING_SEPARATOR.join(h for h in map(_one_line, heading_path) if h)]
    return "".join(line + "\n" for line in lines if line)


def chunk_document(
    doc: LoadedDocument, embedder: Embedder, chunk_size: int, chunk_overlap: int
) -> list[ChunkDraft]:
    """Split a document into chunks whose embedding input fits the model.

    Consecutive sections with the same heading path and page form one stream; a change of heading
    path or of page is a hard boundary, so every chunk of a paginated document cites exactly one page
    (a paragraph running over a page break becomes two chunks: the price of exact citations). Within a stream the passages come
    from ``RecursiveCharacterTextSplitter`` with a token budget of ``min(chunk_size,
    embedder.max_tokens)`` minus the header's tokens (special tokens included). Consecutive passages
    share up to ``chunk_overlap`` tokens (capped at half the passage budget) made of whole pieces as
    LangChain keeps them: trailing sentences (or lines, words) of the previous passage, so there is
    no overlap where the last sentence alone is longer than ``chunk_overlap``. A stream's last passage
    shorter than ``max(16, chunk_size // 8)`` tokens is merged into the one before when the result
    still fits.

    A header longer than half the available tokens (very long title or heading path) is shortened
    with "…" so the passage keeps at least half; the chunk's ``context`` is then the shortened header.

    Args:
        doc: The document to split.
        embedder: The embedding model whose tokenizer measures lengths.
        chunk_size: Maximum tokens of a chunk's embedding input (header + passage, special tokens
            included); capped at ``embedder.max_tokens``.
        chunk_overlap: Tokens shared by consecutive chunks of one stream; must be < ``chunk_size``.

    Returns:
        Chunks in document order, ordinals 0..n-1; ``[]`` for a document without text. For each:
        ``embedder.count_tokens(c.embedding_input) <= min(chunk_size, embedder.max_tokens)`` and
        ``full_text(doc)[c.char_start:c.char_end] == c.text``.

    Raises:
        ConfigError: ``chunk_size`` below 16, ``chunk_overlap`` negative or not below ``chunk_size``,
            or a model limit too small to hold any text.
        RagError: internal inconsistency (a passage not found in the text); should never happen.
    """
    _validate(chunk_size, chunk_overlap)
    limit = min(chunk_size, embedder.max_tokens)
    meter = _Meter(embedder)
    if limit - meter.count("") < MIN_CHUNK_SIZE // 2:
        raise ConfigError(
            f"embedding model {embedder.name!r} allows {embedder.max_tokens} tokens per input, too few to "
            f"chunk with chunk_size {chunk_size}: use a model with a longer input"
        )
    text = full_text(doc)
    section_starts, section_ends, section_pages = _section_spans(doc)
    chunks: list[ChunkDraft] = []
    for group in _groups(doc):
        context = _fit_context(doc.title, group.heading_path, meter, limit)
        for start, end in _split_group(text, group, context, meter, limit, chunk_size, chunk_overlap):
            passage = text[start:end]
            embedding_input = context + passage
            pages = _pages(section_starts, section_ends, section_pages, start, end)
            chunks.append(
                ChunkDraft(
                    ordinal=len(chunks),
                    text=passage,
                    context=context,
                    page_start=min(pages) if pages else None,
                    page_end=max(pages) if pages else None,
                    heading_path=group.heading_path,
                    char_start=start,
                    char_end=end,
                    token_count=meter.model_count(embedding_input),
                    sha256=hashlib.sha256(embedding_input.encode("utf-8")).hexdigest(),
                )
            )
    return chunks


def _validate(chunk_size: int, chunk_overlap: int) -> None:
    if chunk_size < MIN_CHUNK_SIZE:
        raise ConfigError(f"chunk_size {chunk_size} is too small: use at least {MIN_CHUNK_SIZE} tokens")
    if chunk_overlap < 0:
        raise ConfigError(f"chunk_overlap {chunk_overlap} must be >= 0 (0 disables overlap)")
    if chunk_overlap >= chunk_size:
        raise ConfigError(f"chunk_overlap {chunk_overlap} must be smaller than chunk_size {chunk_size}")


def _section_spans(doc: LoadedDocument) -> tuple[list[int], list[int], list[int | None]]:
    """Start offsets, end offsets and pages of the sections in :func:`full_text`."""
    starts: list[int] = []
    ends: list[int] = []
    pages: list[int | None] = []
    position = 0
    for section in doc.sections:
        starts.append(position)
        ends.append(position + len(section.text))
        pages.append(section.page)
        position += len(section.text) + len(SECTION_SEPARATOR)
    return starts, ends, pages


def _pages(starts: list[int], ends: list[int], pages: list[int | None], start: int, end: int) -> list[int]:
    """Pages of the sections that the span ``[start, end)`` overlaps (non-empty overlap only)."""
    found: list[int] = []
    for i in range(max(0, bisect.bisect_right(starts, start) - 1), len(starts)):
        if starts[i] >= end:
            break
        page = pages[i]
        if ends[i] > start and page is not None:
            found.append(page)
    return found


def _groups(doc: LoadedDocument) -> list[_Group]:
    """Return the runs of consecutive sections with equal heading path and page, as spans of :func:`full_text`."""
    groups: list[_Group] = []
    position = 0
    previous_page: int | None = None
    for section in doc.sections:
        end = position + len(section.text)
        if groups and groups[-1].heading_path == section.heading_path and previous_page == section.page:
            groups[-1] = _Group(section.heading_path, groups[-1].start, end)
        else:
            groups.append(_Group(section.heading_path, position, end))
        previous_page = section.page
        position = end + len(SECTION_SEPARATOR)
    return groups


def _split_group(
    text: str,
    group: _Group,
    context: str,
    meter: _Meter,
    limit: int,
    chunk_size: int,
    chunk_overlap: int,
) -> list[tuple[int, int]]:
    """Passages of one group as ``(start, end)`` offsets in ``text``, each fitting with ``context``."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    group_text = text[group.start : group.end]
    whole = _strip_span(text, group.start, group.end)
    if whole[0] == whole[1]:
        return []
    budget = limit - meter.count(context)
    # A short stream is one chunk: one exact count instead of measuring its pieces and then the chunk.
    # Tried only when it probably fits (English averages ~4.4 characters per MiniLM token on SciFact).
    if whole[1] - whole[0] <= SHORT_STREAM_CHARS_PER_TOKEN * budget:
        if meter.count(context + text[whole[0] : whole[1]]) <= limit:
            return [whole]
    splitter = RecursiveCharacterTextSplitter(
        chunk_size=budget,
        chunk_overlap=min(chunk_overlap, budget // 2),
        length_function=meter.length,
        separators=SEPARATORS,
        keep_separator="end",  # sentences keep their ". ", so passages start at a sentence
        strip_whitespace=True,
    )
    spans: list[tuple[int, int]] = []
    cursor = 0
    for piece in splitter.split_text(group_text):
        # Pieces are stripped substrings of group_text in order (keep_separator re-joins with ""),
        # so searching forward from the previous start gives exact offsets. LangChain's own
        # add_start_index guesses the search start with the overlap in characters, which is wrong
        # for token lengths.
        index = group_text.find(piece, cursor)
        if index < 0:
            raise RagError(f"chunking lost track of a passage in {group_text[:60]!r}; please report this")
        cursor = index + 1
        start, end = group.start + index, group.start + index + len(piece)
        if meter.count(context + piece) <= limit:
            spans.append((start, end))
        else:  # the splitter's sum of piece lengths can differ from the tokens of the joined text
            spans.extend(_split_by_tokens(text, start, end, context, meter, limit))
    return _merge_tiny_tail(text, spans, context, meter, limit, max(16, chunk_size // 8))


def _merge_tiny_tail(
    text: str,
    spans: list[tuple[int, int]],
    context: str,
    meter: _Meter,
    limit: int,
    tiny: int,
) -> list[tuple[int, int]]:
    """Merge a group's last passage into the one before if it has < ``tiny`` tokens and still fits.

    The recursive splitter packs the pieces of a long paragraph separately from what follows it, so a
    short closing sentence can end up alone.
    """
    if len(spans) < 2:
        return spans
    (prev_start, _), (last_start, last_end) = spans[-2], spans[-1]
    if meter.length(text[last_start:last_end]) >= tiny:
        return spans
    if meter.count(context + text[prev_start:last_end]) > limit:
        return spans
    return [*spans[:-2], (prev_start, last_end)]


def _strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _split_by_tokens(
    text: str, start: int, end: int, context: str, meter: _Meter, limit: int
) -> list[tuple[int, int]]:
    """Cut ``text[start:end]`` greedily into the longest spans that fit with ``context``.

    Cuts fall on whitespace where possible, else between characters; found by binary search with
    ``embedder.count_tokens``. Only used when the splitter's output is still too long (rare).
    """

    def fits(a: int, b: int) -> bool:
        return meter.count(context + text[a:b]) <= limit

    spans: list[tuple[int, int]] = []
    start, end = _strip_span(text, start, end)
    while start < end:
        if fits(start, end):
            spans.append((start, end))
            break
        word_ends = [i for i in range(start + 1, end) if text[i].isspace() and not text[i - 1].isspace()]
        cut = _last_fitting(word_ends, functools.partial(fits, start))
        if cut is None:  # the first word alone is too long: cut inside it
            cut = _last_fitting(list(range(start + 1, end)), functools.partial(fits, start)) or start + 1
        spans.append(_strip_span(text, start, cut))
        start, end = _strip_span(text, cut, end)
    return spans


def _last_fitting(candidates: list[int], fits: Callable[[int], bool]) -> int | None:
    """Return the largest candidate (ascending list) for which ``fits`` holds, assuming monotonicity."""
    lo, hi, best = 0, len(candidates) - 1, None
    while lo <= hi:
        mid = (lo + hi) // 2
        if fits(candidates[mid]):
            best, lo = candidates[mid], mid + 1
        else:
            hi = mid - 1
    return best


def _truncate(text: str, max_tokens: int, meter: _Meter, keep_end: bool = False) -> str:
    """Shorten ``text`` at word boundaries to at most ``max_tokens`` tokens, marking the cut with "…".

    Args:
        text: One line of text.
        max_tokens: Token budget (without special tokens) for the result, ellipsis included.
        meter: Measures tokens.
        keep_end: Keep the end of ``text`` (innermost headings) instead of its start.

    Returns:
        ``text`` itself when it fits, else its longest fitting prefix (suffix) plus "…", cut between
        words, or between characters when a single word is too long; ``""`` when nothing fits.
    """
    if max_tokens <= 0 or not text:
        return ""
    if meter.length(text) <= max_tokens:
        return text

    def shortened(units: list[str], k: int, joiner: str) -> str:
        kept = joiner.join(units[len(units) - k :] if keep_end else units[:k])
        return ELLIPSIS + joiner + kept if keep_end else kept + joiner + ELLIPSIS

    for units, joiner in ((text.split(" "), " "), (list(text), "")):

        def fits(k: int, units: list[str] = units, joiner: str = joiner) -> bool:
            return meter.length(shortened(units, k, joiner)) <= max_tokens

        best = _last_fitting(list(range(1, len(units))), fits)
        if best is not None:
            return shortened(units, best, joiner)
    return ELLIPSIS if meter.length(ELLIPSIS) <= max_tokens else ""


def _fit_context(title: str, heading_path: tuple[str, ...], meter: _Meter, limit: int) -> str:
    """Return :func:`build_context`, shortened if needed so the passage keeps half the token budget.

    Args:
        title: Document title.
        heading_path: Headings above the passage.
        meter: Measures tokens.
        limit: Token limit of the whole embedding input, special tokens included.

    Returns:
        A header of at most ``(limit - special tokens) // 2`` tokens. When both lines are too long,
        each keeps at least half of that; the title keeps its start, the heading path its end
        (the innermost, most specific headings).
    """
    context = build_context(title, heading_path)
    special = meter.count("")
    max_header = (limit - special) // 2
    if meter.count(context) - special <= max_header:
        return context
    title_line = _one_line(title)
    heading_line = build_context("", heading_path).rstrip("\n")
    heading_tokens = meter.length(heading_line)
    title_tokens = meter.length(title_line)
    for budget in range(max_header, 0, -1):  # shrink further if joining the lines adds tokens
        heading_budget = min(heading_tokens, max(budget // 2, budget - title_tokens))
        lines = (
            _truncate(title_line, budget - heading_budget, meter),
            _truncate(heading_line, heading_budget, meter, keep_end=True),
        )
        shortened = "".join(line + "\n" for line in lines if line)
        if meter.count(shortened) - special <= max_header:
            return shortened
    return ""
