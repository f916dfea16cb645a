"""HTML loader (BeautifulSoup + lxml): visible text in blocks, split into sections at ``<h1>``-``<h6>``.

Navigation is left out by what documentation generators mark it with, never by guessing from the
text: the ARIA landmark roles ``navigation``, ``banner``, ``contentinfo``, ``search`` and
``complementary``; the classes DocBook XSL (``navheader``, ``navfooter``: "Prev | Up | Home | Next")
and Sphinx (``related``, ``sphinxsidebar``, ``footer``, ``headerlink``: the "index | modules |
next | previous" bars, the sidebar and the "¶" after each heading) give it; and everything outside
the ``<main>`` element (or ``role="main"``) when a page has one. XHTML (a file starting with an XML
declaration) is parsed as XML when it is well-formed, as its XML declaration asks; else, and for
HTML, with lxml's HTML parser.
"""

from __future__ import annotations

import re
from functools import partial
from typing import TYPE_CHECKING, Any

from rag.loaders import guards
from rag.loaders.options import LoadOptions
from rag.loaders.text import HeadingPath, clean_text, decode_text, single_document
from rag.models import LoadedDocument, Section

if TYPE_CHECKING:
    from bs4 import BeautifulSoup, Tag

_HTML_DROP = frozenset(
    {"script", "style", "noscript", "nav", "header", "footer", "aside", "form", "svg", "template"}
    | {"head", "title", "meta", "link", "iframe", "object", "embed", "canvas"}
)
# ARIA landmarks that are not the page's content (WAI-ARIA 1.2, section 5.3.4).
_NAVIGATION_ROLES = frozenset({"navigation", "banner", "contentinfo", "search", "complementary"})
# DocBook XSL chunked HTML; Sphinx's basic theme and python-docs-theme; common site themes.
_NAVIGATION_CLASSES = frozenset(
    {"navheader", "navfooter"}
    | {"related", "sphinxsidebar", "footer", "headerlink", "mobile-nav"}
    | {"breadcrumb", "breadcrumbs", "skip-link"}
)
# Between a page title and the site name in <title>: Sphinx's "Page — Python 3.11 documentation".
_TITLE_SEPARATOR = " \u2014 "
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


def _classes(tag: Tag) -> list[str]:
    value = tag.get("class")  # a list from the HTML parser, a string from the XML parser
    return value.split() if isinstance(value, str) else list(value or ())


def _is_navigation(tag: Tag) -> bool:
    role = tag.get("role")
    return (isinstance(role, str) and role.strip().lower() in _NAVIGATION_ROLES) or any(
        name in _NAVIGATION_CLASSES for name in _classes(tag)
    )


def _parse(data: bytes, filename: str) -> BeautifulSoup:
    """Parse XHTML that is well-formed XML with the XML parser, anything else with the HTML parser."""
    from bs4 import BeautifulSoup
    from bs4.builder._lxml import LXMLTreeBuilderForXML  # re-exported by bs4.builder only at run time
    from lxml import etree

    text = decode_text(data, filename)
    if text.lstrip().startswith("<?xml"):
        # No DTD, no network and no entity expansion: a file cannot make the parser fetch or grow anything.
        safe_parser = partial(etree.XMLParser, resolve_entities=False, no_network=True, load_dtd=False)
        try:
            etree.fromstring(text.encode("utf-8"), safe_parser(encoding="utf-8"))
        except etree.XMLSyntaxError:
            # Not XML after all (e.g. HTML entities such as &nbsp; with no DTD): read it as HTML,
            # without the XML declaration, which only an XML parser understands.
            text = text.lstrip().split("?>", 1)[-1]
        else:
            builder = LXMLTreeBuilderForXML(parser=safe_parser)
            return BeautifulSoup(text.encode("utf-8"), builder=builder, from_encoding="utf-8")
    return BeautifulSoup(text, "lxml")


def _title(soup: BeautifulSoup) -> str:
    """``<title>`` (else the first ``<h1>``), followed by the parent page's title when the page names one.

    The parent is ``<link rel="up" title=...>`` (DocBook, and any generator that follows HTML 4's link
    types), DocBook's navigation-header ``<a accesskey="u" title=...>``, or the last breadcrumb of a Sphinx "related" bar, so a section page such as DocBook's
    "71.1. Introduction" becomes "71.1. Introduction — Chapter 71. BRIN Indexes". In a Sphinx title
    "Introduction — Python 3.11 documentation" the parent goes before the site name.
    """
    title_tag = soup.find("title")
    title = _html_text(title_tag) if title_tag is not None else ""
    if not title:
        first_h1 = soup.find("h1")
        title = _html_text(first_h1) if first_h1 is not None else ""
    parent = ""
    # DocBook XSL names the parent in <link rel="up"> or, when the page has no <head> links, in
    # the navigation header's "Up" link (accesskey="u").
    up = soup.find("link", rel="up") or soup.find("a", accesskey="u")
    if up is not None and isinstance(up.get("title"), str):
        parent = " ".join(str(up["title"]).split())
    else:
        crumbs = [li for li in soup.select("div.related li.nav-item") if "nav-item-this" not in _classes(li)]
        parent = _html_text(crumbs[-1]).rstrip(" »") if crumbs else ""
    if not parent or not title or parent.casefold() in title.casefold():
        return title
    page, separator, site = title.rpartition(_TITLE_SEPARATOR)
    if not separator:
        return f"{title}{_TITLE_SEPARATOR}{parent}"
    return f"{page}{_TITLE_SEPARATOR}{parent}{separator}{site}"


def load_html(data: bytes, filename: str, options: LoadOptions) -> list[LoadedDocument]:
    """Load an HTML page: its visible text, a new section at each ``<h1>``-``<h6>``.

    Args:
        data: The file's bytes.
        filename: The file's name, used as ``source_name`` and in error messages.
        options: Unused: every loader takes the same arguments (see :mod:`rag.loaders`).

    Returns:
        One document: see :func:`html_sections` for what is read, titled as it says.

    Raises:
        CorruptDocument: The bytes cannot be decoded as text (see :func:`~rag.loaders.text.decode_text`).
        InputLimitExceeded: More tags than :data:`rag.loaders.guards.MAX_HTML_ELEMENTS`.
    """
    title, sections = html_sections(data, filename)
    return single_document(data, filename, title, sections)


def html_sections(data: bytes, filename: str) -> tuple[str, list[Section]]:
    """An HTML page's title and sections (also the EPUB and email loaders' reader of XHTML/HTML).

    Only ``<main>`` (or ``role="main"``) is read, else ``<body>``, else the whole page. Scripts,
    styles, navigation (see :mod:`rag.loaders.html`), headers, footers, forms and similar are
    dropped; block elements become line breaks or blank lines, ``<pre>`` keeps its whitespace, table
    cells are joined with `` | ``.

    Args:
        data: The page's bytes.
        filename: Used in error messages.

    Returns:
        ``(title, sections)``: the title is ``<title>``, else the first ``<h1>``, with the parent page's title
        when the page names one (see :func:`_title`).

    Raises:
        CorruptDocument: The bytes cannot be decoded as text (see :func:`~rag.loaders.text.decode_text`).
        InputLimitExceeded: More tags than :data:`rag.loaders.guards.MAX_HTML_ELEMENTS`.
    """
    from bs4 import NavigableString
    from bs4 import Tag as BsTag
    from bs4.element import PreformattedString

    guards.check_html(data, filename)
    soup = _parse(data, filename)
    title = _title(soup)  # before the navigation goes: the parent's title is in it
    for tag in soup.find_all(_is_navigation):
        tag.decompose()

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
    root = soup.find("main") or soup.find(role="main") or soup.body or soup
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
    return title, sections
