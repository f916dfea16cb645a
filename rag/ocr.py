"""Optical character recognition: text lines with their boxes from an image, and PDF pages as images.

The recogniser is RapidOCR (``rapidocr-onnxruntime``): PaddleOCR's PP-OCRv4 detection and
recognition networks exported to ONNX and run with ONNX Runtime (already the engine's runtime for
ONNX embeddings). The three model files ship inside the wheel, so OCR works offline and needs no
Debian package; docs/extraction.md says why it was chosen over Tesseract and what it measured
(``benchmarks/ocr_quality.py``).

Stable API (the PDF viewer uses it to map a passage back to its place on the page):

- :class:`OcrLine`: one recognised line: ``text``, ``box`` = ``(x0, y0, x1, y1)`` in pixels of the
  image given, origin at the top left, and ``confidence`` in [0, 1].
- :func:`recognise`: ``PIL.Image.Image -> list[OcrLine]`` in reading order.
- :func:`lines_to_text`: the lines joined into page text (a line break between rows, a blank line
  where the vertical gap is wider than a line).
- :func:`render_pdf_page` / :class:`RenderedPage`: one page of a PDF rendered with pypdfium2 at a
  given resolution, with what is needed to turn pixel boxes into PDF points
  (:meth:`RenderedPage.box_to_pdf`).

The recogniser is built once per process on first use (about 1 s) and is used by one thread at a
time (:data:`_ENGINE_LOCK`): ONNX Runtime already spreads one image over every core.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rag.errors import CorruptDocument, InputLimitExceeded

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "MAX_OCR_PIXELS",
    "OCR_DPI",
    "OcrLine",
    "RenderedPage",
    "lines_to_text",
    "recognise",
    "render_pdf_page",
]

OCR_DPI = 200
"""Resolution (dots per inch) at which PDF pages are rendered for OCR.

RapidOCR shrinks any image whose longer side exceeds 2,000 pixels before detection (its
``max_side_len``), so an A4 page gains nothing above about 170 dpi; ``benchmarks/ocr_quality.py``
measures 150 and 300 dpi scans (docs/extraction.md).
"""
MAX_OCR_PIXELS = 50_000_000
"""Pixels (width x height) of one image or rendered page given to OCR.

An A4 page scanned at 600 dpi has 34.8 million; an RGB image of this size holds 150 MB. A file that
declares more (a pixel bomb: a few KB of compressed TIFF or PNG can declare gigapixels) is refused
before it is decoded.
"""

_ENGINE_LOCK = threading.Lock()
_engine: Any = None


@dataclass(frozen=True)
class OcrLine:
    """One line of text found in an image.

    Attributes:
        text: The recognised characters, stripped.
        box: ``(x0, y0, x1, y1)``: the axis-aligned rectangle around the line, in pixels of the image
            that was recognised, origin at its top-left corner, ``x0 <= x1`` and ``y0 <= y1``.
        confidence: The recogniser's mean character probability, in [0, 1].
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
        width_pt, height_pt: The page's size in PDF points (1/72 inch).
    """

    image: Image.Image
    page_number: int
    dpi: float
    width_pt: float
    height_pt: float

    def box_to_pdf(self, box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        """Turn a pixel box of :attr:`image` (origin top left) into PDF points (origin bottom left).

        Args:
            box: ``(x0, y0, x1, y1)`` in pixels, as :attr:`OcrLine.box`.

        Returns:
            ``(left, bottom, right, top)`` in points, PDF user space of the unrotated page.
        """
        scale = 72.0 / self.dpi
        x0, y0, x1, y1 = box
        return (x0 * scale, self.height_pt - y1 * scale, x1 * scale, self.height_pt - y0 * scale)


def _get_engine() -> Any:
    """The process's RapidOCR instance, built on first use (call with :data:`_ENGINE_LOCK` held)."""
    global _engine
    if _engine is None:
        from rapidocr_onnxruntime import RapidOCR

        _engine = RapidOCR()
    return _engine


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


def recognise(image: Image.Image) -> list[OcrLine]:
    """Find and read the lines of text in an image.

    Args:
        image: Any PIL image (converted to RGB here); a page scanned at 150-300 dpi reads best.

    Returns:
        The lines in reading order (top to bottom, then left to right), lines the recogniser is
        less than 50 % sure of left out (RapidOCR's ``text_score``); ``[]`` when there is no text.

    Raises:
        InputLimitExceeded: The image has more than :data:`MAX_OCR_PIXELS` pixels.
        CorruptDocument: The recogniser failed on the image.
    """
    import numpy as np

    check_pixels("the image", image.width, image.height)
    pixels = np.asarray(image.convert("RGB"))
    with _ENGINE_LOCK:
        engine = _get_engine()
        try:
            # RapidOCR takes an array to be in OpenCV's channel order (BGR).
            result, _elapsed = engine(np.ascontiguousarray(pixels[:, :, ::-1]))
        except Exception as exc:  # onnxruntime and OpenCV errors have no common base class
            raise CorruptDocument(
                f"OCR failed on the image ({type(exc).__name__}: {exc}); check that it is a readable scan"
            ) from exc
    lines = []
    for points, text, score in result or ():
        text = " ".join(str(text).split())
        if not text:
            continue
        xs = [float(point[0]) for point in points]
        ys = [float(point[1]) for point in points]
        confidence = min(max(float(score), 0.0), 1.0)
        lines.append(OcrLine(text, (min(xs), min(ys), max(xs), max(ys)), confidence))
    return _reading_order(lines)


def _reading_order(lines: list[OcrLine]) -> list[OcrLine]:
    """Sort lines into rows (a line whose vertical centre lies inside a row's span joins it), rows top down."""
    rows: list[list[OcrLine]] = []
    for line in sorted(lines, key=lambda item: (item.box[1], item.box[0])):
        centre = (line.box[1] + line.box[3]) / 2
        for row in rows:
            top = min(item.box[1] for item in row)
            bottom = max(item.box[3] for item in row)
            if top <= centre <= bottom:
                row.append(line)
                break
        else:
            rows.append([line])
    return [line for row in rows for line in sorted(row, key=lambda item: item.box[0])]


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
        dpi: Wanted resolution; lowered so that the image stays within :data:`MAX_OCR_PIXELS`.

    Returns:
        The rendered page.
    """
    width_pt, height_pt = page.get_size()
    wanted = width_pt * height_pt * (dpi / 72.0) ** 2
    if wanted > MAX_OCR_PIXELS:
        # A poster-size page: render it smaller instead of refusing (its text is still large).
        dpi = dpi * (MAX_OCR_PIXELS / wanted) ** 0.5 * 0.99
    bitmap = page.render(scale=dpi / 72.0, grayscale=False)
    try:
        image = bitmap.to_pil().convert("RGB")
    finally:
        bitmap.close()
    return RenderedPage(image, page_number, dpi, float(width_pt), float(height_pt))


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
