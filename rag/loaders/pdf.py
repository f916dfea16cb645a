"""PDF loader (pypdf): one section per page with text; title, author and subject from ``/Info``."""

from __future__ import annotations

import io
import re
from typing import Any

from rag.errors import CorruptDocument, EmptyDocument, EncryptedDocument, LoaderError, NoExtractableText
from rag.loaders import guards
from rag.loaders.options import LoadOptions
from rag.loaders.text import clean_text, single_document
from rag.models import LoadedDocument, Section

_PDF_HYPHEN_RE = re.compile(r"(?<=[a-z])-\n(?=[a-z])")


def _clean_pdf_text(text: str) -> str:
    """Clean pypdf's text: rejoin words hyphenated at a line end, single spaces, keep line breaks."""
    return clean_text(_PDF_HYPHEN_RE.sub("", text.replace("\r\n", "\n")))


def load_pdf(data: bytes, filename: str, options: LoadOptions) -> list[LoadedDocument]:
    """Load a PDF: one section per page that has text, with its 1-based ``page`` number.

    Args:
        data: The file's bytes.
        filename: The file's name, used as ``source_name`` and in error messages.
        options: Unused: every loader takes the same arguments (see :mod:`rag.loaders`).

    Returns:
        One document; ``page_count`` is the number of pages, ``metadata`` holds ``author`` and
        ``subject`` when the PDF's ``/Info`` has them, and the title comes from ``/Info`` too.

    Raises:
        EncryptedDocument: The PDF needs a password, or its AES encryption needs ``cryptography``.
        CorruptDocument: The file or one of its pages cannot be parsed.
        EmptyDocument: The PDF has no pages.
        InputLimitExceeded: More pages than :data:`~rag.loaders.guards.MAX_PDF_PAGES` or more text than
            :data:`~rag.loaders.guards.MAX_DOCUMENT_CHARS`.
        NoExtractableText: No page has a text layer (scanned images; OCR is not supported).
    """
    from pypdf import PasswordType, PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError, PyPdfError

    encrypted_message = (
        f"{filename} is password protected; remove the password and upload again "
        "(e.g. print it to a new PDF, or `qpdf --decrypt`)"
    )
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
            # Many PDFs are encrypted with an empty user password (only editing is restricted).
            raise EncryptedDocument(encrypted_message)
        pages = list(reader.pages)
        guards.check_count(filename, "pages", len(pages), guards.MAX_PDF_PAGES, "split the PDF into parts")
    except LoaderError:
        raise
    except FileNotDecryptedError as exc:
        raise EncryptedDocument(encrypted_message) from exc
    except DependencyError as exc:
        raise EncryptedDocument(
            f"{filename} uses AES encryption, which needs the 'cryptography' package: "
            f"pip install cryptography, or remove the password and upload again ({exc})"
        ) from exc
    except Exception as exc:  # pypdf raises many types on damaged files (PdfReadError, ValueError...)
        raise CorruptDocument(
            f"{filename} cannot be read as a PDF ({type(exc).__name__}: {exc}); it may be truncated or "
            "damaged: download or export it again"
        ) from exc

    sections: list[Section] = []
    extracted_chars = 0
    for number, page in enumerate(pages, start=1):
        try:
            raw = page.extract_text() or ""
        except Exception as exc:  # same reason as above
            raise CorruptDocument(
                f"{filename}: page {number} cannot be read ({type(exc).__name__}: {exc}); "
                "the PDF may be damaged: export it again"
            ) from exc
        text = _clean_pdf_text(raw)
        extracted_chars += len(text)
        guards.check_text_length(filename, extracted_chars)
        if text:
            sections.append(Section(text=text, page=number))
    if not pages:
        raise EmptyDocument(f"{filename}: the PDF has no pages; no text found")
    if not sections:
        raise NoExtractableText(
            f"{filename}: no extractable text; OCR is not supported. The pages are probably scanned "
            "images: run the file through OCR (e.g. ocrmypdf) and upload the result"
        )

    title = ""
    metadata: dict[str, Any] = {}
    try:
        info = reader.metadata
        if info is not None:
            title = info.title if isinstance(info.title, str) else ""
            for key, value in (("author", info.author), ("subject", info.subject)):
                if isinstance(value, str) and value.strip():
                    metadata[key] = value.strip()
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError):
        pass  # a broken /Info dictionary only loses the title: the text is what matters
    return single_document(data, filename, title, sections, metadata=metadata, page_count=len(pages))
