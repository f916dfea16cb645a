"""In a real browser: a PDF whose second page is a scan is uploaded, read by OCR, cited, and marked OCR.

The scanned page is rendered here from text (Pillow), placed in the PDF as an image only, so its
words reach the index only through Tesseract. The answer's citation chip and the passage carry the
OCR badge, and the Corpus page's chunk list marks the chunk. Screenshots: docs/screenshots/
``chat-ocr.png`` and ``corpus-ocr.png``. Same server and browser as tests/test_browser.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from test_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    STEP_TIMEOUT_MS,
    open_page,
    screenshot,
    serve_app,
    wait_idle,
)

from helpers import chromium_page, ingest_and_ask, make_scanned_pdf, render_text_image

pytestmark = pytest.mark.browser

MOCK = "The lamp is serviced every March [1]."
TYPED_PAGE = "Cabo da Roca lighthouse. The tower stands on the westernmost cape of mainland Europe."
SCANNED_LINES = (
    "Maintenance. The lamp of the lighthouse is serviced",
    "every March by the keepers, before the storm season.",
    "Spare bulbs are kept in the store room under the stairs.",
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from serve_app(tmp_path_factory, {"RAG_LLM_MOCK_RESPONSE": MOCK})


@pytest.fixture(scope="module")
def browser_page(server: str):
    yield from chromium_page(CHROMIUM, CHROMIUM_ARGS, STEP_TIMEOUT_MS)


def test_scanned_page_is_cited_with_an_ocr_badge(server: str, browser_page, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    page = browser_page
    image, _ = render_text_image(SCANNED_LINES, dpi=200)
    data = make_scanned_pdf([TYPED_PAGE], [image])
    try:
        page.goto(server)
        open_page(page, "Upload")
        page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(
            files=[{"name": "lighthouse.pdf", "mimeType": "application/pdf", "buffer": data}]
        )
        wait_idle(page)
        assistant = ingest_and_ask(page, "default", "When is the lamp serviced?", "serviced every March")
        chip = assistant.get_by_role("button", name="[1] lighthouse · p. 2 · OCR")
        chip.click()
        popover = page.locator('[data-testid="stPopoverBody"]')
        expect(popover).to_contain_text("OCR")
        expect(popover).to_contain_text("every March by the keepers")  # lines end in <br>
        screenshot(page, "chat-ocr.png")
        page.keyboard.press("Escape")

        open_page(page, "Corpus")
        grid = page.locator('[data-testid="stDataFrame"]').first.bounding_box()
        page.mouse.click(grid["x"] + 15, grid["y"] + 35 + 17)  # the first row's selection checkbox
        expect(page.get_by_text("1 of 2 pages was read by OCR (2)")).to_be_visible()
        wait_idle(page)
        screenshot(page, "corpus-ocr.png")
    except BaseException:
        page.screenshot(path=str(tmp_path / "failure.png"))
        print(f"screenshot of the failure: {tmp_path / 'failure.png'}")
        raise
