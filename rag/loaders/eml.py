"""Email loader (the standard library's ``email`` package): one ``.eml`` message (RFC 5322 / MIME).

The body is every inline text part in order (of a ``multipart/alternative``, the ``text/plain``
one, else ``text/html`` read by :func:`rag.loaders.html.html_sections`), attached messages
(``message/rfc822``) included under an "Attached message" line; a charset Python does not know
(``unknown-8bit``) is detected from the bytes. Subject, sender, recipients and date become the title and
metadata. Attachments are listed (name, type, size in ``metadata["attachments"]`` and one line at the
end of the text), not loaded: an attachment is a document of its own, to upload as such, and a
mail's lifetime in the collection should not decide a PDF's.
"""

from __future__ import annotations

import email
import email.policy
import re
from email.message import EmailMessage, MIMEPart
from typing import Any

from rag.errors import CorruptDocument, EmptyDocument, LoaderError
from rag.loaders.html import html_sections
from rag.loaders.options import LoadOptions
from rag.loaders.text import clean_text, decode_text, single_document
from rag.models import LoadedDocument, Section

_HEADERS = ("subject", "from", "to", "cc", "date", "message-id")
MAX_MIME_PARTS = 1_000
"""MIME parts of one message (a mail with a few attachments has a dozen)."""


MAX_NESTING = 20
"""Levels of multipart / attached-message nesting (a forwarded forward is three or four)."""
_DELIMITER_RE = re.compile(rb"(?m)^--[^\r\n]")
_FAILURES = (RecursionError, IndexError, AttributeError, TypeError, ValueError, LookupError, KeyError)


def _header(message: EmailMessage, name: str) -> str:
    try:
        value = message.get(name)
    except _FAILURES:  # a malformed header the parser kept as a defect
        try:
            value = (message.get_all(name) or [""])[0]
        except _FAILURES:
            value = ""
    try:
        return " ".join(str(value or "").split())
    except _FAILURES:  # header objects render lazily; a broken one fails here
        return ""


def _decoded(part: MIMEPart, filename: str) -> str:
    """A text part's content: its charset, else (``unknown-8bit``, a wrong name) detected from the bytes."""
    payload = part.get_payload(decode=True)
    raw = payload if isinstance(payload, bytes) else str(payload or "").encode("utf-8", "replace")
    charset = part.get_content_charset() or "us-ascii"
    try:
        return raw.decode(charset)
    except (LookupError, UnicodeDecodeError):
        try:
            return decode_text(raw, filename)
        except LoaderError:
            return raw.decode("utf-8", errors="replace")


def _is_attachment(part: MIMEPart) -> bool:
    return part.get_content_disposition() == "attachment"


def _read_part(
    part: MIMEPart, filename: str, depth: int, sections: list[Section], attachments: list[dict[str, Any]]
) -> None:
    """Append the texts of ``part`` (every inline text part, attached messages too) and list its attachments."""
    if depth > MAX_NESTING:
        raise CorruptDocument(
            f"{filename}: the message nests parts more than {MAX_NESTING} levels deep; save the inner "
            "messages separately"
        )
    content_type = part.get_content_type()
    if content_type == "multipart/alternative":
        children = list(part.iter_parts())
        # The richest-to-plainest choice of RFC 2046 inverted: plain text reads best in passages.
        best = next((c for c in children if c.get_content_type() == "text/plain"), None) or next(
            (c for c in children if c.get_content_type() == "text/html"), children[0] if children else None
        )
        if best is not None:
            _read_part(best, filename, depth + 1, sections, attachments)
        return
    if content_type == "message/rfc822":
        inner = part.get_payload()
        inner = inner[0] if isinstance(inner, list) and inner else inner
        if isinstance(inner, EmailMessage):
            subject = _header(inner, "subject") or "(no subject)"
            sender = _header(inner, "from")
            sections.append(
                Section(text=f"Attached message: {subject}" + (f"\nFrom: {sender}" if sender else ""))
            )
            _read_part(inner, filename, depth + 1, sections, attachments)
        return
    if part.is_multipart():
        for child in part.iter_parts():
            _read_part(child, filename, depth + 1, sections, attachments)
        return
    if content_type in ("text/plain", "text/html") and not _is_attachment(part):
        content = _decoded(part, filename)
        if content_type == "text/html":
            sections.extend(html_sections(content.encode("utf-8"), f"{filename} (HTML body)")[1])
        elif text := clean_text(content):
            sections.append(Section(text=text))
        return
    payload = part.get_payload(decode=True)
    attachments.append(
        {
            "filename": part.get_filename() or "(unnamed)",
            "content_type": content_type,
            "size_bytes": len(payload) if isinstance(payload, bytes) else 0,
        }
    )


def load_eml(data: bytes, filename: str, options: LoadOptions) -> list[LoadedDocument]:
    """Load an email message saved as ``.eml``.

    Args:
        data: The file's bytes.
        filename: The file's name, used as ``source_name`` and in error messages.
        options: Unused: every loader takes the same arguments (see :mod:`rag.loaders`).

    Returns:
        One document titled by the subject; its text is a header block (From, To, Date) followed by
        the body; ``metadata`` holds ``subject``, ``from``, ``to``, ``cc``, ``date``, ``message-id``
        (those present) and ``attachments`` (``[{"filename", "content_type", "size_bytes"}]``).

    Raises:
        CorruptDocument: The file has none of the headers From, To, Subject or Date (not an email),
            parts nested past :data:`MAX_NESTING`, or headers / parts the parser cannot read.
        InputLimitExceeded: More than :data:`MAX_MIME_PARTS` parts (boundary lines counted first).
        EmptyDocument: The message has no text body and no subject.
    """
    from rag.loaders import guards

    # Count delimiter lines before parsing: the parser builds every part (and recurses per level).
    delimiters = len(_DELIMITER_RE.findall(data))
    guards.check_count(
        filename, "MIME boundary lines", delimiters, 2 * MAX_MIME_PARTS, "save the attachments separately"
    )
    try:
        message = email.message_from_bytes(data, policy=email.policy.default)
        assert isinstance(message, EmailMessage)  # the default policy builds EmailMessage objects
        headers = {name: _header(message, name) for name in _HEADERS}
        parts = sum(1 for _ in message.walk())
    except _FAILURES as exc:
        raise CorruptDocument(
            f"{filename} cannot be read as an email ({type(exc).__name__}); save the message again as .eml"
        ) from exc
    headers = {name: value for name, value in headers.items() if value}
    if not {"subject", "from", "to", "date"} & headers.keys():
        raise CorruptDocument(
            f"{filename} does not look like an email: it has none of the headers From, To, Subject, Date; "
            "save the message again as .eml (RFC 822) from the mail program"
        )
    guards.check_count(filename, "MIME parts", parts, MAX_MIME_PARTS, "save the attachments separately")
    attachments: list[dict[str, Any]] = []
    body: list[Section] = []
    try:
        _read_part(message, filename, 0, body, attachments)
    except LoaderError:
        raise
    except _FAILURES as exc:
        raise CorruptDocument(
            f"{filename}: a part of the message cannot be read ({type(exc).__name__}: {exc}); save it again"
        ) from exc
    lead = "\n".join(
        f"{label}: {headers[name]}"
        for name, label in (("from", "From"), ("to", "To"), ("cc", "Cc"), ("date", "Date"))
        if name in headers
    )
    sections = [Section(text=lead)] if lead else []
    sections.extend(body)
    if attachments:
        names = ", ".join(str(item["filename"]) for item in attachments)
        sections.append(Section(text=f"Attachments: {names}"))
    if not any(section.text for section in sections[1:]) and "subject" not in headers:
        raise EmptyDocument(f"{filename}: the message has no subject and no text body; no text found")
    metadata: dict[str, Any] = {**headers, "attachments": attachments}
    return single_document(data, filename, headers.get("subject", ""), sections, metadata=metadata)
