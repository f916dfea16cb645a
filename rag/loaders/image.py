"""Image loader (Pillow + OCR): PNG, JPEG and TIFF scans; each image (TIFF frame) is one page.

Pillow opens only these three formats (``formats=``), reads the header first, and every frame's
size is checked against :data:`rag.ocr.MAX_OCR_PIXELS` before its pixels are decoded, so a pixel bomb
(a few KB declaring gigapixels) or a TIFF of endless frames is refused with the reason instead of
filling memory. A photo's EXIF orientation is applied before OCR (a phone stores portrait shots
rotated).
"""

from __future__ import annotations

import io
import warnings
from typing import Any

from rag.errors import CorruptDocument, InputLimitExceeded, NoExtractableText
from rag.loaders import guards
from rag.loaders.options import LoadOptions
from rag.loaders.text import clean_text, single_document
from rag.models import LoadedDocument, Section

_FORMATS = ("PNG", "JPEG", "TIFF")


def _open(data: bytes, filename: str) -> Any:
    """Open the image lazily (header only) with Pillow, refusing other formats and pixel bombs."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data), formats=_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InputLimitExceeded(
            f"{filename} declares a huge image ({exc}); scan it again at 300 dpi or less"
        ) from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise CorruptDocument(
            f"{filename} cannot be read as a PNG, JPEG or TIFF image ({type(exc).__name__}); it may be "
            "truncated or another format renamed: export it again"
        ) from exc


_WIDE_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")
"""Pillow modes of more than 8 bits a sample: 16-bit greyscale PNG/TIFF scans, 32-bit integer or float."""


def _to_8_bit(image: Any) -> Any:
    """A 16/32-bit greyscale frame as 8-bit ``L``, its value range stretched to 0-255.

    Pillow's ``convert("RGB")`` clips such values at 255, so a 16-bit scan (0-65535) came out white:
    blank to OCR. Stretching by the frame's own extremes also reads 12-bit scans stored in 16 bits.
    """
    wide = image.convert("F") if image.mode != "F" else image
    low, high = wide.getextrema()
    scale = 255.0 / (high - low) if high > low else 0.0
    return wide.point(lambda value: (value - low) * scale).convert("L")


def _on_white(image: Any) -> Any:
    """The frame as RGB, a transparent background made white.

    Dropping the alpha channel would leave a transparent background black, and black text on it
    unreadable.
    """
    from PIL import Image

    if image.mode in _WIDE_MODES:
        image = _to_8_bit(image)
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    if not has_alpha:
        return image if image.mode == "RGB" else image.convert("RGB")
    rgba = image.convert("RGBA")
    return Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert("RGB")


def load_image(data: bytes, filename: str, options: LoadOptions) -> list[LoadedDocument]:
    """Load a scanned image: OCR each frame (a multi-page TIFF has several) into one page.

    Args:
        data: The file's bytes.
        filename: The file's name, used as ``source_name`` and in error messages.
        options: ``ocr`` (off refuses the image) and ``on_page`` (called after each frame with
            ``(frames done, frames)``: the number of frames is known only at the end, so it is the
            frames seen so far, plus one while more may follow).

    Returns:
        One document: one section per frame with text, ``page`` = frame number (1-based);
        ``page_count`` = frames; ``metadata`` ``{"ocr_pages": [...], "pages_without_text": [...],
        "image_format": "PNG"|"JPEG"|"TIFF"}``.

    Raises:
        CorruptDocument: Not a readable PNG, JPEG or TIFF (truncated, another format, bad data).
        InputLimitExceeded: A frame above :data:`rag.ocr.MAX_OCR_PIXELS`, more frames than
            :data:`~rag.loaders.guards.MAX_OCR_PAGES`, or OCR past
            :data:`~rag.loaders.guards.MAX_OCR_SECONDS`.
        NoExtractableText: OCR is off, or found no text.
    """
    from PIL import ImageOps

    from rag import ocr

    image = _open(data, filename)
    image_format = str(image.format)
    if not options.ocr:
        raise NoExtractableText(f"{filename}: an image has text only through OCR, and OCR is turned off")
    clock = guards.OcrClock(filename)
    texts: list[str] = []
    with image:
        frame = 0
        while True:
            try:
                image.seek(frame)
            except EOFError:
                break
            except (OSError, ValueError, SyntaxError) as exc:
                raise CorruptDocument(
                    f"{filename}: frame {frame + 1} cannot be read ({type(exc).__name__}: {exc}); export it again"
                ) from exc
            guards.check_count(
                filename, "frames", frame + 1, guards.MAX_OCR_PAGES, "split the TIFF into several files"
            )
            ocr.check_pixels(f"{filename} frame {frame + 1}", image.width, image.height)
            try:
                picture = ImageOps.exif_transpose(_on_white(image))
                picture.load()
            except (OSError, ValueError, SyntaxError) as exc:  # truncated or damaged pixel data
                raise CorruptDocument(
                    f"{filename}: the image data of frame {frame + 1} cannot be decoded "
                    f"({type(exc).__name__}: {exc}); it may be truncated: export it again"
                ) from exc
            texts.append(clean_text(ocr.lines_to_text(ocr.recognise(picture))))
            frame += 1
            if options.on_page is not None:
                options.on_page(frame, frame + 1 if image_format == "TIFF" else frame)
            clock.check(frame, frame + 1 if image_format == "TIFF" else frame)
            guards.check_text_length(filename, sum(map(len, texts)))
            if image_format != "TIFF":
                break  # an animated PNG's later frames are animation, not pages
    pages = [number for number, text in enumerate(texts, start=1) if any(c.isalnum() for c in text)]
    if not pages:
        raise NoExtractableText(
            f"{filename}: OCR found no text in the image; check that it is a legible scan (300 dpi, upright)"
        )
    sections = [Section(text=texts[number - 1], page=number) for number in pages]
    metadata = {
        "ocr_pages": pages,
        "pages_without_text": [n for n in range(1, len(texts) + 1) if n not in pages],
        "image_format": image_format,
    }
    return single_document(data, filename, "", sections, metadata=metadata, page_count=len(texts))
