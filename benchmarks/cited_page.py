"""Time to render a cited PDF page with its passage highlighted, and how much of the passage is found.

Usage:
    PYTHONPATH=. .venv/bin/python benchmarks/cited_page.py [PAGES...]

Real pages of the Debian Reference (/usr/share/debian-reference/debian-reference.en.pdf, package
debian-reference-en): for each page, the loader's cleaned text of the page (hyphens rejoined, as the
stored chunks are) gives a 600-character passage from its middle, and ``rag.pdf_view.render_cited_page``
renders the page at 150 dpi and marks it (text layer). Then the same page rendered to an image and
put into an image-only PDF (a scan) is marked through OCR. Prints per page the milliseconds (median
of 3 runs after one warm-up), the share of the passage's words found and the number of marks.
"""

import io
import statistics
import sys
import time
from pathlib import Path

import pypdfium2

from rag.loaders.pdf import _clean_pdf_text
from rag.pdf_view import render_cited_page

PDF = Path("/usr/share/debian-reference/debian-reference.en.pdf")


def scanned(data: bytes, number: int, dpi: int = 200) -> bytes:
    """One page of ``data`` as an image-only PDF (what a scanner makes)."""
    from fpdf import FPDF

    pdf = pypdfium2.PdfDocument(data)
    image = pdf[number - 1].render(scale=dpi / 72).to_pil().convert("L")
    pdf.close()
    out = FPDF(unit="pt")
    width, height = (side * 72 / dpi for side in image.size)
    out.add_page(format=(width, height))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    out.image(buffer, x=0, y=0, w=width, h=height)
    return bytes(out.output())


def timed(data: bytes, page: int, passage: str) -> tuple[float, object]:
    render_cited_page(data, page, passage)  # warm-up (OCR model load, caches)
    runs = []
    for _ in range(3):
        started = time.perf_counter()
        result = render_cited_page(data, page, passage)
        runs.append((time.perf_counter() - started) * 1000)
    return statistics.median(runs), result


def main() -> None:
    pages = [int(p) for p in sys.argv[1:]] or [20, 57, 120]
    data = PDF.read_bytes()
    pdf = pypdfium2.PdfDocument(data)
    texts = {n: _clean_pdf_text(pdf[n - 1].get_textpage().get_text_bounded()) for n in pages}
    pdf.close()
    for number, text in texts.items():
        middle = len(text) // 2
        passage = text[middle - 300 : middle + 300]
        ms, result = timed(data, number, passage)
        print(
            f"page {number:4d} text layer: {ms:7.1f} ms  found {result.matched_share:.2f}  "
            f"marks {len(result.boxes):3d}  {result.width}x{result.height}px"
        )
        ms, result = timed(scanned(data, number), 1, passage)
        print(
            f"page {number:4d} scanned/OCR: {ms:7.1f} ms  found {result.matched_share:.2f}  "
            f"marks {len(result.boxes):3d}  via {result.located_by}"
        )


if __name__ == "__main__":
    main()
