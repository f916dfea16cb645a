"""A cited PDF page as an image, rendered on the server, with the cited passage highlighted.

The page is rendered by PDFium (pypdfium2, the PDF library of :mod:`rag.loaders.pdf`) to a PNG, so
the browser loads one image from this app and nothing from another host (no JavaScript PDF viewer).
The passage is found on the page's text layer: PDFium's characters are cut into words and aligned
with the passage's words (:mod:`rag.passage_match`); the matched characters' rectangles
(``FPDFText_CountRects`` / ``FPDFText_GetRect``, one per run of characters on a line) are mapped to
pixels with ``FPDF_PageToDevice`` (so crop boxes and rotated pages land right) and painted as
translucent marks with Pillow. A page without a text layer (a scan) is read with OCR
(:func:`rag.ocr.recognise`, at the ingest's OCR resolution), and the OCR lines that hold the
passage are marked instead.

Besides the whole page, :attr:`CitedPage.excerpt_png` is the band of the page around the marks, so
the highlight is in view without scrolling.
"""

from __future__ import annotations

import ctypes
import io
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from rag.errors import CorruptDocument, NotFound
from rag.loaders.pdf import PDFIUM_LOCK  # PDFium is not thread-safe: one lock for every use of it
from rag.passage_match import matched_share, matched_word_spans, words, words_with_offsets

RENDER_DPI = 150
"""Resolution of the rendered page (dots per inch): body text stays legible at the app's width."""
MAX_RENDER_SIDE_PX = 2400
"""Longest side of a rendered page (pixels); a poster-sized page is rendered at a lower DPI, so one
page never takes more than about 2400 x 2400 x 4 bytes (23 MB) of memory."""
HIGHLIGHT_RGBA = (255, 200, 0, 96)
"""The mark's fill: translucent amber, so the text under it stays readable."""
OUTLINE_RGBA = (214, 140, 0, 255)
EXCERPT_MARGIN = 0.08
"""Page height kept above and below the marks in the excerpt (a fraction of the page height)."""
OCR_CACHE_PAGES = 64
"""Pages whose OCR lines are kept in memory (per process, least recently used dropped first).

OCR of a page takes seconds (2.9 to 5.4 s per Debian Reference page measured with Tesseract on
this 2-core machine at a load of about 8, ``benchmarks/cited_page.py``), so a citation opened twice
is read once; a page's lines are a few KB.
"""
MIN_TEXT_LAYER_WORDS = 3
"""Fewer words than this on a page's text layer: the page is treated as a scan (OCR, if available)."""

LocatedBy = Literal["text", "ocr", "none"]

_ocr_cache: OrderedDict[tuple[str, int], tuple[tuple[int, int], list[Any]]] = OrderedDict()
_ocr_cache_lock = threading.Lock()


@dataclass(frozen=True)
class CitedPage:
    """One page of a cited PDF, rendered, with the passage's marks.

    Attributes:
        page: 1-based page number. page_count: Pages of the PDF.
        png: The whole page as PNG bytes, the passage marked. width, height: Its size in pixels.
        excerpt_png: The band of the page around the marks (the whole page when nothing is marked).
        boxes: The marks, ``(left, top, right, bottom)`` in pixels of ``png``.
        located_by: ``"text"`` (the PDF's text layer), ``"ocr"`` (OCR of the rendered page) or
            ``"none"`` (the passage was not found on this page: nothing is marked).
        matched_share: Share of the passage's words found on this page, in [0, 1] (a passage that
            runs over two pages has part of it on each).
    """

    page: int
    page_count: int
    png: bytes
    width: int
    height: int
    excerpt_png: bytes
    boxes: tuple[tuple[int, int, int, int], ...]
    located_by: LocatedBy
    matched_share: float


def _page_chars(textpage: Any, pdfium_c: Any) -> str:
    """The page's characters, one per PDFium character index (so offsets are PDFium's indexes)."""
    count = textpage.count_chars()
    chars = []
    for index in range(count):
        code = pdfium_c.FPDFText_GetUnicode(textpage.raw, index)
        chars.append(chr(code) if 0 < code < 0x110000 else " ")
    return "".join(chars)


def _joined_words(chars: str) -> list[tuple[str, int, int]]:
    """Words of the page text with PDFium character offsets, rejoining words hyphenated at a line end.

    PDFium marks a soft hyphen at a line end as U+0002; others are ``-`` and a line break. Both are
    skipped between lower-case letters, as the loader does (``rag.loaders.pdf._PDF_HYPHEN_RE``), so
    "instal-|lation" is one word here as it is in the passage.
    """
    kept: list[str] = []
    index_of: list[int] = []
    i, n = 0, len(chars)
    while i < n:
        ch = chars[i]
        if ch in "\x02-" and kept and kept[-1].islower():
            j = i + 1
            while j < n and chars[j] in "\r\n":
                j += 1
            if (ch == "\x02" or j > i + 1) and j < n and chars[j].islower():
                i = j
                continue
        kept.append(ch)
        index_of.append(i)
        i += 1
    text = "".join(kept)
    return [(word, index_of[start], index_of[end - 1] + 1) for word, start, end in words_with_offsets(text)]


def _to_pixels(
    page: Any, pdfium_c: Any, size: tuple[int, int], rect: tuple[float, float, float, float]
) -> tuple[int, int, int, int]:
    """A rectangle in PDF page coordinates (points, origin bottom left) in pixels of the rendering."""
    width, height = size
    corners = []
    for x, y in ((rect[0], rect[1]), (rect[2], rect[3])):
        device_x, device_y = ctypes.c_int(), ctypes.c_int()
        pdfium_c.FPDF_PageToDevice(
            page.raw, 0, 0, width, height, 0, ctypes.c_double(x), ctypes.c_double(y), device_x, device_y
        )
        corners.append((device_x.value, device_y.value))
    (x0, y0), (x1, y1) = corners
    return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)


def _text_layer_boxes(
    page: Any, textpage: Any, pdfium_c: Any, size: tuple[int, int], passage_words: Sequence[str]
) -> tuple[list[tuple[int, int, int, int]], float, int]:
    """Marks of the passage from the text layer: (pixel boxes, matched share, words on the page)."""
    page_words = _joined_words(_page_chars(textpage, pdfium_c))
    spans = matched_word_spans([w for w, _, _ in page_words], passage_words)
    boxes = []
    for start, end in spans:
        first_char, last_char = page_words[start][1], page_words[end - 1][2]
        for k in range(textpage.count_rects(first_char, last_char - first_char)):
            left, bottom, right, top = textpage.get_rect(k)
            boxes.append(_to_pixels(page, pdfium_c, size, (left, bottom, right, top)))
    return boxes, matched_share(spans, len(passage_words)), len(page_words)


def _ocr_lines(data: bytes, page_number: int, cache_key: str | None) -> tuple[tuple[int, int], list[Any]]:
    """The page's OCR lines and the size of the image they were read from (cached by ``cache_key``)."""
    from rag.ocr import recognise, render_pdf_page

    key = (cache_key, page_number) if cache_key else None
    if key is not None:
        with _ocr_cache_lock:
            if key in _ocr_cache:
                _ocr_cache.move_to_end(key)
                return _ocr_cache[key]
    rendered = render_pdf_page(data, page_number)
    found = ((rendered.image.width, rendered.image.height), recognise(rendered.image))
    if key is not None:
        with _ocr_cache_lock:
            _ocr_cache[key] = found
            while len(_ocr_cache) > OCR_CACHE_PAGES:
                _ocr_cache.popitem(last=False)
    return found


def _ocr_boxes(
    data: bytes, page_number: int, size: tuple[int, int], passage_words: Sequence[str], cache_key: str | None
) -> tuple[list[tuple[int, int, int, int]], float]:
    """Marks of the passage from OCR of the page: the boxes of the lines holding it.

    The page is rendered again at the ingest's OCR resolution (:data:`rag.ocr.OCR_DPI`), so the
    recogniser reads what it read when the document was stored; the line boxes are then scaled to
    the displayed rendering of ``size`` pixels.

    Returns:
        The boxes in pixels of the displayed rendering, and the share of the passage's words found.
    """
    ocr_size, lines = _ocr_lines(data, page_number, cache_key)
    flat: list[str] = []
    line_of: list[int] = []
    for number, line in enumerate(lines):
        for word in words(line.text):
            flat.append(word)
            line_of.append(number)
    spans = matched_word_spans(flat, passage_words)
    marked = sorted({line_of[i] for start, end in spans for i in range(start, end)})
    sx, sy = size[0] / ocr_size[0], size[1] / ocr_size[1]
    boxes = []
    for number in marked:
        x0, y0, x1, y1 = lines[number].box
        boxes.append((int(x0 * sx), int(y0 * sy), int(x1 * sx), int(y1 * sy)))
    return boxes, matched_share(spans, len(passage_words))


def _png(image: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _draw_marks(image: Any, boxes: Sequence[tuple[int, int, int, int]]) -> Any:
    """The page with translucent marks over ``boxes`` and a bar in the margin beside them."""
    from PIL import Image, ImageDraw

    base = image.convert("RGBA")
    overlay = Image.new("RGBA", base.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    pad = max(1, base.width // 400)
    for left, top, right, bottom in boxes:
        draw.rectangle((left - pad, top - pad, right + pad, bottom + pad), fill=HIGHLIGHT_RGBA)
    if boxes:
        top = min(b[1] for b in boxes)
        bottom = max(b[3] for b in boxes)
        bar_x = max(2, min(b[0] for b in boxes) - 6 * pad - 4)
        draw.rectangle((bar_x - 2 * pad, top, bar_x, bottom), fill=OUTLINE_RGBA)
    return Image.alpha_composite(base, overlay).convert("RGB")


def _excerpt(image: Any, boxes: Sequence[tuple[int, int, int, int]]) -> Any:
    """The full-width band of ``image`` from just above the first mark to just below the last."""
    if not boxes:
        return image
    margin = int(image.height * EXCERPT_MARGIN)
    top = max(0, min(b[1] for b in boxes) - margin)
    bottom = min(image.height, max(b[3] for b in boxes) + margin)
    return image.crop((0, top, image.width, bottom))


def render_cited_page(
    data: bytes, page_number: int, passage: str, *, filename: str = "PDF", cache_key: str | None = None
) -> CitedPage:
    """Render one page of a PDF with the passage highlighted.

    Args:
        data: The PDF's bytes (the document's original).
        page_number: 1-based page to render.
        passage: The cited passage's text; its words are looked for on the page.
        filename: Named in error messages.
        cache_key: Identifies ``data`` (its sha256) so a scanned page's OCR lines are read once per
            process (:data:`OCR_CACHE_PAGES`); ``None`` reads them every time.

    Returns:
        The rendered page, its excerpt around the marks, and where the marks came from.

    Raises:
        NotFound: the PDF has no page ``page_number``.
        CorruptDocument: PDFium cannot read the PDF or the page.
    """
    import pypdfium2
    import pypdfium2.raw as pdfium_c

    passage_words = words(passage)
    with PDFIUM_LOCK:
        try:
            pdf = pypdfium2.PdfDocument(data)
        except pypdfium2.PdfiumError as exc:
            raise CorruptDocument(f"{filename} cannot be opened to show the page ({exc})") from exc
        try:
            page_count = len(pdf)
            if not 1 <= page_number <= page_count:
                raise NotFound(f"{filename} has no page {page_number} (it has {page_count})")
            page = pdf[page_number - 1]
            width_pt, height_pt = page.get_size()
            scale = min(RENDER_DPI / 72, MAX_RENDER_SIDE_PX / max(width_pt, height_pt, 1.0))
            image = page.render(scale=scale).to_pil()
            textpage = page.get_textpage()
            boxes, share, page_words = _text_layer_boxes(
                page, textpage, pdfium_c, (image.width, image.height), passage_words
            )
            textpage.close()
            page.close()
        except pypdfium2.PdfiumError as exc:
            raise CorruptDocument(f"{filename}: page {page_number} cannot be rendered ({exc})") from exc
        finally:
            pdf.close()
    located_by: LocatedBy = "text" if boxes else "none"
    if not boxes and page_words < MIN_TEXT_LAYER_WORDS:
        ocr_boxes, ocr_share = _ocr_boxes(
            data, page_number, (image.width, image.height), passage_words, cache_key
        )
        if ocr_boxes:
            boxes, share, located_by = ocr_boxes, ocr_share, "ocr"
    marked = _draw_marks(image, boxes)
    return CitedPage(
        page=page_number,
        page_count=page_count,
        png=_png(marked),
        width=marked.width,
        height=marked.height,
        excerpt_png=_png(_excerpt(marked, boxes)),
        boxes=tuple(boxes),
        located_by=located_by,
        matched_share=share if boxes else 0.0,
    )
