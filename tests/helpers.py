"""Small file generators shared by tests (every test file is generated, nothing is checked in)."""

from __future__ import annotations

import io


def make_pdf(pages: list[str]) -> bytes:
    """A PDF with one page per string (fpdf2), each page's text on its own page."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
    return bytes(pdf.output())


def make_blank_pdf() -> bytes:
    """A one-page PDF with a drawn rectangle and no text layer."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.rect(20, 20, 50, 50)
    return bytes(pdf.output())


def make_encrypted_pdf(text: str = "secret text") -> bytes:
    """A PDF protected with a user password (RC4-128, no extra crypto dependency)."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf([text]))))
    writer.encrypt(user_password="pw", owner_password="owner", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def assert_bm25_statistics_match_recount(engine) -> None:
    """The incrementally maintained BM25 statistics equal a recomputation from the chunks."""
    with engine.db.connection() as conn:
        cid = engine.collection().id
        stored = dict(
            conn.execute(
                "SELECT lexeme, doc_freq FROM lexeme_stats WHERE collection_id = %(c)s AND doc_freq > 0",
                {"c": cid},
            ).fetchall()
        )
        recomputed = dict(
            conn.execute(
                "SELECT u.lexeme, count(*) FROM chunks ch, unnest(ch.lexemes) u WHERE ch.collection_id = %(c)s GROUP BY 1",
                {"c": cid},
            ).fetchall()
        )
        totals = conn.execute(
            "SELECT chunk_count, lexeme_total FROM collections WHERE id = %(c)s", {"c": cid}
        ).fetchone()
        actual = conn.execute(
            "SELECT count(*), coalesce(sum(lexeme_count), 0) FROM chunks WHERE collection_id = %(c)s",
            {"c": cid},
        ).fetchone()
    assert stored == recomputed
    assert tuple(totals) == tuple(actual)


TUTORIAL_LINES = (
    "If you do much work on computers, eventually you find",
    "that there's some task you'd like to automate. For example,",
    "you may wish to perform a search-and-replace over a large",
    "number of text files, or rename and rearrange a bunch of",
    "photo files in a complicated way.",
)
"""Prose from the Python tutorial, "Whetting Your Appetite" (Debian's python3-doc), for OCR fixtures."""


def render_text_image(lines: tuple[str, ...] | list[str], dpi: int = 200, point_size: float = 12.0):
    """A white page strip with ``lines`` typeset in DejaVu Serif (Pillow's own font when missing).

    Args:
        lines: The text lines, drawn from the top-left margin down, 1.5 line spacing.
        dpi: Resolution: a 12 pt font is ``12 * dpi / 72`` pixels tall.
        point_size: Font size in points.

    Returns:
        ``(image, boxes)``: the RGB ``PIL.Image`` and each line's drawn ``(x0, y0, x1, y1)`` in pixels.
    """
    from pathlib import Path

    from PIL import Image, ImageDraw, ImageFont

    size = round(point_size * dpi / 72)
    font_path = Path("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf")
    font = ImageFont.truetype(str(font_path), size) if font_path.exists() else ImageFont.load_default(size)
    margin = dpi // 2
    width = margin * 2 + max(round(font.getlength(line)) for line in lines)
    height = margin * 2 + round(len(lines) * size * 1.5)
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    boxes = []
    for number, line in enumerate(lines):
        position = (margin, margin + round(number * size * 1.5))
        draw.text(position, line, fill="black", font=font)
        boxes.append(draw.textbbox(position, line, font=font))
    return image, boxes


def make_scanned_pdf(text_pages: list[str], scanned: list[object], dpi: int = 200) -> bytes:
    """A PDF whose first pages have a text layer (``text_pages``) and the rest are images only.

    Args:
        text_pages: Text of the pages with a text layer, in order.
        scanned: PIL images, one page each, placed after the text pages at ``dpi``.
        dpi: The images' resolution: a page is as large as the image at that resolution.
    """
    from fpdf import FPDF

    pdf = FPDF(unit="pt")
    pdf.set_font("Helvetica", size=12)
    for text in text_pages:
        pdf.add_page(format="A4")
        pdf.multi_cell(0, 16, text)
    for image in scanned:
        width, height = (side * 72 / dpi for side in image.size)  # type: ignore[attr-defined]
        pdf.add_page(format=(width, height))
        pdf.image(image, x=0, y=0, w=width, h=height)
    return bytes(pdf.output())


# --- browser tests (Playwright; imported by tests/test_browser*.py only) --------------------------


def chromium_page(executable: str, args: list[str], timeout_ms: float):
    """Yield one headless Chromium page (1400 x 1000), every step waiting up to ``timeout_ms``; close after."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=timeout_ms)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=args)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(timeout_ms)
            yield page
        finally:
            browser.close()


def ingest_and_ask(page, collection: str, question: str, answer: str):  # type: ignore[no-untyped-def]
    """Ingest the file chosen on the Upload page into ``collection``, ask ``question`` on the Chat page.

    Ingests inline (the "In the background" switch turned off: these tests are about citations, and
    test_browser.py covers the queue), waits for the "New" metric to say 1, then for the answer to
    contain ``answer``.

    Returns:
        The assistant's chat message (a Playwright locator).
    """
    from playwright.sync_api import expect
    from test_browser import INGEST_TIMEOUT_MS, STEP_TIMEOUT_MS, open_page, wait_idle

    page.get_by_text("In the background", exact=True).click()  # the switch input itself is hidden
    expect(page.get_by_role("switch", name="In the background")).not_to_be_checked()
    wait_idle(page)
    page.get_by_role("button", name=f"Ingest 1 file(s) into {collection}").click()
    wait_idle(page, INGEST_TIMEOUT_MS)
    expect(page.locator('[data-testid="stMetric"]', has_text="New")).to_contain_text(
        "1", timeout=INGEST_TIMEOUT_MS
    )
    open_page(page, "Chat")
    page.locator('[data-testid="stChatInputTextArea"]').fill(question)
    page.keyboard.press("Enter")
    assistant = page.locator('[data-testid="stChatMessage"]').nth(1)
    expect(assistant).to_contain_text(answer, timeout=STEP_TIMEOUT_MS)
    wait_idle(page)
    return assistant
