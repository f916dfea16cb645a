"""Email loader (the standard library's ``email`` package): one ``.eml`` message (RFC 5322 / MIME).

The body is the message's preferred text part: ``text/plain``, else ``text/html`` read by
:func:`rag.loaders.html.html_sections`. Subject, sender, recipients and date become the title and
metadata. Attachments are listed (name, type, size in ``metadata["attachments"]`` and one line at the
end of the text), not loaded: an attachment is a document of its own, to upload as such, and a
mail's lifetime in the collection should not decide a PDF's.
"""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from typing import Any

from rag.errors import CorruptDocument, EmptyDocument
from rag.loaders.html import html_sections
from rag.loaders.options import LoadOptions
from rag.loaders.text import clean_text, single_document
from rag.models import LoadedDocument, Section

_HEADERS = ("subject", "from", "to", "cc", "date", "message-id")
MAX_MIME_PARTS = 1_000
"""MIME parts of one message (a mail with a few attachments has a dozen)."""


def _header(message: EmailMessage, name: str) -> str:
    try:
        value = message.get(name)
    except (ValueError, IndexError, TypeError):  # a malformed header the parser kept as a defect
        value = message.get_all(name, failobj=[""])[0] if message.get_all(name) else ""
    return " ".join(str(value or "").split())


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
            or more than :data:`MAX_MIME_PARTS` parts.
        EmptyDocument: The message has no text body and no subject.
    """
    from rag.loaders import guards

    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)  # the default policy builds EmailMessage objects
    headers = {name: _header(message, name) for name in _HEADERS}
    headers = {name: value for name, value in headers.items() if value}
    if not {"subject", "from", "to", "date"} & headers.keys():
        raise CorruptDocument(
            f"{filename} does not look like an email: it has none of the headers From, To, Subject, Date; "
            "save the message again as .eml (RFC 822) from the mail program"
        )
    parts = list(message.walk())
    guards.check_count(filename, "MIME parts", len(parts), MAX_MIME_PARTS, "save the attachments separately")
    attachments: list[dict[str, Any]] = []
    for part in message.iter_attachments():
        payload = part.get_payload(decode=True)
        attachments.append(
            {
                "filename": part.get_filename() or "(unnamed)",
                "content_type": part.get_content_type(),
                "size_bytes": len(payload) if isinstance(payload, bytes) else 0,
            }
        )
    lead = "\n".join(
        f"{label}: {headers[name]}"
        for name, label in (("from", "From"), ("to", "To"), ("cc", "Cc"), ("date", "Date"))
        if name in headers
    )
    sections = [Section(text=lead)] if lead else []
    body = message.get_body(preferencelist=("plain", "html"))
    if body is not None:
        try:
            content = body.get_content()
        except (LookupError, ValueError) as exc:  # an unknown charset or bad transfer encoding
            raise CorruptDocument(
                f"{filename}: the message body cannot be decoded ({type(exc).__name__}: {exc}); save it again"
            ) from exc
        if body.get_content_type() == "text/html":
            html = content.encode("utf-8") if isinstance(content, str) else bytes(content)
            sections.extend(html_sections(html, f"{filename} (HTML body)")[1])
        else:
            text = clean_text(str(content))
            if text:
                sections.append(Section(text=text))
    if attachments:
        names = ", ".join(str(item["filename"]) for item in attachments)
        sections.append(Section(text=f"Attachments: {names}"))
    if not any(section.text for section in sections[1:]) and "subject" not in headers:
        raise EmptyDocument(f"{filename}: the message has no subject and no text body; no text found")
    metadata: dict[str, Any] = {**headers, "attachments": attachments}
    return single_document(data, filename, headers.get("subject", ""), sections, metadata=metadata)
