"""EPUB loader (EbookLib): the chapters in reading (spine) order, each read by the HTML loader.

EbookLib reads the container, package (OPF) and spine, parsing XML without entity expansion; each
chapter's XHTML goes through :func:`rag.loaders.html.html_sections`, so chapters keep their ``<h1>``-``<h6>``
headings as heading paths and navigation is dropped the same way as for web pages. A book with DRM
(``META-INF/encryption.xml``) is refused: its chapters are ciphertext.
"""

from __future__ import annotations

import io
import warnings
import zipfile

from rag.errors import CorruptDocument, EmptyDocument, EncryptedDocument, LoaderError
from rag.loaders import guards
from rag.loaders.html import html_sections
from rag.loaders.options import LoadOptions
from rag.loaders.text import single_document
from rag.models import LoadedDocument, Section

_FIX = "a real e-book is far smaller; split it, or export the chapters as HTML"


def load_epub(data: bytes, filename: str, options: LoadOptions) -> list[LoadedDocument]:
    """Load an EPUB 2 or 3 book: its spine's documents in order, sections at their headings.

    Args:
        data: The file's bytes.
        filename: The file's name, used as ``source_name`` and in error messages.
        options: Unused: every loader takes the same arguments (see :mod:`rag.loaders`).

    Returns:
        One document titled by the book's ``dc:title`` (else the file name); ``metadata`` holds
        ``author`` (the ``dc:creator`` values joined with ", ") and ``language`` when the book has them.

    Raises:
        CorruptDocument: Not a readable EPUB (not a zip, no container or package file).
        EncryptedDocument: The book is DRM-protected.
        EmptyDocument: No chapter has text.
        InputLimitExceeded: The zip or a chapter is past the limits of :mod:`rag.loaders.guards`.
    """
    from ebooklib import ITEM_DOCUMENT, epub

    guards.check_zip(data, filename, "EPUB", _FIX, allow_doctype=True)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if "META-INF/encryption.xml" in archive.namelist():
                raise EncryptedDocument(
                    f"{filename} is DRM-protected (it has META-INF/encryption.xml), so its text cannot be "
                    "read: use a DRM-free copy of the book"
                )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # EbookLib warns about options it will change defaults of
            book = epub.read_epub(io.BytesIO(data), {"ignore_ncx": True})
    except LoaderError:
        raise
    except Exception as exc:  # BadZipFile, EpubException, KeyError for a missing container...
        raise CorruptDocument(
            f"{filename} cannot be read as EPUB ({type(exc).__name__}: {exc}); it may be truncated or "
            "another format: export it again as .epub"
        ) from exc
    sections: list[Section] = []
    for item_id, _linear in book.spine:
        item = book.get_item_with_id(item_id)
        if item is None or item.get_type() != ITEM_DOCUMENT:
            continue
        _chapter_title, chapter = html_sections(item.get_content(), f"{filename}: {item.get_name()}")
        sections.extend(chapter)
        guards.check_text_length(filename, sum(len(section.text) for section in sections))
    if not sections:
        raise EmptyDocument(f"{filename}: the book's chapters have no text; no text found")
    metadata: dict[str, str] = {}
    creators = [value for value, _attributes in book.get_metadata("DC", "creator") if value and value.strip()]
    if creators:
        metadata["author"] = ", ".join(creator.strip() for creator in creators)
    languages = [value for value, _attributes in book.get_metadata("DC", "language") if value]
    if languages:
        metadata["language"] = languages[0].strip()
    titles = [value for value, _attributes in book.get_metadata("DC", "title") if value and value.strip()]
    return single_document(data, filename, titles[0] if titles else "", sections, metadata=metadata)
