"""OCR (rag.ocr, Tesseract) on pages rendered here from real text: scanned PDF pages and images.

Small on purpose (a page or two each): OCR takes about a second per page on two cores.
"""

from __future__ import annotations

import io

import pytest

from helpers import TUTORIAL_LINES, make_scanned_pdf, render_text_image
from rag import ocr
from rag.errors import CorruptDocument, InputLimitExceeded, ModelNotAvailable, NoExtractableText
from rag.loaders import LoadOptions, guards, load_bytes


@pytest.fixture(scope="module")
def page():
    return render_text_image(TUTORIAL_LINES, dpi=200)


def _words(text: str) -> set[str]:
    return {word.strip(".,").lower() for word in text.split()}


def test_recognise_reads_the_lines_in_order_with_boxes_and_confidence(page) -> None:
    image, drawn = page
    lines = ocr.recognise(image)
    assert len(lines) == len(TUTORIAL_LINES)
    for line, expected, box in zip(lines, TUTORIAL_LINES, drawn, strict=True):
        # The recognised words are the drawn words (a few characters may differ, not whole lines).
        assert len(_words(line.text) & _words(expected)) >= len(_words(expected)) - 2
        x0, y0, x1, y1 = line.box
        assert 0 <= x0 < x1 <= image.width and 0 <= y0 < y1 <= image.height
        # Each box sits on its drawn line: the centres lie within the drawn line's box.
        assert box[0] - 5 <= (x0 + x1) / 2 <= box[2] + 5 and box[1] - 5 <= (y0 + y1) / 2 <= box[3] + 5
        assert 0.5 <= line.confidence <= 1.0
    text = ocr.lines_to_text(lines)
    assert text.count("\n") == len(TUTORIAL_LINES) - 1
    assert "search-and-replace" in text and "automate" in text


def test_missing_tesseract_names_the_package(page, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(ModelNotAvailable, match="apt-get install tesseract-ocr tesseract-ocr-eng"):
        ocr.recognise(page[0])


def test_without_tesseract_a_pdf_keeps_its_typed_pages_and_says_why(
    page, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    monkeypatch.setattr(shutil, "which", lambda name: None)
    (document,) = load_bytes(make_scanned_pdf(["Typed page."], [page[0]]), "mixed.pdf")
    assert [section.page for section in document.sections] == [1]
    assert document.metadata["pages_without_text"] == [2] and document.metadata["ocr_pages"] == []
    assert "apt-get install tesseract-ocr" in document.metadata["ocr_unavailable"]
    with pytest.raises(NoExtractableText, match="apt-get install tesseract-ocr"):
        load_bytes(make_scanned_pdf([], [page[0]]), "scan.pdf")


def test_blank_image_has_no_lines() -> None:
    from PIL import Image

    assert ocr.recognise(Image.new("L", (600, 400), "white")) == []


def test_scanned_pdf_page_is_ocrd_and_text_pages_keep_their_text_layer(page) -> None:
    image, _ = page
    data = make_scanned_pdf(["Lighthouses guide ships at night."], [image])
    progress: list[tuple[int, int]] = []
    (document,) = load_bytes(
        data, "scan.pdf", LoadOptions(on_page=lambda done, total: progress.append((done, total)))
    )
    assert document.page_count == 2
    assert [section.page for section in document.sections] == [1, 2]
    assert document.sections[0].text == "Lighthouses guide ships at night."
    assert "automate" in document.sections[1].text and "photo files" in document.sections[1].text
    assert document.metadata["ocr_pages"] == [2]
    assert document.metadata["pages_without_text"] == []
    assert progress == [(1, 1)]


def test_scanned_pdf_with_ocr_off_is_refused(page) -> None:
    image, _ = page
    with pytest.raises(NoExtractableText, match="no extractable text"):
        load_bytes(make_scanned_pdf([], [image]), "scan.pdf", LoadOptions(ocr=False))


def test_rendered_page_boxes_map_back_to_pdf_points(page) -> None:
    image, drawn = page
    data = make_scanned_pdf([], [image], dpi=200)
    rendered = ocr.render_pdf_page(data, 1, dpi=100)
    assert rendered.dpi == 100 and rendered.image.width == pytest.approx(image.width / 2, abs=2)
    assert (rendered.width_pt, rendered.height_pt) == pytest.approx(
        (image.width * 72 / 200, image.height * 72 / 200)
    )
    first = ocr.recognise(rendered.image)[0]
    left, bottom, right, top = rendered.box_to_pdf(first.box)
    # The first drawn line, in points from the bottom-left corner of the page.
    x0, y0, x1, y1 = (value * 72 / 200 for value in drawn[0])
    assert left == pytest.approx(x0, abs=6) and top == pytest.approx(rendered.height_pt - y0, abs=6)
    assert bottom < top and left < right <= rendered.width_pt
    with pytest.raises(CorruptDocument, match="no page 2"):
        ocr.render_pdf_page(data, 2)


@pytest.mark.parametrize("image_format", ["PNG", "JPEG"])
def test_image_file_is_one_ocrd_page(page, image_format: str) -> None:
    image, _ = page
    buffer = io.BytesIO()
    image.save(buffer, image_format)
    (document,) = load_bytes(buffer.getvalue(), f"scan.{image_format.lower()}")
    assert document.page_count == 1 and document.metadata["ocr_pages"] == [1]
    assert [section.page for section in document.sections] == [1]
    assert "rearrange" in document.sections[0].text
    assert document.media_type == f"image/{image_format.lower()}"


def test_transparent_png_is_read_on_white(page) -> None:
    from PIL import Image

    image, _ = page
    # Black text on a fully transparent background (screenshots and exported figures look like this).
    transparent = Image.new("RGBA", image.size, (0, 0, 0, 0))
    transparent.putalpha(image.convert("L").point(lambda value: 255 - value))
    buffer = io.BytesIO()
    transparent.save(buffer, "PNG")
    (document,) = load_bytes(buffer.getvalue(), "transparent.png")
    assert "rearrange" in document.sections[0].text


def test_multi_page_tiff_frames_are_pages(page) -> None:
    from PIL import Image

    image, _ = page
    blank = Image.new("RGB", image.size, "white")
    buffer = io.BytesIO()
    image.save(buffer, "TIFF", save_all=True, append_images=[blank, image], compression="tiff_deflate")
    (document,) = load_bytes(buffer.getvalue(), "scan.tiff")
    assert document.page_count == 3
    assert document.metadata["ocr_pages"] == [1, 3] and document.metadata["pages_without_text"] == [2]
    assert [section.page for section in document.sections] == [1, 3]


# --- hostile images ---------------------------------------------------------------------------------


def test_pixel_bomb_tiff_is_refused_before_decoding() -> None:
    from PIL import Image

    buffer = io.BytesIO()
    # 64 million pixels of 1-bit fax compression: a 10 KB file that decodes to 192 MB of RGB.
    Image.new("1", (8000, 8000), 1).save(buffer, "TIFF", compression="group4")
    assert len(buffer.getvalue()) < 100_000
    with pytest.raises(InputLimitExceeded, match="8,000 x 8,000 pixels"):
        load_bytes(buffer.getvalue(), "bomb.tiff")


def test_png_declaring_gigapixels_is_refused() -> None:
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    data = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )
    with pytest.raises(InputLimitExceeded, match="huge image"):
        load_bytes(data, "bomb.png")


def test_tiff_with_more_frames_than_the_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import Image

    monkeypatch.setattr(guards, "MAX_OCR_PAGES", 2)
    frames = [Image.new("L", (64, 64), "white") for _ in range(3)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "TIFF", save_all=True, append_images=frames[1:])
    with pytest.raises(InputLimitExceeded, match="3 frames, above the limit of 2"):
        load_bytes(buffer.getvalue(), "many.tiff")


def test_truncated_tiff_and_renamed_gif_are_corrupt(page) -> None:
    from PIL import Image

    image, _ = page
    buffer = io.BytesIO()
    image.save(buffer, "TIFF")
    with pytest.raises(CorruptDocument, match="cut.tiff"):
        load_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 3], "cut.tiff")
    gif = io.BytesIO()
    Image.new("RGB", (32, 32)).save(gif, "GIF")
    with pytest.raises(CorruptDocument, match="cannot be read as a PNG, JPEG or TIFF"):
        load_bytes(gif.getvalue(), "renamed.png")


def test_scanned_pdf_past_the_ocr_page_limit_is_refused(page, monkeypatch: pytest.MonkeyPatch) -> None:
    image, _ = page
    monkeypatch.setattr(guards, "MAX_OCR_PAGES", 1)
    with pytest.raises(InputLimitExceeded, match="2 scanned pages to OCR, above the limit of 1"):
        load_bytes(make_scanned_pdf([], [image, image]), "long-scan.pdf")


# --- the OCR flag through storage, retrieval, citations and progress ----------------------------------


def test_ocr_flag_reaches_chunks_candidates_citations_and_page_progress(engine, page) -> None:
    from rag.answer import Citation
    from rag.models import ocr_pages_note

    image, _ = page
    data = make_scanned_pdf(["Lighthouses guide ships at night with a rotating lamp."], [image])
    events = []
    (outcome,) = engine.ingest_files(
        [("mixed.pdf", data)], engine.settings.collection, on_progress=events.append
    )
    assert not outcome.failed
    reading = [event for event in events if event.pages_total]
    assert [(e.stage, e.pages_done, e.pages_total) for e in reading] == [("parse", 1, 1)]
    assert 0 < reading[0].fraction <= 0.5  # the OCR half of the file's progress

    (document,) = [d for d in engine.documents() if d.source_name == "mixed.pdf"]
    assert document.ocr_pages == (2,)
    assert ocr_pages_note(document.ocr_pages, document.page_count) == "1 of 2 pages was read by OCR (2)"
    chunks = engine.chunks(document.id)
    assert {(c.page_start, c.from_ocr) for c in chunks} == {(1, False), (2, True)}

    trace = engine.search("automate a search-and-replace over text files")
    scanned = [c for c in trace.candidates if c.page_start == 2]
    typed = [c for c in trace.candidates if c.page_start == 1]
    assert scanned and all(c.from_ocr for c in scanned)
    assert typed and not any(c.from_ocr for c in typed)
    citation = Citation.from_candidate(1, scanned[0])
    assert citation.from_ocr and Citation.from_dict({**citation.__dict__, "heading_path": []}).from_ocr


@pytest.mark.parametrize(
    ("dtype", "ink", "paper", "image_format"),
    [("uint16", 8_000, 50_000, "PNG"), ("uint16", 300, 3_000, "PNG"), ("int32", 8_000, 50_000, "TIFF")],
)  # a 16-bit scan (ink not quite black); 12-bit values stored in 16 bits; 32-bit integer grey (mode I)
def test_wide_greyscale_images_are_read(page, dtype: str, ink: int, paper: int, image_format: str) -> None:
    import numpy as np
    from PIL import Image

    image, _ = page
    grey = np.asarray(image.convert("L")).astype(np.float64) / 255
    wide = Image.fromarray((ink + grey * (paper - ink)).astype(dtype))
    assert wide.mode in ("I;16", "I")
    buffer = io.BytesIO()
    wide.save(buffer, image_format)
    (document,) = load_bytes(buffer.getvalue(), f"wide.{image_format.lower()}")
    assert "rearrange" in document.sections[0].text


@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
def test_boxes_of_rotated_pages_map_back_to_unrotated_pdf_points(page, rotation: int) -> None:
    import pypdfium2

    image, drawn = page
    # The scan is stored turned back, so that the page's /Rotate shows it upright.
    pdf = pypdfium2.PdfDocument(make_scanned_pdf([], [image.rotate(rotation, expand=True)], dpi=200))
    pdf[0].set_rotation(rotation)
    buffer = io.BytesIO()
    pdf.save(buffer)
    pdf.close()
    rendered = ocr.render_pdf_page(buffer.getvalue(), 1, dpi=100)
    assert rendered.rotation == rotation
    first = ocr.recognise(rendered.image)[0]
    got = rendered.box_to_pdf(first.box)
    # Where the first drawn line lies on the unrotated page: its displayed box turned back.
    k = 72 / 200
    u0, v0, u1, v1 = (value * k for value in drawn[0])
    width, height = image.width * k, image.height * k  # displayed (= upright image) size
    expected = {
        0: (u0, height - v1, u1, height - v0),
        90: (v0, u0, v1, u1),
        180: (width - u1, v0, width - u0, v1),
        270: (height - v1, width - u1, height - v0, width - u0),
    }[rotation]
    # The left/top edges of the text line: OCR boxes hug the ink, drawn boxes include the line height.
    assert got == pytest.approx(expected, abs=12)


def test_very_long_page_is_rendered_within_the_side_limit() -> None:
    from fpdf import FPDF

    pdf = FPDF(unit="pt", format=(14_400, 72))  # 200 x 1 inches: 60,000 px wide at 300 dpi
    pdf.add_page()
    pdf.set_font("Helvetica", size=40)
    pdf.text(20, 50, "A banner")
    rendered = ocr.render_pdf_page(bytes(pdf.output()), 1, dpi=300)
    assert max(rendered.image.size) <= ocr.MAX_OCR_SIDE_PX
    assert rendered.dpi < 300


def _stamped_scan(image, stamp: str) -> bytes:  # type: ignore[no-untyped-def]
    """One scanned page (the image, full page, 200 dpi) with a one-line text stamp over it."""
    from fpdf import FPDF

    width, height = (side * 72 / 200 for side in image.size)
    pdf = FPDF(unit="pt")
    pdf.add_page(format=(width, height))
    pdf.image(image, x=0, y=0, w=width, h=height)
    pdf.set_font("Helvetica", size=8)
    pdf.text(width - 80, height - 10, stamp)
    return bytes(pdf.output())


def test_scanned_page_with_a_text_stamp_is_still_ocrd(page) -> None:
    image, _ = page
    (document,) = load_bytes(_stamped_scan(image, "ACME-000123"), "stamped.pdf")
    assert document.metadata["ocr_pages"] == [1]
    assert "rearrange" in document.sections[0].text


def test_one_failing_ocr_page_is_recorded_and_the_others_kept(page, monkeypatch: pytest.MonkeyPatch) -> None:
    image, _ = page
    real = ocr.recognise
    calls = []

    def fail_on_second(picture):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 2:
            raise CorruptDocument("OCR failed on the image (simulated); check that it is a readable scan")
        return real(picture)

    monkeypatch.setattr(ocr, "recognise", fail_on_second)
    (document,) = load_bytes(make_scanned_pdf([], [image, image, image]), "three.pdf")
    assert document.metadata["ocr_pages"] == [1, 3]
    assert document.metadata["pages_without_text"] == [2]
    assert [item["page"] for item in document.metadata["ocr_failed_pages"]] == [2]
    assert "simulated" in document.metadata["ocr_failed_pages"][0]["reason"]


def test_ocr_time_budget_stops_a_long_scan_with_a_clear_error(page, monkeypatch: pytest.MonkeyPatch) -> None:
    image, _ = page
    monkeypatch.setattr(guards, "MAX_OCR_SECONDS", 0.0)
    with pytest.raises(InputLimitExceeded, match=r"OCR read 1 of 3 pages in .* s, above the limit of 0 s"):
        load_bytes(make_scanned_pdf([], [image, image, image]), "slow-scan.pdf")
