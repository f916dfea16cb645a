"""Compare PDF text extraction libraries on real PDFs: text quality, pages without text, speed.

Usage:
    .venv/bin/python benchmarks/pdf_libraries.py /usr/share/debian-reference/debian-reference.en.pdf \\
        /usr/share/doc/valgrind/valgrind_manual.pdf.gz ...

Each installed library extracts every page's raw text (no cleaning of ours); a library that is not
installed is skipped. For the libraries the project does not depend on, install them into a scratch
virtualenv first: ``pip install pypdf pypdfium2 pdfminer.six pdfplumber pymupdf``.
``.pdf.gz`` files (as Debian ships many manuals) are decompressed in memory.

Per library, over all files: pages, pages without text (no word character), the run-together word
rate and dot-leader lines (defined in ``extraction_metrics.py``), and speed in pages/s, also as a ratio
to pypdf's in the same run (the machine is shared: only ratios within one run mean anything).
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import io
import json
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from extraction_metrics import is_dot_leader_line, rate, run_together_words

_WORD_RE = re.compile(r"\w")


def _pypdf(data: bytes) -> list[str]:
    from pypdf import PdfReader

    return [page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages]


def _pypdf_layout(data: bytes) -> list[str]:
    from pypdf import PdfReader

    return [page.extract_text(extraction_mode="layout") or "" for page in PdfReader(io.BytesIO(data)).pages]


def _pdfminer(data: bytes) -> list[str]:
    from pdfminer.high_level import extract_text

    return extract_text(io.BytesIO(data)).split("\f")[:-1]


def _pdfplumber(data: bytes) -> list[str]:
    import pdfplumber

    with pdfplumber.open(io.BytesIO(data)) as pdf:
        return [page.extract_text() or "" for page in pdf.pages]


def pypdfium2_pages(data: bytes) -> list[str]:
    """Each page's raw text as PDFium reads it."""
    import pypdfium2

    pdf = pypdfium2.PdfDocument(data)
    try:
        return [pdf[index].get_textpage().get_text_bounded() for index in range(len(pdf))]
    finally:
        pdf.close()


def _pymupdf(data: bytes) -> list[str]:
    import pymupdf

    with pymupdf.open(stream=data, filetype="pdf") as pdf:
        return [page.get_text() for page in pdf]


LIBRARIES: dict[str, tuple[str, str, Callable[[bytes], list[str]]]] = {
    # name: (module to look for, licence, page texts)
    "pypdf": ("pypdf", "BSD-3-Clause", _pypdf),
    "pypdf (layout mode)": ("pypdf", "BSD-3-Clause", _pypdf_layout),
    "pdfminer.six": ("pdfminer", "MIT", _pdfminer),
    "pdfplumber": ("pdfplumber", "MIT", _pdfplumber),
    "pypdfium2": ("pypdfium2", "Apache-2.0 or BSD-3-Clause (PDFium: BSD-3-Clause)", pypdfium2_pages),
    "PyMuPDF": ("pymupdf", "AGPL-3.0 or commercial", _pymupdf),
}


def read_pdf(path: Path) -> bytes:
    """The PDF's bytes, decompressed when the name ends in ``.gz``."""
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


@dataclass
class Quality:
    """Counts over some pages: pages, pages without text, words looked at, run-together words, dot-leader lines."""

    pages: int = 0
    pages_without_text: int = 0
    words: int = 0
    run_together: int = 0
    dot_leader_lines: int = 0

    def add_page(self, text: str) -> None:
        """Count one page's text."""
        flagged, looked_at = run_together_words(text)
        self.pages += 1
        self.pages_without_text += not _WORD_RE.search(text)
        self.words += looked_at
        self.run_together += len(flagged)
        self.dot_leader_lines += sum(is_dot_leader_line(line) for line in text.splitlines())

    def summary(self) -> str:
        """One line for a report."""
        return (
            f"{rate(self.run_together, self.words)} % run-together words, "
            f"{self.pages_without_text}/{self.pages} pages without text, {self.dot_leader_lines} dot-leader lines"
        )


def measure(extract: Callable[[bytes], list[str]], files: dict[str, bytes]) -> dict[str, object]:
    """Quality and speed of one library over ``files`` (name -> bytes), in total and per file."""
    started = time.perf_counter()
    texts = {name: extract(data) for name, data in files.items()}
    seconds = time.perf_counter() - started
    total = Quality()
    per_file: dict[str, str] = {}
    for name, page_texts in texts.items():
        quality = Quality()
        for text in page_texts:
            quality.add_page(text)
            total.add_page(text)
        per_file[name] = quality.summary()
    return {
        **asdict(total),
        "run_together_pct": rate(total.run_together, total.words),
        "seconds": round(seconds, 2),
        "pages_per_s": round(total.pages / seconds, 1) if seconds else 0.0,
        "per_file": per_file,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("paths", type=Path, nargs="+", help="PDF files (.pdf or .pdf.gz)")
    args = parser.parse_args()
    files = {path.name: read_pdf(path) for path in args.paths}

    results: dict[str, dict[str, object]] = {}
    for name, (module, licence, extract) in LIBRARIES.items():
        if importlib.util.find_spec(module) is None:
            print(f"{name}: not installed, skipped")
            continue
        results[name] = {"licence": licence, **measure(extract, files)}
    if "pypdf" in results:
        baseline = results["pypdf"]["pages_per_s"]
        for row in results.values():
            row["speed_vs_pypdf"] = round(row["pages_per_s"] / baseline, 2)  # type: ignore[operator]
    print(json.dumps({"files": [str(path) for path in args.paths], "libraries": results}, indent=2))


if __name__ == "__main__":
    main()
