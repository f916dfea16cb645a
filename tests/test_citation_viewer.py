"""The cited source in context: a PDF page with the passage marked, a passage in its section."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from helpers import TUTORIAL_LINES, make_pdf, make_scanned_pdf, render_text_image
from rag import NotFound
from rag.passage_match import matched_word_spans, words
from rag.pdf_view import render_cited_page

INSTALL = (
    "Installing the Aurora coffee grinder. Unpack the grinder and place it on a dry, level surface. "
    "Attach the bean hopper by turning it clockwise until it clicks. Plug the power cord into a grounded "
    "outlet. Select a grind size with the front dial: fine for espresso, medium for drip, coarse for French press."
)
WARRANTY = (
    "Warranty and service. The warranty lasts two years from the date of purchase and covers defects in "
    "materials and workmanship. Keep your receipt as proof of purchase. The warranty does not cover damage "
    "caused by grinding anything other than coffee beans."
)
DEBIAN_REFERENCE = Path("/usr/share/debian-reference/debian-reference.en.pdf")


def _image(png: bytes):
    from PIL import Image

    return Image.open(io.BytesIO(png)).convert("RGB")


def _is_marked(pixel: tuple[int, int, int]) -> bool:
    """White paper under the translucent amber mark: red stays high, blue drops well below it."""
    red, _, blue = pixel
    return red > 200 and blue < 200


def _marked_share(image, box: tuple[int, int, int, int]) -> float:
    """Share of the box's pixels that are amber paper (glyphs inside the box are dark, not amber)."""
    region = image.crop(box)
    pixels = list(region.getdata())
    return sum(_is_marked(p) for p in pixels) / max(1, len(pixels))


def _chunk_on_page(engine, document_id: int, page: int, needle: str):
    chunks = [c for c in engine.chunks(document_id) if c.page_start == page and needle in c.text]
    assert chunks, f"no chunk of page {page} holds {needle!r}"
    return chunks[0]


# -- word alignment ---------------------------------------------------------------------------------


def test_alignment_skips_page_furniture_inside_the_passage():
    page = words("12 Chapter 3 The warranty lasts two years 13 from the date of purchase. Other text here")
    passage = words("The warranty lasts two years from the date of purchase.")
    spans = matched_word_spans(page, passage)
    assert len(spans) == 1
    start, end = spans[0]
    assert page[start:end] == words("The warranty lasts two years 13 from the date of purchase")


def test_alignment_finds_nothing_for_unrelated_text():
    assert (
        matched_word_spans(words("bees make honey in the hive"), words("the warranty lasts two years")) == []
    )


# -- PDF pages ----------------------------------------------------------------------------------------


def test_cited_pdf_page_is_rendered_with_the_passage_marked(engine):
    (result,) = engine.ingestor().ingest_bytes(make_pdf([INSTALL, WARRANTY]), "grinder.pdf")
    chunk = _chunk_on_page(engine, result.document_id, 2, "warranty lasts two years")

    (page,) = engine.cited_pages(chunk.id)
    assert (page.page, page.page_count, page.located_by) == (2, 2, "text")
    assert page.matched_share > 0.9
    assert page.boxes
    image = _image(page.png)
    assert (image.width, image.height) == (page.width, page.height)
    # Every mark is painted: most of each box is amber paper; an unmarked band of the page is not.
    for box in page.boxes:
        assert _marked_share(image, box) > 0.5
    assert _marked_share(image, (0, image.height - 300, image.width, image.height - 100)) == 0.0
    # The excerpt is the band around the marks: much shorter than the page, as wide.
    excerpt = _image(page.excerpt_png)
    assert excerpt.width == image.width and excerpt.height < image.height / 2


def test_a_scanned_page_is_marked_on_the_lines_ocr_found_the_passage_on(engine, monkeypatch):
    import rag.ocr

    image, drawn = render_text_image(TUTORIAL_LINES, dpi=200)
    (result,) = engine.ingestor().ingest_bytes(make_scanned_pdf([INSTALL], [image]), "scan.pdf")
    chunk = _chunk_on_page(engine, result.document_id, 2, "automate")
    calls = []
    real_recognise = rag.ocr.recognise
    monkeypatch.setattr(rag.ocr, "recognise", lambda img: calls.append(1) or real_recognise(img))

    (page,) = engine.cited_pages(chunk.id)
    assert engine.cited_pages(chunk.id)[0].boxes == page.boxes
    assert len(calls) == 1, "the page's OCR lines are read once, then cached"
    assert (page.page, page.located_by) == (2, "ocr")
    assert page.matched_share > 0.8
    rendered = _image(page.png)
    for box in page.boxes:
        assert _marked_share(rendered, box) > 0.4
    # One mark per drawn line, each where the line was drawn (the page is rendered at 150 dpi here,
    # the scan was drawn at 200 dpi).
    assert len(page.boxes) == len(drawn)
    scale = rendered.width / image.width
    for (left, top, _, _), (x0, y0, _, _) in zip(page.boxes, drawn, strict=True):
        assert abs(top - y0 * scale) < 15 and abs(left - x0 * scale) < 15


def test_a_passage_not_on_the_page_is_not_marked():
    page = render_cited_page(
        make_pdf([INSTALL]), 1, "Bees collect nectar and turn it into honey in the hive."
    )
    assert page.located_by == "none" and page.boxes == () and page.matched_share == 0.0
    assert page.excerpt_png == page.png


def test_a_page_outside_the_pdf_is_not_found():
    with pytest.raises(NotFound, match="no page 3"):
        render_cited_page(make_pdf([INSTALL]), 3, INSTALL)


def test_cited_pages_of_a_non_pdf_are_not_found(engine):
    (result,) = engine.ingestor().ingest_bytes(b"# Warranty\n\n" + WARRANTY.encode(), "policy.md")
    chunk = engine.chunks(result.document_id)[0]
    with pytest.raises(NotFound, match="not a PDF"):
        engine.cited_pages(chunk.id)


@pytest.mark.skipif(not DEBIAN_REFERENCE.exists(), reason="debian-reference-en is not installed")
def test_passages_of_a_real_manual_are_found_on_their_pages():
    """Debian Reference: each page's loader text (hyphens rejoined, furniture out) is located on it."""
    import pypdfium2

    from rag.loaders.pdf import _clean_pdf_text

    data = DEBIAN_REFERENCE.read_bytes()
    pdf = pypdfium2.PdfDocument(data)
    pages = {}
    for number in (20, 57, 120):
        textpage = pdf[number - 1].get_textpage()
        pages[number] = _clean_pdf_text(textpage.get_text_bounded())
    pdf.close()
    for number, text in pages.items():
        middle = len(text) // 2
        passage = text[middle - 300 : middle + 300]
        cited = render_cited_page(data, number, passage, filename=DEBIAN_REFERENCE.name)
        assert cited.located_by == "text", number
        assert cited.matched_share > 0.9, (number, cited.matched_share)


# -- a passage in its section -------------------------------------------------------------------------

GUIDE = (
    "# Setup\n\n"
    + " ".join(
        f"Setup step {i} explains how the grinder is prepared before its first use." for i in range(30)
    )
    + "\n\n# Cleaning\n\n"
    + " ".join(f"Cleaning tip {i} keeps the burrs sharp and the coffee tasting fresh." for i in range(30))
    + "\n\n# Warranty\n\nThe warranty lasts two years.\n"
)


def test_passage_context_is_its_section_around_it(engine):
    (result,) = engine.ingestor().ingest_bytes(GUIDE.encode(), "guide.md")
    chunks = engine.chunks(result.document_id)
    cleaning = [c for c in chunks if c.heading_path == ("Cleaning",)]
    assert len(cleaning) >= 3, "the section must span several chunks"
    middle = cleaning[len(cleaning) // 2]

    context = engine.passage_context(middle.id)
    assert context.heading_path == ("Cleaning",)
    assert context.passage == middle.text
    assert context.before and context.after
    # The text around the passage is the section's own text, in order, and nothing of the others.
    section = GUIDE.split("# Cleaning\n\n")[1].split("\n\n# Warranty")[0]
    whole = context.before.lstrip("…") + context.passage + context.after.rstrip("…")
    assert whole.replace("\n\n", " ") in section.replace("\n\n", " ")
    assert "Setup step" not in whole and "warranty" not in whole


def test_passage_context_of_a_deleted_document_is_not_found(engine):
    (result,) = engine.ingestor().ingest_bytes(GUIDE.encode(), "guide.md")
    chunk = engine.chunks(result.document_id)[0]
    engine.delete_documents([result.document_id])
    with pytest.raises(NotFound, match="no longer stored"):
        engine.passage_context(chunk.id)
