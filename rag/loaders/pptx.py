"""PPTX loader (python-pptx): one page per slide, its title as the heading, speaker notes included."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

from rag.errors import CorruptDocument, LoaderError
from rag.loaders import guards
from rag.loaders.options import LoadOptions
from rag.loaders.text import clean_text, single_document
from rag.models import LoadedDocument, Section

# Compound File Binary signature: legacy .ppt files and password-protected Office files.
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_FIX = "a real presentation is far smaller; save it again from PowerPoint, or split it"


def _shape_lines(shape: Any) -> Iterator[str]:
    """The text of one shape: text frames paragraph by paragraph, tables row by row, groups recursively."""
    from pptx.enum.shapes import MSO_SHAPE_TYPE

    if shape.shape_type == MSO_SHAPE_TYPE.GROUP:
        for child in shape.shapes:
            yield from _shape_lines(child)
        return
    if getattr(shape, "has_table", False) and shape.has_table:
        for row in shape.table.rows:
            cells = [" ".join(cell.text.split()) for cell in row.cells]
            if any(cells):
                yield " | ".join(cells)
        return
    if getattr(shape, "has_text_frame", False) and shape.has_text_frame:
        for paragraph in shape.text_frame.paragraphs:
            yield paragraph.text


def load_pptx(data: bytes, filename: str, options: LoadOptions) -> list[LoadedDocument]:
    """Load a PowerPoint presentation: one section per slide with text, ``page`` = slide number.

    The slide's title placeholder is its heading (``heading_path`` ``(title,)``); the other shapes'
    text (text boxes, tables as ``cell | cell`` rows, grouped shapes) follows in the slide's shape
    order, then the speaker notes after a ``Notes:`` line.

    Args:
        data: The file's bytes.
        filename: The file's name, used as ``source_name`` and in error messages.
        options: Unused: every loader takes the same arguments (see :mod:`rag.loaders`).

    Returns:
        One document titled by the core properties' title, else the first slide's title;
        ``page_count`` = slides.

    Raises:
        CorruptDocument: Not a readable PPTX (truncated, legacy ``.ppt``, password protected).
        InputLimitExceeded: The zip expands past the limits of :mod:`rag.loaders.guards`.
    """
    import pptx

    guards.check_zip(data, filename, "PPTX", _FIX)
    try:
        presentation = pptx.Presentation(io.BytesIO(data))
    except Exception as exc:  # BadZipFile, KeyError, PackageNotFoundError, lxml errors...
        if data.startswith(_OLE_MAGIC):
            hint = "it is an old .ppt file or password protected: save it as .pptx without a password"
        else:
            hint = "it may be truncated or not a PowerPoint file: save it again as .pptx"
        raise CorruptDocument(f"{filename} cannot be read as PPTX ({type(exc).__name__}); {hint}") from exc
    sections: list[Section] = []
    first_title = ""
    try:
        slides = list(presentation.slides)
        guards.check_count(filename, "slides", len(slides), guards.MAX_PDF_PAGES, _FIX)
        for number, slide in enumerate(slides, start=1):
            title_shape = slide.shapes.title
            title = " ".join(title_shape.text.split()) if title_shape is not None else ""
            first_title = first_title or title
            lines = [
                line
                for shape in slide.shapes
                if title_shape is None or shape.shape_id != title_shape.shape_id
                for line in _shape_lines(shape)
            ]
            if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
                notes = slide.notes_slide.notes_text_frame.text.strip()
                if notes:
                    lines += ["", "Notes:", notes]
            text = clean_text("\n".join(lines))
            if text or title:
                sections.append(
                    Section(text=text or title, page=number, heading_path=(title,) if title else ())
                )
        document_title = (presentation.core_properties.title or "").strip() or first_title
    except LoaderError:
        raise
    except Exception as exc:  # malformed XML inside a valid zip
        raise CorruptDocument(
            f"{filename}: the PPTX content cannot be read ({type(exc).__name__}: {exc}); save it again as .pptx"
        ) from exc
    return single_document(data, filename, document_title, sections, page_count=len(slides))
