"""Optical character recognition: text lines with their boxes from an image, and PDF pages as images.

The recogniser is Tesseract 5 (Debian's ``tesseract-ocr`` with ``tesseract-ocr-eng``; ``scripts/setup.sh``
and the Dockerfile install it), run as its own command-line program with TSV output (words, boxes,
confidences); pytesseract does the same, but cannot give the process its own environment, which
the one-thread setting needs (:func:`_run_tesseract`). It was chosen by measurement over
RapidOCR (PP-OCRv4 on ONNX Runtime, ``rapidocr-onnxruntime``): on the same rendered Debian Reference
pages RapidOCR's recogniser ran words together ("Ifyouinstalled a GUIenvironment"), 8-24 %
character errors against Tesseract's 0.0-0.1 %, at about the same speed (docs/extraction.md,
``benchmarks/ocr_quality.py``). Tesseract runs offline from its packaged models.

Stable API (the PDF viewer uses it to map a passage back to its place on the page):

- :class:`OcrLine`: one recognised line: ``text``, ``box`` = ``(x0, y0, x1, y1)`` in pixels of the
  image given, origin at the top left, and ``confidence`` in [0, 1].
- :func:`recognise`: ``PIL.Image.Image -> list[OcrLine]`` in reading order.
- :func:`lines_to_text`: the lines joined into page text (a line break between rows, a blank line
  where the vertical gap is wider than a line).
- :func:`render_pdf_page` / :class:`RenderedPage`: one page of a PDF rendered with pypdfium2 at a
  given resolution, with what is needed to turn pixel boxes into PDF points
  (:meth:`RenderedPage.box_to_pdf`).

Each :func:`recognise` call runs one ``tesseract`` process (so calls from several threads do not
share state), stopped after :data:`MAX_OCR_PAGE_SECONDS`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rag.errors import CorruptDocument, InputLimitExceeded, ModelNotAvailable

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "MAX_OCR_PAGE_SECONDS",
    "MAX_OCR_PIXELS",
    "OCR_LANGUAGES",
    "OCR_DPI",
    "OcrLine",
    "RenderedPage",
    "check_pixels",
    "lines_to_text",
    "recognise",
    "render_page",
    "render_pdf_page",
]

OCR_DPI = 300
"""Resolution (dots per inch) at which PDF pages are rendered for OCR: Tesseract is trained on text
of about 10-12 pt at 300 dpi (x-height of 20 pixels or more); ``benchmarks/ocr_quality.py`` measures
scans made at 150 and 300 dpi (docs/extraction.md)."""
OCR_LANGUAGES = "eng"
"""Tesseract language models used (``+``-joined codes, each a Debian ``tesseract-ocr-<code>`` package)."""
MAX_OCR_PAGE_SECONDS = 120
"""Seconds one page may take in Tesseract before it is stopped (a dense A4 page takes 5-15 s on two
busy cores): a hostile image cannot hold an ingest for long."""
MAX_OCR_PIXELS = 50_000_000
"""Pixels (width x height) of one image or rendered page given to OCR.

An A4 page scanned at 600 dpi has 34.8 million; an RGB image of this size holds 150 MB. A file that
declares more (a pixel bomb: a few KB of compressed TIFF or PNG can declare gigapixels) is refused
before it is decoded.
"""


MAX_OCR_SIDE_PX = 32_767
"""Longest side (pixels) of an image given to OCR: Leptonica, which Tesseract reads images with,
refuses larger sides, and PDFium's bitmaps fail past it; a page is rendered at a lower dpi instead."""


@dataclass(frozen=True)
class OcrLine:
    """One line of text found in an image.

    Attributes:
        text: The recognised characters, stripped.
        box: ``(x0, y0, x1, y1)``: the axis-aligned rectangle around the line, in pixels of the image
            that was recognised, origin at its top-left corner, ``x0 <= x1`` and ``y0 <= y1``.
        confidence: Tesseract's mean word confidence for the line, divided by 100: in [0, 1].
    """

    text: str
    box: tuple[float, float, float, float]
    confidence: float


@dataclass(frozen=True)
class RenderedPage:
    """One PDF page rendered to an image.

    Attributes:
        image: The page as an RGB image.
        page_number: 1-based page number.
        dpi: The resolution actually used (dots per inch): the one asked for, or lower for a page so
            large that it would pass :data:`MAX_OCR_PIXELS`.
        width_pt, height_pt: The page's size in PDF points (1/72 inch) as displayed, ``/Rotate``
            applied (what PDFium renders: :attr:`image` is upright).
        rotation: The page's ``/Rotate``: 0, 90, 180 or 270 degrees clockwise.
    """

    image: Image.Image
    page_number: int
    dpi: float
    width_pt: float
    height_pt: float
    rotation: int = 0

    def box_to_pdf(self, box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        """Turn a pixel box of :attr:`image` (origin top left) into PDF points (origin bottom left).

        Args:
            box: ``(x0, y0, x1, y1)`` in pixels, as :attr:`OcrLine.box`.

        Returns:
            ``(left, bottom, right, top)`` in points, PDF user space of the unrotated page: the
            page's ``/Rotate`` (:attr:`rotation`) is undone, since :attr:`image` shows it applied.
        """
        scale = 72.0 / self.dpi
        u0, v0, u1, v1 = (value * scale for value in box)  # points from the displayed top-left
        rotation = self.rotation % 360
        # Unrotated page size: a quarter turn swaps the displayed sides.
        width, height = (
            (self.height_pt, self.width_pt) if rotation in (90, 270) else (self.width_pt, self.height_pt)
        )
        if rotation == 90:  # displayed top-left is the page's bottom-left; x runs down, y right
            return (v0, u0, v1, u1)
        if rotation == 180:
            return (width - u1, v0, width - u0, v1)
        if rotation == 270:
            return (width - v1, height - u1, width - v0, height - u0)
        return (u0, height - v1, u1, height - v0)


def check_pixels(what: str, width: int, height: int) -> None:
    """Refuse an image larger than :data:`MAX_OCR_PIXELS` before it is decoded or rendered.

    Args:
        what: Names the image in the message, e.g. ``"scan.tiff page 3"``.
        width, height: Its size in pixels.

    Raises:
        InputLimitExceeded: ``width * height`` is above the limit.
    """
    pixels = width * height
    if pixels > MAX_OCR_PIXELS:
        raise InputLimitExceeded(
            f"{what} is {width:,} x {height:,} pixels ({pixels:,}), above the OCR limit of "
            f"{MAX_OCR_PIXELS:,}: scan it again at 300 dpi or less"
        )


def _run_tesseract(image: Image.Image) -> str:
    """Tesseract's TSV for a grey image, fed as PNG on standard input; one process, one thread.

    ``OMP_THREAD_LIMIT=1``: Tesseract's OpenMP threads spin while they wait, and on two busy cores
    one page took 12.7-15.0 s with them against 2.9-4.5 s without (measured here; the Tesseract
    FAQ gives the same advice for more than one process at a time).
    """
    import io
    import os
    import shutil
    import subprocess

    program = shutil.which("tesseract")
    if program is None:
        raise ModelNotAvailable(
            "OCR needs the tesseract program: install it (Debian/Ubuntu: `apt-get install tesseract-ocr "
            "tesseract-ocr-eng`, which scripts/setup.sh does when run as root)"
        )
    png = io.BytesIO()
    image.save(png, "PNG", compress_level=1)
    try:
        done = subprocess.run(
            [program, "stdin", "stdout", "-l", OCR_LANGUAGES, "--psm", "3", "tsv"],
            input=png.getvalue(),
            capture_output=True,
            timeout=MAX_OCR_PAGE_SECONDS,
            env={**os.environ, "OMP_THREAD_LIMIT": "1"},
            check=False,
        )
    except subprocess.TimeoutExpired as exc:  # subprocess.run has killed it
        raise InputLimitExceeded(
            f"OCR of one page took more than {MAX_OCR_PAGE_SECONDS} s and was stopped: scan the page again "
            "at 300 dpi, or split the file"
        ) from exc
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip()
        if "Failed loading language" in message or "Error opening data file" in message:
            raise ModelNotAvailable(
                f"Tesseract has no '{OCR_LANGUAGES}' language data: install tesseract-ocr-{OCR_LANGUAGES}"
            )
        raise CorruptDocument(f"OCR failed on the image ({message[-300:]}); check that it is a readable scan")
    return done.stdout.decode("utf-8", "replace")


def recognise(image: Image.Image) -> list[OcrLine]:
    """Find and read the lines of text in an image with Tesseract.

    Args:
        image: Any PIL image (converted to 8-bit grey here); a page scanned at 150-300 dpi reads best.

    Returns:
        The lines in reading order (Tesseract's page layout analysis, ``--psm 3``: column by column,
        top to bottom), each line's words joined by one space; ``[]`` when there is no text.

    Raises:
        InputLimitExceeded: The image has more than :data:`MAX_OCR_PIXELS` pixels, or Tesseract took
            more than :data:`MAX_OCR_PAGE_SECONDS`.
        ModelNotAvailable: The ``tesseract`` program or its language data is not installed.
        CorruptDocument: Tesseract failed on the image.
    """
    import csv

    check_pixels("the image", image.width, image.height)
    tsv = _run_tesseract(image.convert("L"))
    rows = csv.reader(tsv.splitlines(), delimiter="\t", quoting=csv.QUOTE_NONE)
    header = next(rows, [])
    column = {name: index for index, name in enumerate(header)}
    words: dict[tuple[str, str, str], list[tuple[str, int, int, int, int, float]]] = {}
    for row in rows:
        if len(row) != len(header):
            continue
        text = row[column["text"]].strip()
        confidence = float(row[column["conf"]])
        if not text or confidence < 0:  # page, block, paragraph and line rows have conf -1
            continue
        key = (row[column["block_num"]], row[column["par_num"]], row[column["line_num"]])
        left, top = int(row[column["left"]]), int(row[column["top"]])
        right, bottom = left + int(row[column["width"]]), top + int(row[column["height"]])
        words.setdefault(key, []).append((text, left, top, right, bottom, confidence))
    lines = []
    for line_words in words.values():  # dicts keep Tesseract's reading order
        box = (
            float(min(word[1] for word in line_words)),
            float(min(word[2] for word in line_words)),
            float(max(word[3] for word in line_words)),
            float(max(word[4] for word in line_words)),
        )
        confidence = sum(word[5] for word in line_words) / len(line_words) / 100.0
        lines.append(OcrLine(" ".join(word[0] for word in line_words), box, min(max(confidence, 0.0), 1.0)))
    return lines


def lines_to_text(lines: Sequence[OcrLine]) -> str:
    """Join recognised lines into the page's text.

    Lines on one row (vertical centres within each other's box) are joined with a space, rows with a
    line break, and a blank line separates rows whose gap is wider than the median line height
    (a paragraph break), so the chunker sees paragraphs.

    Args:
        lines: As :func:`recognise` returns them (reading order).

    Returns:
        The text (``""`` for no lines).
    """
    if not lines:
        return ""
    heights = sorted(line.box[3] - line.box[1] for line in lines)
    median_height = heights[len(heights) // 2]
    parts = [lines[0].text]
    row_top, row_bottom = lines[0].box[1], lines[0].box[3]
    for line in lines[1:]:
        _x0, y0, _x1, y1 = line.box
        if row_top <= (y0 + y1) / 2 <= row_bottom:
            parts.append(" ")
            row_top, row_bottom = min(row_top, y0), max(row_bottom, y1)
        else:
            parts.append("\n\n" if y0 - row_bottom > median_height else "\n")
            row_top, row_bottom = y0, y1
        parts.append(line.text)
    return "".join(parts)


def render_page(page: Any, page_number: int, dpi: float = OCR_DPI) -> RenderedPage:
    """Render an open pypdfium2 page; the caller holds the PDFium lock (``rag.loaders.pdf.PDFIUM_LOCK``).

    Args:
        page: A ``pypdfium2.PdfPage``.
        page_number: Its 1-based number, for :class:`RenderedPage` and messages.
        dpi: Wanted resolution; lowered so that the image stays within :data:`MAX_OCR_PIXELS` and
            :data:`MAX_OCR_SIDE_PX`.

    Returns:
        The rendered page.
    """
    width_pt, height_pt = page.get_size()
    wanted = width_pt * height_pt * (dpi / 72.0) ** 2
    if wanted > MAX_OCR_PIXELS:
        # A poster-size page: render it smaller instead of refusing (its text is still large).
        dpi = dpi * (MAX_OCR_PIXELS / wanted) ** 0.5 * 0.99
    longest = max(width_pt, height_pt) * dpi / 72.0
    if longest > MAX_OCR_SIDE_PX:
        # A long strip (200 x 1 in) passes the pixel limit yet not PNG/Leptonica's side limit.
        dpi = dpi * MAX_OCR_SIDE_PX / longest * 0.99
    bitmap = page.render(scale=dpi / 72.0, grayscale=False)
    try:
        image = bitmap.to_pil().convert("RGB")
    finally:
        bitmap.close()
    return RenderedPage(image, page_number, dpi, float(width_pt), float(height_pt), int(page.get_rotation()))


def render_pdf_page(data: bytes, page_number: int, dpi: float = OCR_DPI) -> RenderedPage:
    """Render one page of a PDF file to an image with pypdfium2.

    Args:
        data: The PDF file's bytes.
        page_number: 1-based page number.
        dpi: Resolution in dots per inch (lowered for a page that would pass :data:`MAX_OCR_PIXELS`).

    Returns:
        The page image with its size in points and the resolution used.

    Raises:
        CorruptDocument: The PDF cannot be opened, or has no such page.
        EncryptedDocument: The PDF needs a password.
    """
    import pypdfium2

    from rag.loaders.pdf import PDFIUM_LOCK, open_pdf

    with PDFIUM_LOCK:
        pdf = open_pdf(data, "the PDF")
        try:
            if not 1 <= page_number <= len(pdf):
                raise CorruptDocument(
                    f"the PDF has {len(pdf)} pages, so there is no page {page_number}; pick a page from 1 to {len(pdf)}"
                )
            page = pdf[page_number - 1]
            try:
                return render_page(page, page_number, dpi)
            except pypdfium2.PdfiumError as exc:
                raise CorruptDocument(f"page {page_number} of the PDF cannot be rendered ({exc})") from exc
            finally:
                page.close()
        finally:
            pdf.close()
