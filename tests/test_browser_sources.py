"""The cited source in a real browser: a PDF citation opens its page with the passage highlighted.

`streamlit run app.py` with the LLM faked (LiteLLM ``mock_response``), driven by Debian's Chromium.
Each case uploads a PDF into a collection of its own, asks, opens citation [1] and its "Show in
document" dialog, and checks that the page image is drawn, comes from this app, and carries the
amber highlight. The text-layer PDF is built with fpdf2; a scanned PDF (an image of the same page,
no text layer) is a second case of the same test, run when OCR (``rag.ocr``) is installed. An HTML
citation opens the passage inside its section, its hostile markup shown as text. No request may
leave 127.0.0.1. Screenshots go to docs/screenshots/.
"""

from __future__ import annotations

import importlib.util
import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from test_browser import (  # noqa: F401 - fixtures and helpers
    CHROMIUM,
    CHROMIUM_ARGS,
    INGEST_TIMEOUT_MS,
    MOCK,
    STEP_TIMEOUT_MS,
    open_page,
    screenshot,
    serve_app,
    wait_idle,
)

from helpers import chromium_page, ingest_and_ask

pytestmark = pytest.mark.browser

WARRANTY = (
    "Warranty and service. The warranty lasts two years from the date of purchase and covers defects in "
    "materials and workmanship. Keep your receipt as proof of purchase. The warranty does not cover damage "
    "caused by grinding anything other than coffee beans."
)
SERVICE = (
    "Service centres. Bring the grinder in its original box with all of its parts, including the hopper "
    "lid and the cleaning brush. The service centre inspects the motor, the burrs and the power cord, "
    "replaces worn parts and returns the grinder within ten working days. Repairs outside the warranty "
    "are quoted before any work starts, and you may decline the quote at no cost. Spare burrs, hoppers "
    "and brushes can be ordered from the same centre."
)
CLEANING = (
    "Brush the burrs every two weeks with the supplied brush so that old grounds do not affect the taste. "
    "Wipe the hopper with a dry cloth; never put any part of the grinder in the dishwasher. Run a "
    "handful of cleaning tablets through the burrs once a month when you grind oily, dark roasts."
)
INSTALL = (
    "Installing the Aurora coffee grinder. Unpack the grinder and place it on a dry, level surface. Attach "
    "the bean hopper by turning it clockwise until it clicks. Select a grind size with the front dial."
)
GUIDE_HTML = f"""<!doctype html><html><head><title>Aurora service guide</title></head><body>
<h1>Aurora service guide</h1>
<h2>Cleaning</h2><p>{CLEANING}</p>
<h2>Warranty</h2>
<p>{SERVICE}</p>
<p>{WARRANTY} &lt;img src="http://203.0.113.9/leak.png"&gt; is not an image here.</p>
<p>{SERVICE}</p>
</body></html>""".encode()
SCANNED_CASE = pytest.param(
    "scanned",
    marks=pytest.mark.skipif(
        importlib.util.find_spec("rag.ocr") is None, reason="OCR (rag.ocr) is not installed on this branch"
    ),
)


def text_pdf() -> bytes:
    """Page 1 about installation, page 2 about the warranty, with a text layer (fpdf2)."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_title("Aurora grinder manual")
    pdf.set_font("helvetica", size=12)
    for texts in ((INSTALL, CLEANING), (SERVICE, WARRANTY, SERVICE)):
        pdf.add_page()
        for text in texts:
            pdf.multi_cell(0, 8, text)
            pdf.ln(4)
    return bytes(pdf.output())


def scanned_pdf() -> bytes:
    """The same two pages as images only (rendered at 150 dpi, no text layer): what a scanner makes."""
    import pypdfium2
    from fpdf import FPDF

    source = pypdfium2.PdfDocument(text_pdf())
    pdf = FPDF()
    pdf.set_title("Aurora grinder manual (scan)")
    for index in range(len(source)):
        image = source[index].render(scale=150 / 72).to_pil().convert("L")
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        pdf.add_page()
        pdf.image(buffer, x=0, y=0, w=pdf.w, h=pdf.h)
    source.close()
    return bytes(pdf.output())


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from serve_app(tmp_path_factory, {"RAG_LLM_MOCK_RESPONSE": MOCK})


@pytest.fixture
def page(server: str):
    """A fresh Chromium page on the app; records every request that leaves 127.0.0.1."""
    for tab in chromium_page(CHROMIUM, CHROMIUM_ARGS, STEP_TIMEOUT_MS):
        remote: list[str] = []
        tab.remote_requests = remote
        tab.on(
            "request",
            lambda request, remote=remote: (
                None
                if request.url.startswith(("http://127.0.0.1", "data:", "blob:"))
                else remote.append(request.url)
            ),
        )
        yield tab


@contextmanager
def failure_screenshot(page, tmp_path: Path) -> Iterator[None]:
    """Save a screenshot of the page when the block fails (its path is printed)."""
    try:
        yield
    except BaseException:
        page.screenshot(path=str(tmp_path / "failure.png"))
        print(f"screenshot of the failure: {tmp_path / 'failure.png'}")
        raise


def upload_and_ask(server: str, page, collection: str, filename: str, data: bytes, mime: str):
    """Upload one file into ``collection``, ask about the warranty; return the answer's chat message."""
    page.goto(server)
    wait_idle(page)
    open_page(page, "Upload")
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(
        files=[{"name": filename, "mimeType": mime, "buffer": data}]
    )
    wait_idle(page)
    page.get_by_role("combobox", name="Target collection").click()
    page.get_by_role("option", name="➕ New collection…").click()
    wait_idle(page)
    page.get_by_role("textbox", name="New collection name").fill(collection)
    page.keyboard.press("Enter")
    wait_idle(page)
    return ingest_and_ask(
        page, collection, "How long is the warranty?", "two years from the date of purchase"
    )


def open_citation_source(page, assistant, chip_name: str):
    """Open chip ``[1]``'s popover, then its Show in document dialog; return the dialog."""
    from playwright.sync_api import expect

    assistant.get_by_role("button", name=chip_name).click()
    popover = page.locator('[data-testid="stPopoverBody"]')
    popover.get_by_role("button", name="Show in document").click()
    dialog = page.locator('[data-testid="stDialog"]')
    expect(dialog).to_be_visible()
    wait_idle(page)
    dialog.get_by_role("heading", name="Cited source").click()  # closes the chip's popover
    expect(popover).to_be_hidden()
    return dialog


def amber_share(png: bytes) -> float:
    """Share of an image's pixels in the highlight's amber (red high, blue well below it)."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    pixels = list(image.getdata())
    return sum(1 for r, _, b in pixels if r > 200 and b < 200) / len(pixels)


@pytest.mark.parametrize("kind", ["text", SCANNED_CASE])
def test_a_pdf_citation_shows_its_page_with_the_passage_highlighted(
    server: str, page, kind: str, tmp_path: Path
) -> None:
    with failure_screenshot(page, tmp_path):
        pdf_citation_steps(server, page, kind)


def pdf_citation_steps(server: str, page, kind: str) -> None:
    from playwright.sync_api import expect

    data = text_pdf() if kind == "text" else scanned_pdf()
    assistant = upload_and_ask(server, page, f"{kind}-pdf", "manual.pdf", data, "application/pdf")
    chip = "[1] Aurora grinder manual · p. 2" if kind == "text" else "[1] Aurora grinder manual (scan) · p. 2"
    dialog = open_citation_source(page, assistant, chip)

    image = dialog.locator('[data-testid="stImage"] img').first
    expect(image).to_be_visible()
    expect(dialog).to_contain_text("Page 2 of 2")
    expect(dialog).to_contain_text("highlighted")
    assert page.evaluate("(img) => img.complete && img.naturalWidth > 600", image.element_handle())
    src = image.get_attribute("src")
    assert src and not src.startswith("http") or src.startswith(server), src  # served by this app
    png = page.request.get(src if src.startswith("http") else server + src).body()
    assert amber_share(png) > 0.01, "the passage is highlighted on the page"
    box = image.bounding_box()
    assert box and box["y"] + 50 < 1000, "the highlighted excerpt is in view without scrolling"
    expect(dialog.get_by_role("button", name="Download original")).to_be_visible()
    screenshot(page, f"chat-source-pdf-{kind}.png")
    if kind == "text":
        # The Inspector: the stored answer's first candidate, selected, shows the same page.
        page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()
        assistant.get_by_role("button", name="Inspect").click()
        wait_idle(page)
        expect(page.get_by_role("heading", name="Stored answer")).to_be_visible()
        grid = page.locator('[data-testid="stDataFrame"]').first.bounding_box()
        page.mouse.click(grid["x"] + 15, grid["y"] + 35 + 17)  # the first candidate's checkbox
        wait_idle(page)
        shown = page.locator('[data-testid="stImage"]', has_text="Page 2 of 2")
        expect(shown).to_be_visible()
        shown.scroll_into_view_if_needed()
        screenshot(page, "inspector-source.png")
    assert page.remote_requests == [], page.remote_requests


def test_an_html_citation_shows_its_section_with_the_passage_marked(
    server: str, page, tmp_path: Path
) -> None:
    with failure_screenshot(page, tmp_path):
        html_citation_steps(server, page)


def html_citation_steps(server: str, page) -> None:
    from playwright.sync_api import expect

    assistant = upload_and_ask(server, page, "html-guide", "guide.html", GUIDE_HTML, "text/html")
    dialog = open_citation_source(page, assistant, "[1] Aurora service guide")
    context = dialog.locator('[data-testid="source-context"]')
    expect(context).to_be_visible()
    expect(context.locator("mark")).to_contain_text("two years from the date of purchase")
    expect(context).to_contain_text('<img src="http://203.0.113.9/leak.png">')  # shown as text
    assert context.locator("img").count() == 0
    expect(dialog).to_contain_text("Warranty")  # the heading path
    expect(dialog.get_by_role("button", name="Download original")).to_be_visible()
    screenshot(page, "chat-source-html.png")

    # The Corpus page: the document, its Download button, a chunk shown in its section.
    page.keyboard.press("Escape")
    open_page(page, "Corpus")
    grid = page.locator('[data-testid="stDataFrame"]').first.bounding_box()
    page.mouse.click(grid["x"] + 15, grid["y"] + 35 + 17)  # the first row's selection checkbox
    wait_idle(page)
    expect(page.get_by_role("button", name="Download original")).to_be_visible()
    chunks = page.locator('[data-testid="stDataFrame"]').nth(1).bounding_box()
    page.mouse.click(chunks["x"] + 15, chunks["y"] + 35 + 17 + 2 * 35)  # the third chunk: the warranty
    wait_idle(page)
    expect(page.locator('[data-testid="source-context"]')).to_be_visible()
    page.locator('[data-testid="source-context"]').scroll_into_view_if_needed()
    screenshot(page, "corpus-source.png")
    assert page.remote_requests == [], page.remote_requests
