"""DOCX loader (python-docx): paragraphs and tables, split into sections at heading styles."""

from __future__ import annotations

import io
import re
from typing import TYPE_CHECKING

from rag.errors import CorruptDocument
from rag.loaders import guards
from rag.loaders.options import LoadOptions
from rag.loaders.text import HeadingPath, clean_text, single_document
from rag.models import LoadedDocument, Section

if TYPE_CHECKING:
    from docx.table import Table

_HEADING_STYLE_RE = re.compile(r"^Heading ([1-9])$")
# Compound File Binary signature: legacy .doc files and password-protected Office files.
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def _docx_table_lines(table: Table) -> list[str]:
    """One ``cell | cell | cell`` line per row; a merged cell is written once."""
    lines = []
    for row in table.rows:
        cells = []
        previous = None
        for cell in row.cells:
            if previous is not None and cell._tc is previous:  # horizontally merged: same <w:tc>
                continue
            previous = cell._tc
            cells.append(" ".join(cell.text.split()))
        if any(cells):
            lines.append(" | ".join(cells))
    return lines


def load_docx(data: bytes, filename: str, options: LoadOptions) -> list[LoadedDocument]:
    """Load a DOCX: paragraphs and tables in body order, a new section at each heading.

    Paragraphs styled "Title" or "Heading 1".."Heading 9" are headings; table rows become
    ``cell | cell`` lines.

    Args:
        data: The file's bytes.
        filename: The file's name, used as ``source_name`` and in error messages.
        options: Unused: every loader takes the same arguments (see :mod:`rag.loaders`).

    Returns:
        One document, titled by the core properties' title, else the first heading.

    Raises:
        CorruptDocument: The file is not a readable DOCX (truncated, legacy ``.doc``, password
            protected, malformed XML).
        InputLimitExceeded: The zip expands past the limits of :mod:`rag.loaders.guards`.
    """
    import docx
    from docx.table import Table

    guards.check_zip(data, filename)
    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # BadZipFile, KeyError, PackageNotFoundError, lxml errors...
        if data.startswith(_OLE_MAGIC):
            hint = "it is an old .doc file or password protected: save it as .docx without a password"
        else:
            hint = "it may be truncated or not a Word document: save it again as .docx"
        raise CorruptDocument(f"{filename} cannot be read as DOCX ({type(exc).__name__}); {hint}") from exc

    sections: list[Section] = []
    headings = HeadingPath()
    buffer: list[str] = []
    first_heading = ""

    def flush() -> None:
        text = clean_text("\n".join(buffer))
        if text:
            sections.append(Section(text=text, heading_path=headings.path))
        buffer.clear()

    try:
        for block in document.iter_inner_content():
            if isinstance(block, Table):
                buffer.extend(_docx_table_lines(block))
                continue
            text = block.text
            style_name = block.style.name if block.style is not None else ""
            match = _HEADING_STYLE_RE.match(style_name or "")
            level = 0 if style_name == "Title" else int(match.group(1)) if match else None
            heading = " ".join(text.split())
            if level is not None and heading:
                flush()
                headings.enter(level, heading)
                first_heading = first_heading or heading
            else:
                buffer.append(text)
        flush()
        title = (document.core_properties.title or "").strip() or first_heading
    except Exception as exc:  # malformed XML inside a valid zip
        raise CorruptDocument(
            f"{filename}: the DOCX content cannot be read ({type(exc).__name__}: {exc}); "
            "save it again as .docx"
        ) from exc
    return single_document(data, filename, title, sections)
