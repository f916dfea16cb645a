"""HTML loader (BeautifulSoup + lxml): visible text in blocks, split into sections at ``<h1>``-``<h6>``."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from rag.loaders import guards
from rag.loaders.options import LoadOptions
from rag.loaders.text import HeadingPath, clean_text, decode_text, single_document
from rag.models import LoadedDocument, Section

if TYPE_CHECKING:
    from bs4 import Tag

_HTML_DROP = frozenset(
    {"script", "style", "noscript", "nav", "header", "footer", "aside", "form", "svg", "template"}
    | {"head", "title", "meta", "link", "iframe", "object", "embed", "canvas"}
)
_HTML_HEADINGS = {f"h{level}": level for level in range(1, 7)}
# Blocks separated from their neighbours by a blank line (paragraphs) or by a line break.
_HTML_PARAGRAPHS = frozenset(
    {"address", "article", "blockquote", "dl", "figure", "main", "ol", "p", "pre", "section", "table", "ul"}
)
_HTML_LINES = frozenset(
    {"body", "caption", "center", "dd", "details", "dialog", "div", "dt", "fieldset", "figcaption", "hr"}
    | {"html", "li", "summary", "tbody", "tfoot", "thead", "tr"}
)
# Break markers (Unicode private-use characters) written while walking, resolved once at the end: a
# run of whitespace holding a paragraph marker becomes a blank line, otherwise a line break.
_PARA_MARK, _LINE_MARK = "\ue000", "\ue001"
_HTML_BREAKS_RE = re.compile(r"[\s\ue000\ue001]*[\ue000\ue001][\s\ue000\ue001]*")


def _html_text(tag: Tag) -> str:
    return " ".join(tag.get_text(" ").split())


def _html_breaks(match: re.Match[str]) -> str:
    return "\n\n" if _PARA_MARK in match.group() else "\n"


def load_html(data: bytes, filename: str, options: LoadOptions) -> list[LoadedDocument]:
    """Load an HTML page: its visible text, a new section at each ``<h1>``-``<h6>``.

    Only ``<body>`` is read (the whole page when there is none). Scripts, styles, navigation,
    headers, footers, forms and similar are dropped; block elements become line breaks or blank
    lines, ``<pre>`` keeps its whitespace, table cells are joined with `` | ``.

    Args:
        data: The file's bytes.
        filename: The file's name, used as ``source_name`` and in error messages.
        options: Unused: every loader takes the same arguments (see :mod:`rag.loaders`).

    Returns:
        One document, titled by ``<title>``, else the first ``<h1>``.

    Raises:
        CorruptDocument: The bytes cannot be decoded as text (see :func:`~rag.loaders.text.decode_text`).
        InputLimitExceeded: More tags than :data:`rag.loaders.guards.MAX_HTML_ELEMENTS`.
    """
    from bs4 import BeautifulSoup, NavigableString
    from bs4 import Tag as BsTag
    from bs4.element import PreformattedString

    guards.check_html(data, filename)
    soup = BeautifulSoup(decode_text(data, filename), "lxml")
    title_tag = soup.find("title")
    title = _html_text(title_tag) if title_tag is not None else ""
    if not title:
        first_h1 = soup.find("h1")
        title = _html_text(first_h1) if first_h1 is not None else ""

    sections: list[Section] = []
    headings = HeadingPath()
    buffer: list[str] = []

    def flush() -> None:
        text = clean_text(_HTML_BREAKS_RE.sub(_html_breaks, "".join(buffer)))
        if text:
            sections.append(Section(text=text, heading_path=headings.path))
        buffer.clear()

    # Iterative walk, so deeply nested HTML cannot hit the recursion limit. A stack item is
    # (node, inside <pre>), or a break marker to write after a block's children.
    root = soup.body or soup
    stack: list[Any] = [(child, False) for child in reversed(list(root.children))]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            buffer.append(item)
            continue
        node, in_pre = item
        if isinstance(node, NavigableString):
            if not isinstance(node, PreformattedString):  # skip comments, CDATA, doctype...
                buffer.append(str(node) if in_pre else re.sub(r"\s+", " ", str(node)))
            continue
        if not isinstance(node, BsTag) or node.name in _HTML_DROP:
            continue
        name = node.name
        if name in _HTML_HEADINGS:
            heading = _html_text(node)
            if heading:
                flush()
                headings.enter(_HTML_HEADINGS[name], heading)
            continue
        if name == "br":
            buffer.append(_LINE_MARK)
            continue
        if name in ("td", "th") and node.find_previous_sibling(("td", "th")) is not None:
            buffer.append(" | ")
        mark = _PARA_MARK if name in _HTML_PARAGRAPHS else _LINE_MARK if name in _HTML_LINES else ""
        if mark:
            buffer.append(mark)
            stack.append(mark)
        stack.extend((child, in_pre or name == "pre") for child in reversed(list(node.children)))
    flush()
    return single_document(data, filename, title, sections)
