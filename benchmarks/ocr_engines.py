"""Tesseract against RapidOCR on the same rendered pages: the measurement behind rag/ocr.py's choice.

Usage (RapidOCR is not a dependency of the app; install it for this run only):
    .venv/bin/python -m pip install rapidocr-onnxruntime==1.4.4
    .venv/bin/python benchmarks/ocr_engines.py --pages 2

Pages come from ``benchmarks/ocr_quality.py`` (Debian Reference prose, A4, 11 pt, 150 and 300 dpi,
clean and noisy) and are given to each engine directly as images (no PDF step; Tesseract through ``rag.ocr.recognise``,
RapidOCR's lines joined by spaces). Printed per page:
character error rate (Levenshtein / reference characters, after ``ocr_quality.fold``) and seconds.
"""

from __future__ import annotations

import argparse
import time

from ocr_quality import add_noise, fold, layout_pages, render, source_paragraphs
from rapidfuzz.distance import Levenshtein

from rag import ocr


def main() -> None:
    """Run both engines on each page and print one line per page."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--pages", type=int, default=2)
    args = parser.parse_args()
    from rapidocr_onnxruntime import RapidOCR

    rapid = RapidOCR()
    pages = layout_pages(source_paragraphs(args.pages * 4_000), args.pages)
    for dpi in (150, 300):
        for noise in ("clean", "noisy"):
            for lines in pages:
                image = render(lines, dpi)
                if noise == "noisy":
                    image = add_noise(image, dpi)
                reference = fold(" ".join(lines))
                started = time.perf_counter()
                result, _ = rapid(image.convert("RGB"))
                rapid_s = time.perf_counter() - started
                rapid_text = fold(" ".join(str(item[1]) for item in result or ()))
                started = time.perf_counter()
                tess_text = fold(" ".join(line.text for line in ocr.recognise(image)))
                tess_s = time.perf_counter() - started
                print(
                    f"{dpi} dpi {noise:<5}  RapidOCR CER {Levenshtein.distance(reference, rapid_text) / len(reference):6.2%} "
                    f"{rapid_s:5.1f} s   Tesseract CER {Levenshtein.distance(reference, tess_text) / len(reference):6.2%} "
                    f"{tess_s:5.1f} s",
                    flush=True,
                )


if __name__ == "__main__":
    main()
