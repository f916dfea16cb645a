"""OCR quality and speed on scanned pages rendered here from real text (Debian's debian-reference).

Usage:
    .venv/bin/python benchmarks/ocr_quality.py                       # 10 pages per setting
    .venv/bin/python benchmarks/ocr_quality.py --pages 8 --dpi 150 300 --json out.json

Test set: the prose of the Debian Reference (``/usr/share/debian-reference/ch*.en.html``, package
debian-reference-en; read with the app's own HTML reader) is typeset page by page on A4 in 11 pt
DejaVu Serif with 1-inch margins and rasterised at each ``--dpi``. Each page is scored twice:

- ``clean``: the raster as it is;
- ``noisy``: what a cheap office scanner does: rotated by 1 degree, a Gaussian blur of about a
  quarter of a point, and saved as JPEG at quality 50 (block artefacts).

Each raster is wrapped in an image-only PDF at its resolution and loaded with
``rag.loaders.load_bytes`` exactly as an upload is (page rendered at ``rag.ocr.OCR_DPI``, Tesseract,
page furniture removal), so the figures are the loader's, not the bare engine's.

Measures, per setting (dpi x clean/noisy):

- ``cer``: character error rate = Levenshtein distance(reference, OCR text) / reference characters,
  over the whole setting (rapidfuzz's Levenshtein). Both texts are compared with whitespace runs
  folded to one space and typographic quotes and dashes folded to ASCII (an OCR that reads a curly
  quote as a straight one is not wrong for search).
- ``wer``: the same over words.
- ``pages_per_s``: pages / seconds spent in ``load_bytes`` (rendering + OCR), on this machine with
  its current load (``os.getloadavg`` is printed before and after).
"""

from __future__ import annotations

import argparse
import glob
import io
import json
import os
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont
from rapidfuzz.distance import Levenshtein

from rag.loaders import load_bytes
from rag.loaders.html import html_sections
from rag.ocr import OCR_DPI

SOURCE_GLOB = "/usr/share/debian-reference/ch*.en.html"
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf"
PAGE_IN = (8.27, 11.69)  # A4 in inches
MARGIN_IN = 1.0
POINT_SIZE = 11.0
LINE_SPACING = 1.4
_FOLD = str.maketrans(
    {"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-"}
)


def fold(text: str) -> str:
    """Whitespace runs to one space, typographic quotes and dashes to ASCII."""
    return " ".join(text.translate(_FOLD).split())


def source_paragraphs(limit_chars: int) -> list[str]:
    """Paragraphs of at least 60 characters and 8 words from the Debian Reference, in chapter order."""
    paragraphs: list[str] = []
    total = 0
    for path in sorted(glob.glob(SOURCE_GLOB)):
        _title, sections = html_sections(Path(path).read_bytes(), path)
        for section in sections:
            for paragraph in section.text.split("\n\n"):
                paragraph = " ".join(paragraph.split())
                # Prose only: the chapter's table of contents ("1.1.2. The shell prompt under GUI") is
                # left out, it is not what a scanned archive page holds.
                if len(paragraph) >= 60 and len(paragraph.split()) >= 8 and not paragraph[0].isdigit():
                    paragraphs.append(paragraph)
                    total += len(paragraph)
                    if total >= limit_chars:
                        return paragraphs
    if not paragraphs:
        raise SystemExit(f"no source text: install debian-reference-en ({SOURCE_GLOB})")
    return paragraphs


def layout_pages(paragraphs: list[str], pages: int) -> list[list[str]]:
    """Greedy word wrap to the text width of an A4 page (measured with the font), pages of lines."""
    font = ImageFont.truetype(FONT, 100)  # measure at 100 px, scale to points
    width_pt = (PAGE_IN[0] - 2 * MARGIN_IN) * 72
    lines_per_page = int((PAGE_IN[1] - 2 * MARGIN_IN) * 72 // (POINT_SIZE * LINE_SPACING))
    lines: list[str] = []
    for paragraph in paragraphs:
        line = ""
        for word in paragraph.split():
            candidate = f"{line} {word}" if line else word
            if font.getlength(candidate) * POINT_SIZE / 100 <= width_pt or not line:
                line = candidate
            else:
                lines.append(line)
                line = word
        lines += [line, ""]  # a blank line between paragraphs
    out = [lines[i : i + lines_per_page] for i in range(0, len(lines), lines_per_page)]
    return out[:pages]


def render(lines: list[str], dpi: int) -> Image.Image:
    """One A4 page of ``lines`` at ``dpi``, black on white, grey-scale."""
    size = (round(PAGE_IN[0] * dpi), round(PAGE_IN[1] * dpi))
    image = Image.new("L", size, 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(FONT, round(POINT_SIZE * dpi / 72))
    step = POINT_SIZE * LINE_SPACING * dpi / 72
    for number, line in enumerate(lines):
        draw.text((MARGIN_IN * dpi, MARGIN_IN * dpi + number * step), line, fill=0, font=font)
    return image


def add_noise(image: Image.Image, dpi: int) -> Image.Image:
    """1 degree rotation, a Gaussian blur of 0.25 pt, JPEG quality 50."""
    rotated = image.rotate(1.0, resample=Image.Resampling.BICUBIC, fillcolor=255)
    blurred = rotated.filter(ImageFilter.GaussianBlur(radius=0.25 * dpi / 72))
    buffer = io.BytesIO()
    blurred.save(buffer, "JPEG", quality=50)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("L")


def as_pdf(image: Image.Image, dpi: int) -> bytes:
    """An image-only PDF page of ``image`` at ``dpi`` (Pillow's PDF writer, like a scanner's)."""
    buffer = io.BytesIO()
    image.save(buffer, "PDF", resolution=dpi)
    return buffer.getvalue()


@dataclass
class Setting:
    """Scores of one setting (dpi x noise)."""

    dpi: int
    noise: str
    pages: int
    reference_chars: int
    char_errors: int
    reference_words: int
    word_errors: int
    seconds: float

    @property
    def cer(self) -> float:
        return self.char_errors / self.reference_chars

    @property
    def wer(self) -> float:
        return self.word_errors / self.reference_words

    @property
    def pages_per_s(self) -> float:
        return self.pages / self.seconds


def measure(pages: list[list[str]], dpi: int, noise: str) -> Setting:
    """OCR every page through the PDF loader; sum the edit distances."""
    setting = Setting(dpi, noise, 0, 0, 0, 0, 0, 0.0)
    for lines in pages:
        image = render(lines, dpi)
        if noise == "noisy":
            image = add_noise(image, dpi)
        data = as_pdf(image, dpi)
        started = time.perf_counter()
        (document,) = load_bytes(data, "scan.pdf")
        setting.seconds += time.perf_counter() - started
        reference = fold(" ".join(lines))
        recognised = fold(" ".join(section.text for section in document.sections))
        setting.pages += 1
        setting.reference_chars += len(reference)
        setting.char_errors += Levenshtein.distance(reference, recognised)
        setting.reference_words += len(reference.split())
        setting.word_errors += Levenshtein.distance(reference.split(), recognised.split())
    return setting


def main() -> None:
    """Run the settings and print one line each (and ``--json``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--pages", type=int, default=10, help="pages per setting (default 10)")
    parser.add_argument("--dpi", type=int, nargs="+", default=[150, 300])
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()
    pages = layout_pages(source_paragraphs(args.pages * 4_000), args.pages)
    load_before = os.getloadavg()
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; loadavg before {load_before}"
    )
    print(
        f"{len(pages)} pages per setting, {sum(len(' '.join(p)) for p in pages):,} characters; OCR_DPI {OCR_DPI}"
    )
    load_bytes(as_pdf(render(pages[0][:3], 150), 150), "warm-up.pdf")  # model load is not per page
    results = []
    for dpi in args.dpi:
        for noise in ("clean", "noisy"):
            setting = measure(pages, dpi, noise)
            results.append(setting)
            print(
                f"{dpi:>4} dpi {noise:<6} pages {setting.pages:>3}  CER {setting.cer:6.2%}  "
                f"WER {setting.wer:6.2%}  {setting.pages_per_s:.2f} pages/s"
            )
    load_after = os.getloadavg()
    print(f"loadavg after {load_after}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "load_before": load_before,
                    "load_after": load_after,
                    "settings": [
                        {**asdict(s), "cer": s.cer, "wer": s.wer, "pages_per_s": s.pages_per_s}
                        for s in results
                    ],
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
