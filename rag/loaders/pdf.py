"""PDF loader (pypdfium2, Google's PDFium): one section per page with text; title, author, subject from ``/Info``.

PDFium was chosen by measurement over pypdf, pdfminer.six, pdfplumber and PyMuPDF (docs/extraction.md,
``benchmarks/pdf_libraries.py``): it keeps the spaces between words where pypdf runs them together
("Theshellprompt"), and it is the fastest. Page numbers, running headers and footers and tables of
contents are taken out (:mod:`rag.loaders.page_furniture`). A page left without text that holds an
image is a scan: it is read by OCR (:mod:`rag.ocr`) and listed in ``metadata["ocr_pages"]``; the
pages still without text are listed in ``metadata["pages_without_text"]``, for the user to see.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from rag.errors import (
    CorruptDocument,
    EmptyDocument,
    EncryptedDocument,
    InputLimitExceeded,
    ModelNotAvailable,
    NoExtractableText,
)
from rag.loaders import guards
from rag.loaders.options import LoadOptions
from rag.loaders.page_furniture import strip_furniture
from rag.loaders.text import clean_text, single_document
from rag.models import LoadedDocument, Section

# PDFium's text layer marks a hyphen that ends a line as U+0002; other PDFs keep "-" and a line break.
_PDF_HYPHEN_RE = re.compile(r"(?<=[a-z])(?:\x02|-\n)(?=[a-z])")
# PDFium is not thread-safe, not even across documents (pypdfium2 README): the app's sessions and
# the ingest threads take turns. rag.ocr renders pages under it too.
PDFIUM_LOCK = threading.Lock()
"""Held around every PDFium call, by every module (:func:`rag.ocr.render_pdf_page` too)."""
_PDFIUM_LOCK = PDFIUM_LOCK


def _clean_pdf_text(text: str) -> str:
    """Clean PDFium's text: rejoin words hyphenated at a line end, single spaces, keep line breaks."""
    return clean_text(_PDF_HYPHEN_RE.sub("", text.replace("\r\n", "\n")))


def open_pdf(data: bytes, filename: str) -> Any:
    """Open a PDF with PDFium; the caller holds :data:`PDFIUM_LOCK` and closes the document.

    Args:
        data: The file's bytes.
        filename: For messages.

    Returns:
        A ``pypdfium2.PdfDocument``.

    Raises:
        EncryptedDocument: A password is needed (an empty user password is tried by PDFium itself).
        CorruptDocument: The file cannot be read as a PDF.
    """
    import pypdfium2
    import pypdfium2.raw as pdfium_c

    try:
        return pypdfium2.PdfDocument(data)
    except pypdfium2.PdfiumError as exc:
        if getattr(exc, "err_code", None) in (pdfium_c.FPDF_ERR_PASSWORD, pdfium_c.FPDF_ERR_SECURITY):
            raise EncryptedDocument(
                f"{filename} is password protected; remove the password and upload again "
                "(e.g. print it to a new PDF, or `qpdf --decrypt`)"
            ) from exc
        raise CorruptDocument(
            f"{filename} cannot be read as a PDF ({exc}); it may be truncated or damaged: "
            "download or export it again"
        ) from exc


SCANNED_IMAGE_COVERAGE = 0.5
"""Share of a page's area covered by images (0-1) from which the page is taken for a scan."""
SCANNED_MAX_TEXT_CHARS = 200
"""Characters of text layer a scan may carry and still be OCR'd: a stamp ("Page 3", a Bates number,
a fax header) is a line of 10-60; a typed page with a figure has thousands."""


def _image_coverage(page: Any, pdfium_c: Any) -> float:
    """Share (0-1) of the page's area under image objects (their bounding boxes, summed, capped at 1)."""
    width, height = page.get_size()
    area = 0.0
    for image in page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_IMAGE,), max_depth=2):
        left, bottom, right, top = image.get_bounds()
        # Not clipped to the page: its box is in unrotated user space, get_size() displayed; the cap does it.
        area += max(0.0, right - left) * max(0.0, top - bottom)
    return min(1.0, area / (width * height)) if width > 0 and height > 0 else 0.0


def _read_pages(data: bytes, filename: str) -> tuple[list[str], dict[str, str], dict[int, float]]:
    """Each page's raw text, the ``/Info`` entries, and each image page's image coverage (1-based -> 0-1).

    Raises:
        EncryptedDocument: A password is needed (an empty user password is tried by PDFium itself).
        CorruptDocument: The file or one of its pages cannot be read.
        InputLimitExceeded: More pages than :data:`~rag.loaders.guards.MAX_PDF_PAGES` or more text than
            :data:`~rag.loaders.guards.MAX_DOCUMENT_CHARS`.
    """
    import pypdfium2
    import pypdfium2.raw as pdfium_c

    with PDFIUM_LOCK:
        pdf = open_pdf(data, filename)
        try:
            info = pdf.get_metadata_dict(skip_empty=True)
            guards.check_count(filename, "pages", len(pdf), guards.MAX_PDF_PAGES, "split the PDF into parts")
            pages: list[str] = []
            image_pages: dict[int, float] = {}
            extracted_chars = 0
            for index in range(len(pdf)):
                try:
                    page = pdf[index]
                    text_page = page.get_textpage()
                    pages.append(text_page.get_text_bounded())
                    extracted_chars += len(pages[-1])
                    guards.check_text_length(filename, extracted_chars)
                    text_page.close()
                    coverage = _image_coverage(page, pdfium_c)
                    if coverage > 0:
                        image_pages[index + 1] = coverage
                    page.close()
                except pypdfium2.PdfiumError as exc:
                    raise CorruptDocument(
                        f"{filename}: page {index + 1} cannot be read ({exc}); the PDF may be damaged: "
                        "export it again"
                    ) from exc
        finally:
            pdf.close()
    return pages, info, image_pages


def _ocr_pages(
    data: bytes, filename: str, numbers: list[int], options: LoadOptions
) -> tuple[dict[int, str], dict[int, str]]:
    """OCR the given 1-based pages: render each at :data:`rag.ocr.OCR_DPI`, recognise it outside the lock.

    A page that cannot be rendered or read (Tesseract fails or passes its per-page time) is recorded
    and skipped: one bad scan does not cost the other pages.

    Returns:
        ``(texts, failed)``: page number -> recognised text (``""`` when OCR found none), and page
        number -> why OCR failed on it.

    Raises:
        InputLimitExceeded: More pages to OCR than :data:`~rag.loaders.guards.MAX_OCR_PAGES`, or OCR
            running longer than :data:`~rag.loaders.guards.MAX_OCR_SECONDS`.
        CorruptDocument: A page cannot be rendered.
    """
    import pypdfium2

    from rag import ocr

    guards.check_count(
        filename, "scanned pages to OCR", len(numbers), guards.MAX_OCR_PAGES, "split the PDF into parts"
    )
    clock = guards.OcrClock(filename)
    texts: dict[int, str] = {}
    failed: dict[int, str] = {}
    with PDFIUM_LOCK:
        pdf = open_pdf(data, filename)
    try:
        for done, number in enumerate(numbers, start=1):
            try:
                with PDFIUM_LOCK:
                    page = pdf[number - 1]
                    try:
                        rendered = ocr.render_page(page, number)
                    finally:
                        page.close()
                texts[number] = ocr.lines_to_text(ocr.recognise(rendered.image))
            except pypdfium2.PdfiumError as exc:
                failed[number] = f"page {number} cannot be rendered for OCR ({exc})"
            except (CorruptDocument, InputLimitExceeded) as exc:
                failed[number] = f"page {number}: {exc}"
            if options.on_page is not None:
                options.on_page(done, len(numbers))
            clock.check(done, len(numbers))
    finally:
        with PDFIUM_LOCK:
            pdf.close()
    return texts, failed


def _scanned_pages(
    texts: list[str], without_text: tuple[int, ...] | list[int], images: dict[int, float]
) -> list[int]:
    """The 1-based pages to OCR, decided by text amount against image coverage.

    Image pages left without text, and pages at least :data:`SCANNED_IMAGE_COVERAGE` covered by
    images whose text layer is no more than a stamp (:data:`SCANNED_MAX_TEXT_CHARS` characters).
    """
    empty = set(without_text)
    return [
        number
        for number, coverage in sorted(images.items())
        if number in empty
        or (coverage >= SCANNED_IMAGE_COVERAGE and len(texts[number - 1]) <= SCANNED_MAX_TEXT_CHARS)
    ]


def load_pdf(data: bytes, filename: str, options: LoadOptions) -> list[LoadedDocument]:
    """Load a PDF: one section per page that has text, with its 1-based ``page`` number.

    Pages with a text layer keep it. Pages without one (besides page furniture) that hold an image,
    and pages mostly covered by images whose text layer is only a stamp (``Page 3``, a Bates number;
    :func:`_scanned_pages`), are scanned pages: they are rendered and read by OCR (:mod:`rag.ocr`), unless
    ``options.ocr`` is off; running headers and page numbers are then taken out of both kinds alike.

    Args:
        data: The file's bytes.
        filename: The file's name, used as ``source_name`` and in error messages.
        options: ``ocr`` (read scanned pages) and ``on_page`` (called after each OCR'd page with
            ``(pages done, pages to OCR)``).

    Returns:
        One document; ``page_count`` is the number of pages; ``metadata`` holds
        ``pages_without_text`` (1-based page numbers still without text, ``[]`` when every page has
        text), ``ocr_pages`` (1-based pages whose text came from OCR, ``[]`` for none),
        ``ocr_unavailable`` (why scanned pages were not read, when Tesseract is missing),
        ``ocr_failed_pages`` (``[{"page", "reason"}]``, pages OCR failed on; present only then), and
        ``author`` and ``subject`` when the PDF's ``/Info`` has them; the title comes from
        ``/Info`` too.

    Raises:
        EncryptedDocument: The PDF needs a password.
        CorruptDocument: The file or one of its pages cannot be parsed or rendered.
        EmptyDocument: The PDF has no pages.
        InputLimitExceeded: More pages than :data:`~rag.loaders.guards.MAX_PDF_PAGES`, more text than
            :data:`~rag.loaders.guards.MAX_DOCUMENT_CHARS`, or more OCR than the limits of
            :mod:`rag.loaders.guards` allow.
        NoExtractableText: No page has text, not even through OCR (or OCR is not installed).
    """
    raw_pages, info, image_pages = _read_pages(data, filename)
    if not raw_pages:
        raise EmptyDocument(f"{filename}: the PDF has no pages; no text found")
    cleaned = [_clean_pdf_text(text) for text in raw_pages]
    pages = strip_furniture(cleaned)
    to_ocr = _scanned_pages(cleaned, pages.without_text, image_pages) if options.ocr else []
    ocr_pages: list[int] = []
    ocr_missing = ""
    failed: dict[int, str] = {}
    if to_ocr:
        try:
            recognised, failed = _ocr_pages(data, filename, to_ocr, options)
        except ModelNotAvailable as exc:
            # Tesseract is not installed: the typed pages are still worth indexing; say why the rest is not.
            recognised, ocr_missing = {}, str(exc)
        for number, text in recognised.items():
            text = _clean_pdf_text(text)
            if any(char.isalnum() for char in text):
                cleaned[number - 1] = text
                ocr_pages.append(number)
        guards.check_text_length(filename, sum(map(len, cleaned)))
        pages = strip_furniture(cleaned)
        ocr_pages = [number for number in ocr_pages if pages.texts[number - 1]]
    sections = [Section(text=text, page=number) for number, text in enumerate(pages.texts, start=1) if text]
    if not sections:
        hint = (
            ocr_missing or "OCR found no text either: check that the scan is legible (300 dpi, upright)"
            if to_ocr
            else "the pages have no text layer and no images to read"
        )
        raise NoExtractableText(f"{filename}: no extractable text; {hint}")
    metadata: dict[str, Any] = {"pages_without_text": list(pages.without_text), "ocr_pages": ocr_pages}
    if ocr_missing:
        metadata["ocr_unavailable"] = ocr_missing
    if failed:
        metadata["ocr_failed_pages"] = [
            {"page": number, "reason": reason} for number, reason in sorted(failed.items())
        ]
    for key in ("Author", "Subject"):
        if info.get(key, "").strip():
            metadata[key.lower()] = info[key].strip()
    return single_document(
        data, filename, info.get("Title", ""), sections, metadata=metadata, page_count=len(raw_pages)
    )
