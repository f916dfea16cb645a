"""Turn files into :class:`~rag.models.LoadedDocument` values, one loader per format.

Each format is read with a well-kept library, never with our own parser: pypdfium2 (PDF,
:mod:`rag.loaders.pdf`, with page furniture taken out by :mod:`rag.loaders.page_furniture`), python-docx (DOCX, :mod:`rag.loaders.docx`), BeautifulSoup + lxml (HTML,
:mod:`rag.loaders.html`), LangChain's ``MarkdownHeaderTextSplitter`` (Markdown, plain text:
:mod:`rag.loaders.markdown`), pandas (CSV) and the standard ``json`` module (BEIR JSONL), both in
:mod:`rag.loaders.tabular`; Pillow + Tesseract (PNG, JPEG, TIFF scans: :mod:`rag.loaders.image`, OCR
in :mod:`rag.ocr`, which also reads a PDF's scanned pages); python-pptx (PPTX, slides as pages:
:mod:`rag.loaders.pptx`); pandas with openpyxl / odfpy (XLSX, ODS, sheets as tables:
:mod:`rag.loaders.spreadsheet`); EbookLib (EPUB: :mod:`rag.loaders.epub`); the standard ``email``
package (.eml: :mod:`rag.loaders.eml`); charset-normalizer decodes text (:mod:`rag.loaders.text`). The libraries
are imported inside the loaders, so importing this package stays cheap.

This module holds the entry points: :func:`load_bytes` checks the size, emptiness and extension
first, then parses the whole file before it returns, so a bad file raises before any document is
handed out (for JSONL and CSV rows every line is validated first: a file with one bad line yields
nothing). Every loader stays within the limits of :mod:`rag.loaders.guards`, and every document's
text is cleaned of characters PostgreSQL cannot store (NUL) there too. Every error is a :class:`~rag.errors.LoaderError` subclass whose message says what to do.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path, PurePath

from rag.errors import EmptyDocument, LoaderError, UnsupportedFileType
from rag.loaders import guards
from rag.loaders.docx import load_docx
from rag.loaders.eml import load_eml
from rag.loaders.epub import load_epub
from rag.loaders.html import load_html
from rag.loaders.image import load_image
from rag.loaders.markdown import load_markdown, load_text
from rag.loaders.options import LoadOptions, too_large_error
from rag.loaders.pdf import load_pdf
from rag.loaders.pptx import load_pptx
from rag.loaders.spreadsheet import load_spreadsheet
from rag.loaders.tabular import load_csv, load_jsonl
from rag.loaders.text import MEDIA_TYPES
from rag.models import LoadedDocument

__all__ = ["SUPPORTED_EXTENSIONS", "LoadOptions", "check_file", "iter_files", "load_bytes", "load_path"]

SUPPORTED_EXTENSIONS: frozenset[str] = frozenset(MEDIA_TYPES)
"""Lower-cased file extensions (with the dot) that have a loader."""

_Loader = Callable[[bytes, str, LoadOptions], list[LoadedDocument]]

_LOADERS: dict[str, _Loader] = {
    ".pdf": load_pdf,
    ".docx": load_docx,
    ".html": load_html,
    ".htm": load_html,
    ".md": load_markdown,
    ".markdown": load_markdown,
    ".txt": load_text,
    ".csv": load_csv,
    ".jsonl": load_jsonl,
    ".png": load_image,
    ".jpg": load_image,
    ".jpeg": load_image,
    ".tif": load_image,
    ".tiff": load_image,
    ".pptx": load_pptx,
    ".xlsx": load_spreadsheet,
    ".ods": load_spreadsheet,
    ".epub": load_epub,
    ".eml": load_eml,
}


def check_file(filename: str, size: int, options: LoadOptions = LoadOptions()) -> None:
    """Refuse a file that cannot be loaded, from its name and size alone (nothing is read).

    The checks :func:`load_bytes` makes first, so an upload page can say before ingesting why a
    file will fail.

    Args:
        filename: The file's name (its extension picks the loader).
        size: The file's size, in bytes.
        options: Holds the size limit.

    Raises:
        FileTooLarge: ``size`` exceeds ``options.max_file_bytes``.
        EmptyDocument: ``size`` is 0.
        UnsupportedFileType: The extension is not in :data:`SUPPORTED_EXTENSIONS`.
    """
    if size > options.max_file_bytes:
        raise too_large_error(filename, size, options)
    if size == 0:
        raise EmptyDocument(f"{filename}: file is empty (0 bytes); upload a file with content")
    extension = PurePath(filename).suffix.lower()
    if extension not in _LOADERS:
        kind = f"'{extension}' files are" if extension else "files without an extension are"
        raise UnsupportedFileType(
            f"{filename}: {kind} not supported; supported types: {', '.join(sorted(SUPPORTED_EXTENSIONS))}"
        )


def load_bytes(data: bytes, filename: str, options: LoadOptions = LoadOptions()) -> Iterator[LoadedDocument]:
    """Load the documents contained in one file's bytes.

    The loader is chosen by the lower-cased extension of ``filename``. The whole file is parsed and
    validated before this function returns, so every error below is raised by the call itself and a
    bad file never yields some of its documents.

    Args:
        data: The file's bytes.
        filename: The file's name (no folders needed); the extension picks the loader and the name
            becomes ``source_name`` (``name#row-3`` / ``name#<_id>`` for CSV rows / JSONL lines).
        options: Size limit and CSV settings.

    Returns:
        The documents in file order: one for PDF, DOCX, HTML, Markdown, TXT, images, PPTX, XLSX,
        ODS, EPUB, EML and CSV in ``"file"`` mode; one per row (CSV ``"rows"`` mode, rows without any text are skipped) or per line
        (JSONL, lines whose ``title`` and ``text`` are both blank are skipped).

    Raises:
        FileTooLarge: ``len(data)`` exceeds ``options.max_file_bytes``.
        EmptyDocument: The file has 0 bytes, or no text after extraction.
        UnsupportedFileType: The extension is not in :data:`SUPPORTED_EXTENSIONS`.
        EncryptedDocument: A PDF or workbook needs a password, or an EPUB has DRM.
        NoExtractableText: A PDF or image has no text, not even through OCR.
        ModelNotAvailable: An image needs OCR and Tesseract is not installed (a PDF keeps its typed
            pages then, with the reason in ``metadata["ocr_unavailable"]``).
        CorruptDocument: The file cannot be parsed (truncated, binary renamed to ``.txt``, bad
            JSONL line...).
        ConfigError: CSV rows mode names a column the file does not have.
        InputLimitExceeded: The file expands past a limit of :mod:`rag.loaders.guards` (zip members
            and decompressed bytes, XML or HTML tags, PDF pages, CSV rows and cells, JSONL lines,
            characters of text).
    """
    check_file(filename, len(data), options)
    loader = _LOADERS[PurePath(filename).suffix.lower()]
    documents = [guards.clean_document(document) for document in loader(data, filename, options)]
    for document in documents:
        if not any(section.text.strip() for section in document.sections):
            raise EmptyDocument(f"{document.source_name}: no text found; the file has nothing to index")
        guards.check_text_length(document.source_name, sum(len(s.text) for s in document.sections))
    return iter(documents)


def load_path(path: Path, options: LoadOptions = LoadOptions()) -> Iterator[LoadedDocument]:
    """Load the documents of one file on disk; ``source_name`` is the file's name (``path.name``).

    The size is checked with ``stat`` before the file is read, so an over-size file is never read.

    Args:
        path: The file.
        options: Size limit and CSV settings.

    Returns:
        As :func:`load_bytes`.

    Raises:
        LoaderError: The file cannot be read (missing, a folder, no permission) or is a symbolic
            link (never followed: a link in a folder must not pull in a file from elsewhere); plus
            every error of :func:`load_bytes`.
    """
    if path.is_symlink():
        raise LoaderError(
            f"{path} is a symbolic link (to {os.readlink(path)}); links are not followed, so that a "
            "folder cannot pull in files from elsewhere: give the target's own path"
        )
    try:
        size = path.stat().st_size
        if size > options.max_file_bytes:
            raise too_large_error(path.name, size, options)
        data = path.read_bytes()
    except OSError as exc:
        raise LoaderError(f"cannot read {path}: {exc.strerror or exc}; check that the file exists") from exc
    return load_bytes(data, path.name, options)


def iter_files(paths: Iterable[Path]) -> Iterator[Path]:
    """List the files to ingest from files and folders.

    Folders are walked recursively (symlinked folders are not followed); their files come in sorted
    path order, and hidden files and folders (name starting with ``.``) are skipped. A path given
    directly is yielded even when hidden. A symbolic link, given directly or found in a folder, is
    yielded as it is, never followed (:func:`load_path` refuses it with the reason). Every file is yielded, including unsupported ones, so the
    caller can report them as failed; a path that does not exist is yielded too (loading it raises
    :class:`~rag.errors.LoaderError`). Each file is yielded once.

    Args:
        paths: Files and folders.

    Yields:
        File paths.
    """
    seen: set[Path] = set()
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            found: list[Path] = []
            for root, dirnames, filenames in os.walk(path):
                dirnames[:] = [name for name in dirnames if not name.startswith(".")]
                found.extend(Path(root, name) for name in filenames if not name.startswith("."))
            candidates = sorted(found)
        else:
            candidates = [path]
        for candidate in candidates:
            key = candidate.absolute() if candidate.is_symlink() else candidate.resolve()
            if key not in seen:
                seen.add(key)
                yield candidate
