"""Typed values passed between the engine's stages, the CLI and the UI.

Small frozen dataclasses instead of tuples or raw rows (STYLE.md, practice 7). No imports of drivers
or models here, so every layer can use them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class Section:
    """A contiguous piece of a loaded document's text.

    Attributes:
        text: The text (characters), already cleaned of markup.
        page: 1-based page number for paginated formats (PDF), else ``None``.
        heading_path: Headings above this text, outermost first, e.g. ``("Install", "Linux")``.
    """

    text: str
    page: int | None = None
    heading_path: tuple[str, ...] = ()


@dataclass(frozen=True)
class LoadedDocument:
    """One document produced by a loader, before chunking.

    Attributes:
        title: Human title (PDF/HTML title, first heading, file stem, CSV title column...).
        source_name: Unique name inside a collection; re-ingesting the same name replaces the old
            version. A file's name, or ``file.csv#row-3`` / ``corpus.jsonl#<_id>`` for row documents.
        media_type: MIME type, e.g. ``application/pdf``, ``text/markdown``.
        sections: The text in reading order; page numbers / heading paths on each section.
        content_sha256: Hex sha256 of the bytes this document came from (the file, or the row/line).
        size_bytes: Size of those bytes.
        external_id: An id given by the source (BEIR ``_id``), kept for evaluation runs.
        metadata: Free-form JSON-serialisable metadata (CSV extra columns, PDF info and
            ``pages_without_text``...), stored in ``documents.metadata``.
        page_count: Number of pages for paginated formats, else ``None``.
        original: The bytes of the file when the document is the whole file (PDF, DOCX, HTML,
            Markdown, text, CSV in file mode), kept in ``document_originals`` for the citation viewer
            and the download button; ``None`` for documents that are a row or line of a file.
    """

    title: str
    source_name: str
    media_type: str
    sections: tuple[Section, ...]
    content_sha256: str
    size_bytes: int
    external_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    page_count: int | None = None
    original: bytes | None = field(default=None, repr=False, compare=False)

    @property
    def pages_without_text(self) -> tuple[int, ...]:
        """1-based pages the PDF loader found no text on (``metadata["pages_without_text"]``), else ``()``."""
        return tuple(int(page) for page in self.metadata.get("pages_without_text") or ())


@dataclass(frozen=True)
class ChunkDraft:
    """A chunk before it is stored.

    Attributes:
        ordinal: 0-based position in the document.
        text: The passage (characters of the document, no header).
        context: Header prepended to ``text`` for embedding and lexical indexing (title and heading
            path, one per line); ``embedding_input == context + text``.
        page_start, page_end: First and last 1-based page the passage covers, or ``None``.
        heading_path: Headings above the passage.
        char_start, char_end: Offsets of ``text`` in the document's full text (sections joined
            with ``"\\n\\n"``), end exclusive.
        token_count: Tokens of ``embedding_input`` in the embedding model's tokenizer, including
            special tokens; never above the model's max sequence length.
        sha256: Hex sha256 of ``embedding_input`` (UTF-8); equal hashes share one embedding.
    """

    ordinal: int
    text: str
    context: str
    page_start: int | None
    page_end: int | None
    heading_path: tuple[str, ...]
    char_start: int
    char_end: int
    token_count: int
    sha256: str

    @property
    def embedding_input(self) -> str:
        """The exact string that is embedded and lexically indexed."""
        return self.context + self.text


IngestStatus = Literal["new", "unchanged", "replaced", "failed"]


@dataclass(frozen=True)
class IngestResult:
    """Outcome of ingesting one document (or one file that failed before yielding documents).

    Attributes:
        source_name: The document's source name (or the file path when loading failed).
        status: ``new``, ``unchanged``, ``replaced`` or ``failed``.
        document_id: Database id when stored or already present.
        chunks: Chunks stored (0 for unchanged/failed).
        embedded: Chunks whose embedding was computed (the rest reused by chunk sha256).
        error: Readable reason when ``status == "failed"``.
        note: Why an ``unchanged`` document was skipped when it is not already stored, e.g.
            ``"already ingested by another process"``.
        pages_without_text: 1-based pages of a PDF with no text layer (besides page numbers and
            running headers): scanned or blank pages, not indexed. ``()`` for other formats.
    """

    source_name: str
    status: IngestStatus
    document_id: int | None = None
    chunks: int = 0
    embedded: int = 0
    error: str | None = None
    note: str | None = None
    pages_without_text: tuple[int, ...] = ()


def pages_without_text_note(pages: Sequence[int], page_count: int | None = None) -> str:
    """One line telling which pages had no text, for the ingest result and the document details.

    Consecutive pages are written as ranges and at most 12 ranges are listed.

    Args:
        pages: 1-based page numbers, ascending.
        page_count: The document's pages, for "3 of 64 pages"; ``None`` leaves it out.

    Returns:
        E.g. ``"3 of 64 pages have no text (1, 8-9), so they are not searchable: blank pages, or
        scans OCR could not read"``; ``""`` when ``pages`` is empty.
    """
    if not pages:
        return ""
    shown = page_ranges(pages)
    one = len(pages) == 1
    count = f"{len(pages)} of {page_count} pages" if page_count else f"{len(pages)} page{'' if one else 's'}"
    return (
        f"{count} {'has' if one else 'have'} no text ({shown}), so {'it is' if one else 'they are'} "
        "not searchable: blank pages, or scans OCR could not read"
    )


def page_ranges(pages: Sequence[int], limit: int = 12) -> str:
    """``"1, 8-9, 12"``: ascending 1-based pages as ranges, at most ``limit`` of them then ``", …"``."""
    ranges: list[list[int]] = []
    for page in pages:
        if ranges and page == ranges[-1][1] + 1:
            ranges[-1][1] = page
        else:
            ranges.append([page, page])
    shown = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges[:limit])
    return shown + (", …" if len(ranges) > limit else "")


def ocr_pages_note(pages: Sequence[int], page_count: int | None = None) -> str:
    """One line telling which pages were read by OCR, for the document details.

    Args:
        pages: 1-based page numbers, ascending (``metadata["ocr_pages"]``).
        page_count: The document's pages, for "2 of 9 pages"; ``None`` leaves it out.

    Returns:
        E.g. ``"2 of 9 pages were read by OCR (3, 5)"``; ``""`` when ``pages`` is empty.
    """
    if not pages:
        return ""
    one = len(pages) == 1
    count = f"{len(pages)} of {page_count} pages" if page_count else f"{len(pages)} page{'' if one else 's'}"
    return f"{count} {'was' if one else 'were'} read by OCR ({page_ranges(pages)})"


SearchMode = Literal["lexical", "vector", "hybrid", "rerank"]


@dataclass(frozen=True)
class Passage:
    """A stored chunk's passage with the fields of its document that a citation shows.

    Attributes:
        chunk_id, document_id: Database ids.
        title, source_name, external_id, media_type: From the chunk's document.
        text: The passage (no context header).
        page_start, page_end: 1-based pages, or ``None``.
        heading_path: Headings above the passage.
        from_ocr: True when (part of) the passage's text was read by OCR from a scanned page or an
            image: one of its pages is in its document's ``metadata["ocr_pages"]``.
    """

    chunk_id: int
    document_id: int
    title: str
    source_name: str
    external_id: str | None
    media_type: str
    text: str
    page_start: int | None
    page_end: int | None
    heading_path: tuple[str, ...]
    from_ocr: bool = False


@dataclass(frozen=True)
class Candidate(Passage):
    """One retrieved chunk with every stage's view of it (a row of the retrieval trace).

    Ranks are 1-based; ``None`` means the chunk was not in that stage's list.

    Attributes:
        (the :class:`Passage` fields), and:
        lexical_rank, bm25_score: Position and Okapi BM25 score in the lexical list.
        vector_rank, cosine_distance: Position and pgvector ``<=>`` distance (1 - cosine similarity,
            in [0, 2]) in the vector list.
        rrf_score: Weighted reciprocal rank fusion score (Cormack et al. 2009).
        rerank_score: Cross-encoder score (a logit, higher is better), ``None`` when not reranked.
        final_rank: Position after the last stage (1-based), ``None`` when cut.
        kept: Whether the chunk is in the final top-k.
    """

    lexical_rank: int | None = None
    bm25_score: float | None = None
    vector_rank: int | None = None
    cosine_distance: float | None = None
    rrf_score: float | None = None
    rerank_score: float | None = None
    final_rank: int | None = None
    kept: bool = False

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Candidate:
        """Rebuild from ``dataclasses.asdict`` output (JSON lists become tuples; unknown keys ignored)."""
        known = {f: data[f] for f in cls.__dataclass_fields__ if f in data}
        known["heading_path"] = tuple(known.get("heading_path") or ())
        return cls(**known)

    @property
    def similarity(self) -> float | None:
        """Cosine similarity ``1 - cosine_distance`` in [-1, 1], or ``None`` if not vector-ranked."""
        return None if self.cosine_distance is None else 1.0 - self.cosine_distance

    @property
    def pages_label(self) -> str:
        """``"p. 3"``, ``"pp. 3-4"`` or ``""`` for unpaginated documents."""
        if self.page_start is None:
            return ""
        if self.page_end is None or self.page_end == self.page_start:
            return f"p. {self.page_start}"
        return f"pp. {self.page_start}-{self.page_end}"
