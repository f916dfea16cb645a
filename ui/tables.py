"""pandas frames shown by the Corpus and Inspector pages (no streamlit here, so they are unit-tested).

Retrieval candidates are typed :class:`rag.Candidate` values, from a live trace or from a stored
answer's trace (``engine.message(id).answer.trace``), so both views share one code path.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from rag import Candidate, ChunkInfo, DocumentInfo

MEDIA_TYPE_NAMES: dict[str, str] = {
    "application/pdf": "PDF",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "DOCX",
    "text/html": "HTML",
    "text/markdown": "Markdown",
    "text/plain": "Text",
    "text/csv": "CSV",
    "application/x-ndjson": "JSONL",
    "image/png": "PNG",
    "image/jpeg": "JPEG",
    "image/tiff": "TIFF",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "PPTX",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "XLSX",
    "application/vnd.oasis.opendocument.spreadsheet": "ODS",
    "application/epub+zip": "EPUB",
    "message/rfc822": "Email",
}
"""Short names of the media types the loaders produce (``rag.loaders``)."""

MISSING = "—"
"""Shown in a table cell that has no value (e.g. the pages of an HTML document)."""

CANDIDATE_COLUMNS: tuple[str, ...] = (
    "final rank",
    "moved",
    "kept",
    "title",
    "pages",
    "lexical rank",
    "BM25",
    "vector rank",
    "cosine distance",
    "fused rank",
    "RRF score",
    "rerank score",
    "chunk",
    "passage",
)
"""Columns of :func:`candidates_frame`, in display order."""

STAGE_ORDER: tuple[str, ...] = (
    "rewrite",
    "query_embedding",
    "lexical",
    "vector",
    "fusion",
    "details",
    "rerank",
    "prompt_build",
    "time_to_first_token",
    "generation",
    "verification",
)
"""Pipeline stages in the order they run (keys of ``timings_ms``; ``total`` is not a stage)."""


def media_type_name(media_type: str) -> str:
    """``PDF`` for ``application/pdf``...; unknown types are returned as they are."""
    return MEDIA_TYPE_NAMES.get(media_type, media_type)


def pages_label(start: int | None, end: int | None) -> str:
    """``"3"``, ``"3-4"`` or ``""`` (not paginated)."""
    if start is None:
        return ""
    return str(start) if end is None or end == start else f"{start}-{end}"


def documents_frame(documents: Sequence[DocumentInfo]) -> pd.DataFrame:
    """One row per document: id, title, type, pages, chunks, size (KiB), embedding model, added, source.

    ``pages`` is text: the page count, or :data:`MISSING` for formats without pages (a number
    column would show Streamlit's "None").
    """
    columns = ["id", "title", "type", "pages", "chunks", "size (KiB)", "embedding model", "added", "source"]
    rows = [
        {
            "id": d.id,
            "title": d.title,
            "type": media_type_name(d.media_type),
            "pages": str(d.page_count) if d.page_count is not None else MISSING,
            "chunks": d.chunk_count,
            "size (KiB)": round(d.size_bytes / 1024, 1),
            "embedding model": ", ".join(d.embedding_models),
            "added": pd.Timestamp(d.created_at),
            "source": d.source_name,
        }
        for d in documents
    ]
    return pd.DataFrame(rows, columns=columns)


def chunks_frame(chunks: Sequence[ChunkInfo]) -> pd.DataFrame:
    """One row per chunk: #, pages, OCR, section, tokens, characters, embedding model, text.

    The OCR column ("OCR" for a chunk read by OCR) is there only when some chunk was.
    """
    rows = [
        {
            "#": c.ordinal + 1,
            "pages": pages_label(c.page_start, c.page_end),
            "OCR": "OCR" if c.from_ocr else "",
            "section": " › ".join(c.heading_path),
            "tokens": c.token_count,
            "characters": len(c.text),
            "embedding model": c.embedding_model or "none",
            "text": c.text,
        }
        for c in chunks
    ]
    return pd.DataFrame(
        rows, columns=["#", "pages", "OCR", "section", "tokens", "characters", "embedding model", "text"]
    ).drop(columns=[] if any(c.from_ocr for c in chunks) else ["OCR"])


def fused_ranks(candidates: Sequence[Candidate]) -> dict[int, int]:
    """Rank of each chunk before reranking: by RRF score (hybrid/rerank), else the single list's rank.

    Returns:
        chunk id -> 1-based rank among the candidates that had one.
    """
    with_rrf = [c for c in candidates if c.rrf_score is not None]
    if with_rrf:
        ordered = sorted(with_rrf, key=lambda c: (-(c.rrf_score or 0.0), c.chunk_id))
        return {c.chunk_id: rank for rank, c in enumerate(ordered, start=1)}
    ranks = {}
    for c in candidates:
        rank = c.lexical_rank if c.lexical_rank is not None else c.vector_rank
        if rank is not None:
            ranks[c.chunk_id] = rank
    return ranks


def movement(fused: int | None, final: int | None) -> str:
    """``▲ 2`` (moved up 2 places from its fused rank), ``▼ 1``, ``=`` or ``""`` when not comparable."""
    if fused is None or final is None:
        return ""
    delta = fused - final
    if delta > 0:
        return f"▲ {delta}"
    if delta < 0:
        return f"▼ {-delta}"
    return "="


def candidates_frame(candidates: Sequence[Candidate], passage_chars: int = 160) -> pd.DataFrame:
    """The Inspector's candidate table: every stage's view of every candidate (:data:`CANDIDATE_COLUMNS`).

    Args:
        candidates: Candidates in final order (kept first).
        passage_chars: Passage text is cut to this many characters.
    """
    fused = fused_ranks(candidates)
    rows = []
    for c in candidates:
        text = c.text
        rows.append(
            {
                "final rank": c.final_rank,
                "moved": movement(fused.get(c.chunk_id), c.final_rank),
                "kept": "kept" if c.kept else "cut",
                "title": c.title,
                "pages": pages_label(c.page_start, c.page_end),
                "lexical rank": c.lexical_rank,
                "BM25": c.bm25_score,
                "vector rank": c.vector_rank,
                "cosine distance": c.cosine_distance,
                "fused rank": fused.get(c.chunk_id),
                "RRF score": c.rrf_score,
                "rerank score": c.rerank_score,
                "chunk": c.chunk_id,
                "passage": text if len(text) <= passage_chars else text[: passage_chars - 1] + "…",
            }
        )
    frame = pd.DataFrame(rows, columns=list(CANDIDATE_COLUMNS))
    for column in ("final rank", "lexical rank", "vector rank", "fused rank"):
        frame[column] = frame[column].astype("Int64")
    for column in ("BM25", "cosine distance", "RRF score", "rerank score"):
        frame[column] = frame[column].astype("Float64")
    return frame


def timings_frame(timings_ms: Mapping[str, float]) -> pd.DataFrame:
    """Per-stage latency (stage, ms) in pipeline order.

    ``total`` is not a stage; when it is present, the time no stage accounts for (e.g. a library
    imported on the first call) is shown as ``other`` so the bars add up to the total.
    """
    known = [s for s in STAGE_ORDER if s in timings_ms]
    others = sorted(s for s in timings_ms if s not in STAGE_ORDER and s != "total")
    rows = [{"stage": s, "ms": float(timings_ms[s])} for s in known + others]
    if "total" in timings_ms:
        unaccounted = float(timings_ms["total"]) - sum(r["ms"] for r in rows)
        if unaccounted >= 1.0:
            rows.append({"stage": "other", "ms": unaccounted})
    return pd.DataFrame(rows, columns=["stage", "ms"])


@dataclass(frozen=True)
class TopKDiff:
    """How the top-k of run B differs from run A (candidates from B for ``entered``, A for ``left``)."""

    entered: tuple[Candidate, ...]
    left: tuple[Candidate, ...]
    stayed: int


def compare_top_k(a: Iterable[Candidate], b: Iterable[Candidate]) -> TopKDiff:
    """Which kept chunks entered or left the top-k going from parameter set A to B."""
    kept_a = {c.chunk_id: c for c in a if c.kept}
    kept_b = {c.chunk_id: c for c in b if c.kept}
    entered = tuple(c for cid, c in kept_b.items() if cid not in kept_a)
    left = tuple(c for cid, c in kept_a.items() if cid not in kept_b)
    return TopKDiff(entered, left, len(kept_a.keys() & kept_b.keys()))


def diff_frame(diff: TopKDiff) -> pd.DataFrame:
    """Rows ``change, title, pages, rank, chunk`` for the chunks that entered or left the top-k."""
    rows = [
        {
            "change": change,
            "title": c.title,
            "pages": pages_label(c.page_start, c.page_end),
            "rank": c.final_rank,
            "chunk": c.chunk_id,
        }
        for change, group in (("entered B", diff.entered), ("left (was in A)", diff.left))
        for c in group
    ]
    frame = pd.DataFrame(rows, columns=["change", "title", "pages", "rank", "chunk"])
    frame["rank"] = frame["rank"].astype("Int64")
    return frame
