"""PDF loader (pypdfium2, Google's PDFium): one section per page with text; title, author, subject from ``/Info``.

PDFium was chosen by measurement over pypdf, pdfminer.six, pdfplumber and PyMuPDF (docs/extraction.md,
``benchmarks/pdf_libraries.py``): it keeps the spaces between words where pypdf runs them together
("Theshellprompt"), and it is the fastest. Page numbers, running headers and footers and tables of
contents are taken out (:mod:`rag.loaders.page_furniture`); the pages left without any text are
listed in ``metadata["pages_without_text"]``, for the user to see and for OCR to take.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from rag.errors import CorruptDocument, EmptyDocument, EncryptedDocument, NoExtractableText
from rag.loaders import guards
from rag.loaders.options import LoadOptions
from rag.loaders.page_furniture import strip_furniture
from rag.loaders.text import clean_text, single_document
from rag.models import LoadedDocument, Section

# PDFium's text layer marks a hyphen that ends a line as U+0002; other PDFs keep "-" and a line break.
_PDF_HYPHEN_RE = re.compile(r"(?<=[a-z])(?:\x02|-\n)(?=[a-z])")
# PDFium is not thread-safe, not even across documents (pypdfium2 README): the app's sessions and
# the ingest threads take turns.
_PDFIUM_LOCK = threading.Lock()


def _clean_pdf_text(text: str) -> str:
    """Clean PDFium's text: rejoin words hyphenated at a line end, single spaces, keep line breaks."""
    return clean_text(_PDF_HYPHEN_RE.sub("", text.replace("\r\n", "\n")))


def _read_pages(data: bytes, filename: str) -> tuple[list[str], dict[str, str]]:
    """Each page's raw text and the ``/Info`` entries, reading the PDF with PDFium.

    Raises:
        EncryptedDocument: A password is needed (an empty user password is tried by PDFium itself).
        CorruptDocument: The file or one of its pages cannot be read.
        InputLimitExceeded: More pages than :data:`~rag.loaders.guards.MAX_PDF_PAGES` or more text than
            :data:`~rag.loaders.guards.MAX_DOCUMENT_CHARS`.
    """
    import pypdfium2
    import pypdfium2.raw as pdfium_c

    with _PDFIUM_LOCK:
        try:
            pdf = pypdfium2.PdfDocument(data)
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
        try:
            info = pdf.get_metadata_dict(skip_empty=True)
            guards.check_count(filename, "pages", len(pdf), guards.MAX_PDF_PAGES, "split the PDF into parts")
            pages: list[str] = []
            extracted_chars = 0
            for index in range(len(pdf)):
                try:
                    page = pdf[index]
                    text_page = page.get_textpage()
                    pages.append(text_page.get_text_bounded())
                    extracted_chars += len(pages[-1])
                    guards.check_text_length(filename, extracted_chars)
                    text_page.close()
                    page.close()
                except pypdfium2.PdfiumError as exc:
                    raise CorruptDocument(
                        f"{filename}: page {index + 1} cannot be read ({exc}); the PDF may be damaged: "
                        "export it again"
                    ) from exc
        finally:
            pdf.close()
    return pages, info


def load_pdf(data: bytes, filename: str, options: LoadOptions) -> list[LoadedDocument]:
    """Load a PDF: one section per page that has text, with its 1-based ``page`` number.

    Args:
        data: The file's bytes.
        filename: The file's name, used as ``source_name`` and in error messages.
        options: Unused: every loader takes the same arguments (see :mod:`rag.loaders`).

    Returns:
        One document; ``page_count`` is the number of pages; ``metadata`` holds
        ``pages_without_text`` (1-based page numbers with no text besides page furniture, ``[]``
        when every page has text) and ``author`` and ``subject`` when the PDF's ``/Info`` has them;
        the title comes from ``/Info`` too.

    Raises:
        EncryptedDocument: The PDF needs a password.
        CorruptDocument: The file or one of its pages cannot be parsed.
        EmptyDocument: The PDF has no pages.
        InputLimitExceeded: More pages than :data:`~rag.loaders.guards.MAX_PDF_PAGES` or more text than
            :data:`~rag.loaders.guards.MAX_DOCUMENT_CHARS`.
        NoExtractableText: No page has a text layer (scanned images; OCR is not supported).
    """
    raw_pages, info = _read_pages(data, filename)
    if not raw_pages:
        raise EmptyDocument(f"{filename}: the PDF has no pages; no text found")
    pages = strip_furniture([_clean_pdf_text(text) for text in raw_pages])
    sections = [Section(text=text, page=number) for number, text in enumerate(pages.texts, start=1) if text]
    if not sections:
        raise NoExtractableText(
            f"{filename}: no extractable text; OCR is not supported. The pages are probably scanned "
            "images: run the file through OCR (e.g. ocrmypdf) and upload the result"
        )
    metadata: dict[str, Any] = {"pages_without_text": list(pages.without_text)}
    for key in ("Author", "Subject"):
        if info.get(key, "").strip():
            metadata[key.lower()] = info[key].strip()
    return single_document(
        data, filename, info.get("Title", ""), sections, metadata=metadata, page_count=len(raw_pages)
    )
