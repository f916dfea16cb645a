"""What goes into the chunks: navigation, page furniture, run-together words, pages without text, titles.

Usage:
    .venv/bin/python benchmarks/extraction_quality.py --list benchmarks/extraction_files.txt
    .venv/bin/python benchmarks/extraction_quality.py /usr/share/doc/postgresql-doc-15/html/brin*.html

Every file is loaded with ``rag.loaders.load_bytes`` (``.gz`` files are decompressed in memory, as
Debian ships many manuals) and chunked with ``rag.chunking.chunk_document`` at the default chunk size
with the default embedding model's tokenizer, exactly as ingestion does; nothing is stored. Run it
with another ``PYTHONPATH`` to measure another checkout (``PYTHONPATH=/work/main`` for main).

Reported, in total and per file (the measures are defined in ``extraction_metrics.py``):

- ``navigation_only``: chunks that are page navigation (target 0).
- ``mostly_furniture``: chunks whose characters are mostly dot leaders, page numbers, running
  headers or footers (target 0); ``furniture_lines`` and ``dot_leader_lines`` count such lines left
  anywhere in chunks.
- ``run_together_pct``: run-together words per 100 words of chunk text (target below 1).
- ``pages_without_text_layer``: pages of a PDF whose text layer has no letter or digit at all
  (read here with pypdfium2, independently of the loader), next to ``pages_without_text_reported``,
  the pages the loader itself reports in ``metadata["pages_without_text"]`` (these also count pages
  with nothing but a running header and a page number).
- ``ambiguous_titles``: documents whose title another document of the run has too.
- ``warnings``: Python warnings and log records of level WARNING and above raised while loading,
  by category or logger.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from extraction_metrics import (
    furniture_keys,
    is_dot_leader_line,
    is_furniture_line,
    is_mostly_furniture,
    is_navigation_only,
    rate,
    run_together_words,
)
from pdf_libraries import pypdfium2_pages

from rag.chunking import chunk_document
from rag.config import Settings
from rag.embedding import load_embedder
from rag.errors import RagError
from rag.loaders import iter_files, load_bytes
from rag.models import LoadedDocument


@dataclass
class FileReport:
    """The measures of one file."""

    file: str
    title: str = ""
    chunks: int = 0
    navigation_only: int = 0
    mostly_furniture: int = 0
    furniture_lines: int = 0
    dot_leader_lines: int = 0
    words: int = 0
    run_together: int = 0
    pages: int | None = None
    pages_without_text_layer: list[int] = field(default_factory=list)
    reported_pages_without_text: list[int] | None = None
    error: str = ""
    examples: list[str] = field(default_factory=list)


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.names: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        self.names[f"log {record.name}"] += 1


def read(path: Path) -> tuple[bytes, str]:
    """The file's bytes and name; ``x.pdf.gz`` is decompressed and named ``x.pdf``."""
    data = path.read_bytes()
    if path.suffix == ".gz":
        return gzip.decompress(data), path.stem
    return data, path.name


def _page_texts(document: LoadedDocument) -> list[str]:
    by_page: dict[int, list[str]] = {}
    for section in document.sections:
        if section.page is not None:
            by_page.setdefault(section.page, []).append(section.text)
    return ["\n".join(texts) for _, texts in sorted(by_page.items())]


def _pages_without_text_layer(data: bytes) -> list[int]:
    texts = pypdfium2_pages(data)
    return [number for number, text in enumerate(texts, start=1) if not any(c.isalnum() for c in text)]


def measure_file(path: Path, embedder: object, settings: Settings, warned: Counter[str]) -> FileReport:
    """Load and chunk one file and measure its chunks."""
    data, name = read(path)
    report = FileReport(file=str(path))
    records = _Records()
    root = logging.getLogger()
    root.addHandler(records)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            documents = list(load_bytes(data, name))
    except RagError as exc:
        report.error = str(exc)
        return report
    finally:
        root.removeHandler(records)
    warned.update(f"warning {w.category.__name__}" for w in caught)
    warned.update(records.names)

    for document in documents:
        report.title = document.title
        pages = _page_texts(document)
        repeated = furniture_keys(pages) if document.page_count else frozenset()
        if document.page_count:
            report.pages = document.page_count
            report.pages_without_text_layer = _pages_without_text_layer(data)
            reported = document.metadata.get("pages_without_text")
            report.reported_pages_without_text = list(reported) if reported is not None else None
        chunks = chunk_document(document, embedder, settings.chunk_size, settings.chunk_overlap)  # type: ignore[arg-type]
        report.chunks += len(chunks)
        for chunk in chunks:
            flagged, looked_at = run_together_words(chunk.text)
            report.words += looked_at
            report.run_together += len(flagged)
            lines = chunk.text.splitlines()
            report.dot_leader_lines += sum(is_dot_leader_line(line) for line in lines)
            report.furniture_lines += sum(is_furniture_line(line, repeated) for line in lines if line.strip())
            junk = ""
            if is_navigation_only(chunk.text):
                report.navigation_only += 1
                junk = "navigation"
            elif is_mostly_furniture(chunk.text, repeated):
                report.mostly_furniture += 1
                junk = "furniture"
            if junk and len(report.examples) < 3:
                report.examples.append(f"{junk}: {chunk.text[:160]!r}")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("paths", type=Path, nargs="*", help="files or folders")
    parser.add_argument("--list", type=Path, help="a file naming one path a line (# starts a comment)")
    parser.add_argument("--examples", action="store_true", help="print up to 3 flagged chunks per file")
    args = parser.parse_args()
    paths = list(args.paths)
    if args.list:
        lines = args.list.read_text(encoding="utf-8").splitlines()
        paths += [Path(line.split("#")[0].strip()) for line in lines if line.split("#")[0].strip()]
    if not paths:
        parser.error("name files, folders or --list")

    settings = Settings()
    embedder = load_embedder(settings.embedding_model)
    warned: Counter[str] = Counter()
    reports = [measure_file(path, embedder, settings, warned) for path in iter_files(paths)]

    titles = Counter(r.title for r in reports if not r.error)
    ambiguous = sorted(title for title, n in titles.items() if n > 1)
    chunks = sum(r.chunks for r in reports)
    paginated = [r for r in reports if r.pages is not None]
    for r in reports:
        line = f"{Path(r.file).name}: "
        if r.error:
            print(line + f"failed: {r.error}")
            continue
        line += (
            f"{r.chunks} chunks, {r.navigation_only} navigation-only, {r.mostly_furniture} mostly furniture, "
            f"{rate(r.run_together, r.words)} % run-together; title {r.title!r}"
        )
        if r.pages is not None:
            line += f"; {len(r.pages_without_text_layer)}/{r.pages} pages without a text layer"
            if r.reported_pages_without_text is not None:
                line += f", {len(r.reported_pages_without_text)} reported without text"
            else:
                line += ", none reported"
        print(line)
        if args.examples:
            for example in r.examples:
                print("    " + example)
    summary = {
        "files": len(reports),
        "failed": sum(bool(r.error) for r in reports),
        "chunks": chunks,
        "navigation_only": sum(r.navigation_only for r in reports),
        "mostly_furniture": sum(r.mostly_furniture for r in reports),
        "furniture_lines": sum(r.furniture_lines for r in reports),
        "dot_leader_lines": sum(r.dot_leader_lines for r in reports),
        "run_together_pct": rate(sum(r.run_together for r in reports), sum(r.words for r in reports)),
        "run_together_pct_pdf": rate(sum(r.run_together for r in paginated), sum(r.words for r in paginated)),
        "run_together_pct_html": rate(
            sum(r.run_together for r in reports if r.pages is None),
            sum(r.words for r in reports if r.pages is None),
        ),
        "pdf_pages": sum(r.pages or 0 for r in paginated),
        "pages_without_text_layer": sum(len(r.pages_without_text_layer) for r in paginated),
        "pages_without_text_reported": sum(len(r.reported_pages_without_text or []) for r in paginated),
        "ambiguous_titles": {title: titles[title] for title in ambiguous},
        "warnings": dict(warned),
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
