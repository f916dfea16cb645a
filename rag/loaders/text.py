"""Helpers shared by the loaders: text decoding, whitespace cleaning, and document building.

Decoding uses charset-normalizer (imported on first use) when a file has no byte-order mark and is
not valid UTF-8. :func:`single_document` wraps the sections of a one-document file with its media
type (:data:`MEDIA_TYPES`) and sha256; :class:`HeadingPath` tracks the headings above the current
position while a loader walks a document.
"""

from __future__ import annotations

import codecs
import hashlib
import re
from pathlib import PurePath
from typing import Any

from rag.errors import CorruptDocument
from rag.models import LoadedDocument, Section

MEDIA_TYPES: dict[str, str] = {
    ".pdf": "application/pdf",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".html": "text/html",
    ".htm": "text/html",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".txt": "text/plain",
    ".csv": "text/csv",
    ".jsonl": "application/x-ndjson",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".ods": "application/vnd.oasis.opendocument.spreadsheet",
    ".epub": "application/epub+zip",
    ".eml": "message/rfc822",
}
"""``LoadedDocument.media_type`` per lower-cased extension (with the dot); one key per loadable format."""

# Longest BOMs first: the UTF-32-LE BOM starts with the UTF-16-LE one.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# C0/C1 control characters other than tab, newline, vertical tab, form feed, carriage return.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")
# Text with more than this share of control characters (in the first _SNIFF_CHARS) is binary.
_MAX_CONTROL_SHARE = 0.05
_SNIFF_CHARS = 64 * 1024
# charset-normalizer cannot tell apart the Western single-byte code pages on short text (it
# reports "café naïve" as cp1006 or cp1257, with the same zero "chaos" as cp1252). When Windows-1252
# is among its candidates and nearly as coherent, we take it: it is the WHATWG Encoding Standard's
# decoder for "latin1"/"iso-8859-1" labels and the most common legacy encoding of Western text.
_CP1252_CHAOS_TOLERANCE = 0.2
_BLANK_LINES_RE = re.compile(r"\n{3,}")


def _binary_error(filename: str) -> CorruptDocument:
    return CorruptDocument(
        f"{filename} looks like a binary file, not text; upload the original document "
        "(PDF, DOCX...) or save it as UTF-8 text"
    )


def decode_text(data: bytes, filename: str) -> str:
    """Decode a text file's bytes to ``str`` (used for HTML, Markdown, plain text and CSV).

    Order: a byte-order mark (UTF-8, UTF-16, UTF-32) decides; else strict UTF-8; else
    charset-normalizer's best guess (``from_bytes(data).best()``), preferring Windows-1252 when it is
    a near-equal candidate (see ``_CP1252_CHAOS_TOLERANCE``). NUL bytes without a BOM are accepted only
    when charset-normalizer reads them as UTF-16/32.

    Args:
        data: The bytes.
        filename: Used in error messages.

    Returns:
        The text, without a BOM.

    Raises:
        CorruptDocument: No encoding fits, or the text looks binary (NUL characters, or more than 5 %
            control characters).
    """
    text: str | None = None
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                text = data.decode(encoding)
            except UnicodeDecodeError as exc:
                raise CorruptDocument(
                    f"{filename} starts with a {encoding} byte-order mark but is not valid {encoding}: "
                    "save it again as UTF-8"
                ) from exc
            break
    if text is None:
        if b"\0" in data:
            text = _detect_encoding(data, filename, wide_only=True)
        else:
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                text = _detect_encoding(data, filename, wide_only=False)
    text = text.removeprefix("\ufeff")
    sample = text[:_SNIFF_CHARS]
    if "\0" in sample or len(_CONTROL_RE.findall(sample)) > _MAX_CONTROL_SHARE * len(sample):
        raise _binary_error(filename)
    return text


def _detect_encoding(data: bytes, filename: str, *, wide_only: bool) -> str:
    from charset_normalizer import from_bytes

    matches = from_bytes(data)
    best = matches.best()
    if best is None:
        raise _binary_error(filename)
    if wide_only and not best.encoding.startswith(("utf_16", "utf_32")):
        raise _binary_error(filename)
    if best.encoding != "cp1252":
        for match in matches:
            if match.encoding == "cp1252" and match.chaos <= best.chaos + _CP1252_CHAOS_TOLERANCE:
                best = match
                break
    return str(best)


def clean_text(text: str, *, keep_indent: bool = False) -> str:
    """Normalise whitespace: LF line ends, no control characters, single spaces, <= 1 blank line.

    Args:
        text: Extracted text, with any line ends.
        keep_indent: Leave the start of each line as is (plain text, code) and only strip line ends;
            otherwise runs of whitespace inside a line become one space and lines are stripped.

    Returns:
        The cleaned text, stripped at both ends (``""`` when only whitespace was left).
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL_RE.sub("", text)
    if keep_indent:
        lines = [line.rstrip() for line in text.split("\n")]
    else:
        # str.split() splits on every Unicode whitespace (tab, no-break space...); faster than a regex.
        lines = [" ".join(line.split()) for line in text.split("\n")]
    text = "\n".join(lines)
    if "\n\n\n" in text:
        text = _BLANK_LINES_RE.sub("\n\n", text)
    return text.strip()


def sha256_hex(data: bytes) -> str:
    """The SHA-256 of ``data`` as 64 lower-case hex digits (``LoadedDocument.content_sha256``)."""
    return hashlib.sha256(data).hexdigest()


def _stem(filename: str) -> str:
    return PurePath(filename).stem or filename


def single_document(
    data: bytes,
    filename: str,
    title: str,
    sections: list[Section],
    *,
    metadata: dict[str, Any] | None = None,
    page_count: int | None = None,
) -> list[LoadedDocument]:
    """Wrap the sections of a file that holds one document; drops sections without text.

    Args:
        data: The file's bytes (hashed into ``content_sha256``; their length is ``size_bytes``).
        filename: The file's name: becomes ``source_name``; its lower-cased extension picks the media
            type from :data:`MEDIA_TYPES`.
        title: The document title; blank means the file name without its extension.
        sections: The sections in document order.
        metadata: Extra metadata (``None`` stores ``{}``).
        page_count: Number of pages (PDF), else ``None``.

    Returns:
        A list holding the one document; it keeps ``data`` as its ``original`` (stored with it).

    Raises:
        KeyError: The extension of ``filename`` is not in :data:`MEDIA_TYPES`.
    """
    return [
        LoadedDocument(
            title=title.strip() or _stem(filename),
            source_name=filename,
            media_type=MEDIA_TYPES[PurePath(filename).suffix.lower()],
            sections=tuple(section for section in sections if section.text.strip()),
            content_sha256=sha256_hex(data),
            size_bytes=len(data),
            metadata=metadata or {},
            page_count=page_count,
            original=data,
        )
    ]


class HeadingPath:
    """The headings above the current position: a stack of (level, text), outermost first."""

    def __init__(self) -> None:
        self._stack: list[tuple[int, str]] = []

    def enter(self, level: int, text: str) -> None:
        """Move to a new heading: drop the headings at ``level`` or deeper, then push this one.

        Args:
            level: The heading's depth (1 = outermost, e.g. ``<h1>``; DOCX "Title" is 0).
            text: The heading's text.
        """
        while self._stack and self._stack[-1][0] >= level:
            self._stack.pop()
        self._stack.append((level, text))

    @property
    def path(self) -> tuple[str, ...]:
        """The heading texts, outermost first (``()`` before the first heading)."""
        return tuple(text for _, text in self._stack)
