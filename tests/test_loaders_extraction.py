"""Extraction quality: no navigation or page furniture in the text, titles that say what a page is,
pages without text reported, no parser warnings. Fixtures are shaped like real generator output
(DocBook XSL chunked XHTML, Sphinx HTML, a typeset PDF) and generated here."""

from __future__ import annotations

import warnings

import pytest

from rag import pages_without_text_note
from rag.loaders import load_bytes
from rag.loaders.page_furniture import strip_furniture
from rag.models import LoadedDocument


def _load_one(data: bytes, filename: str) -> LoadedDocument:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any parser warning fails the test
        documents = list(load_bytes(data, filename))
    assert len(documents) == 1
    return documents[0]


def _text(document: LoadedDocument) -> str:
    return "\n\n".join(section.text for section in document.sections)


# DocBook XSL chunked output (one page per section): XML declaration, XHTML namespace, a navheader
# and a navfooter with Prev/Up/Home/Next links and the neighbours' titles.
DOCBOOK_SECTION = """<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.1//EN" "http://www.w3.org/TR/xhtml11/DTD/xhtml11.dtd">
<html xmlns="http://www.w3.org/1999/xhtml"><head>
<title>12.1. Introduction</title>
<link rel="home" href="index.html" title="Widget Handbook" />
<link rel="up" href="gears.html" title="Chapter 12. Gear Boxes" />
<link rel="prev" href="gears.html" title="Chapter 12. Gear Boxes" />
<link rel="next" href="gears-oil.html" title="12.2. Oil" />
</head><body>
<div class="navheader"><table width="100%" summary="Navigation header">
<tr><th colspan="3" align="center">12.1. Introduction</th></tr>
<tr><td align="left"><a accesskey="p" href="gears.html">Prev</a> </td>
<td align="center"><a accesskey="u" href="gears.html">Up</a></td>
<th align="center">Chapter 12. Gear Boxes</th>
<td align="right"> <a accesskey="n" href="gears-oil.html">Next</a></td></tr>
</table><hr /></div>
<div class="sect1"><div class="titlepage"><h2 class="title">12.1. Introduction</h2></div>
<p>A gear box turns fast rotation into strong rotation.</p>
<pre class="programlisting">gear --ratio 3:1
gear --status</pre>
</div>
<div class="navfooter"><hr /><table width="100%" summary="Navigation footer">
<tr><td align="left"><a accesskey="p" href="gears.html">Prev</a> </td>
<td align="center"><a accesskey="u" href="gears.html">Up</a></td>
<td align="right"> <a accesskey="n" href="gears-oil.html">Next</a></td></tr>
<tr><td align="left" valign="top">Chapter 12. Gear Boxes </td>
<td align="center"><a accesskey="h" href="index.html">Home</a></td>
<td align="right" valign="top"> 12.2. Oil</td></tr>
</table></div>
</body></html>
"""


def test_docbook_page_without_navigation_and_titled_with_its_chapter() -> None:
    document = _load_one(DOCBOOK_SECTION.encode(), "gears-intro.html")

    assert document.title == "12.1. Introduction \u2014 Chapter 12. Gear Boxes"
    assert [(s.heading_path, s.text) for s in document.sections] == [
        (
            ("12.1. Introduction",),
            "A gear box turns fast rotation into strong rotation.\n\ngear --ratio 3:1\ngear --status",
        )
    ]


def test_xhtml_that_is_not_well_formed_xml_is_read_as_html_without_a_warning() -> None:
    # &nbsp; is not defined in XML without the DTD: the XML parser refuses it, the HTML parser reads it.
    page = DOCBOOK_SECTION.replace("strong rotation.", "strong&nbsp;rotation.<br>")
    document = _load_one(page.encode(), "gears-intro.html")
    assert "A gear box turns fast rotation into strong rotation." in _text(document)
    assert "Prev" not in _text(document)


# Sphinx (basic theme, as the Python documentation): "related" bars above and below with the
# breadcrumbs, a sidebar, a footer, and a "¶" permalink in every heading.
SPHINX_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8" />
<title>Introduction &#8212; Widget 3.1 documentation</title></head>
<body>
<div class="related" role="navigation" aria-label="related navigation"><h3>Navigation</h3><ul>
<li class="right"><a href="../genindex.html">index</a></li>
<li class="right"><a href="../py-modindex.html">modules</a> |</li>
<li class="right"><a href="next.html" accesskey="N">next</a> |</li>
<li class="right"><a href="prev.html" accesskey="P">previous</a> |</li>
<li><a href="../index.html">Widget 3.1 documentation</a> &#187;</li>
<li class="nav-item nav-item-1"><a href="index.html" accesskey="U">Widget API Reference</a> &#187;</li>
<li class="nav-item nav-item-this"><a href="">Introduction</a></li>
</ul></div>
<div class="document"><div class="documentwrapper"><div class="bodywrapper">
<div class="body" role="main">
<section id="introduction"><h1>Introduction<a class="headerlink" href="#introduction" title="Permalink">¶</a></h1>
<p>The widget API is written in C.</p>
<section id="threads"><h2>Threads<a class="headerlink" href="#threads" title="Permalink">¶</a></h2>
<p>Every call takes the widget lock.</p></section></section>
</div></div></div>
<div class="sphinxsidebar" role="navigation" aria-label="main navigation"><div class="sphinxsidebarwrapper">
<h3>Previous topic</h3><p><a href="prev.html">Widget API Reference</a></p>
<h3>This Page</h3><ul><li><a href="bugs.html">Report a Bug</a></li><li><a href="src.txt">Show Source</a></li></ul>
</div></div></div>
<div class="related" role="navigation" aria-label="related navigation"><ul>
<li class="right"><a href="../genindex.html">index</a></li>
<li class="nav-item nav-item-1"><a href="index.html">Widget API Reference</a> &#187;</li></ul></div>
<div class="footer">&copy; Copyright 2001-2024, Widget Foundation. Last updated on Jan 01, 2024.</div>
</body></html>
"""


def test_sphinx_page_without_navigation_and_titled_with_its_parent() -> None:
    document = _load_one(SPHINX_PAGE.encode(), "intro.html")

    assert document.title == "Introduction \u2014 Widget API Reference \u2014 Widget 3.1 documentation"
    assert [(s.heading_path, s.text) for s in document.sections] == [
        (("Introduction",), "The widget API is written in C."),
        (("Introduction", "Threads"), "Every call takes the widget lock."),
    ]


def test_only_the_main_element_is_read_when_a_page_has_one() -> None:
    page = b"<html><body><div>Site menu: Home Blog</div><main><h1>Post</h1><p>Body text.</p></main></body></html>"
    document = _load_one(page, "post.html")
    assert _text(document) == "Body text."


# --------------------------------------------------------------------------------------------------
# PDF: page numbers, running headers, a table of contents, pages without text
# --------------------------------------------------------------------------------------------------

BODY = {
    3: "Installing the widget needs a screwdriver and ten minutes.",
    4: "Using the widget: press the green button and wait for the light.",
}


def _manual_pdf() -> bytes:
    """Six pages as a typesetter makes them: a title page, a contents page with dot leaders, two
    pages of text, a page with only the running header and page number, and an empty page.
    Pages 2-5 carry the running header "Widget Manual n / 6" and a page number at the bottom."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_auto_page_break(False)  # the page number goes below the bottom margin
    pdf.set_font("helvetica", size=12)
    contents = [("1 Installing", "3"), ("1.1 Requirements", "3"), ("2 Using", "4"), ("2.1 Buttons", "4")]
    for number in range(1, 7):
        pdf.add_page()
        if number == 1:
            pdf.multi_cell(0, 8, "Widget Manual\nA guide for people who own a widget")
            continue
        if number == 6:
            continue  # no text at all
        pdf.cell(0, 8, f"Widget Manual {number} / 6", new_x="LMARGIN", new_y="NEXT")
        if number == 2:
            pdf.cell(0, 8, "Contents", new_x="LMARGIN", new_y="NEXT")
            for entry, page in contents:
                pdf.cell(0, 8, f"{entry} {'. ' * 30}{page}", new_x="LMARGIN", new_y="NEXT")
        elif number in BODY:
            pdf.multi_cell(0, 8, BODY[number])
        pdf.set_y(-25)
        pdf.cell(0, 8, "ii" if number == 2 else str(number), align="C")
    return bytes(pdf.output())


def test_pdf_without_page_furniture_and_contents_and_with_pages_without_text() -> None:
    document = _load_one(_manual_pdf(), "widget.pdf")

    assert document.page_count == 6
    assert [(s.page, s.text) for s in document.sections] == [
        (1, "Widget Manual\nA guide for people who own a widget"),
        (3, BODY[3]),
        (4, BODY[4]),
    ]
    # The contents page had text (it is navigation, dropped); pages 5 and 6 had none.
    assert document.metadata["pages_without_text"] == [5, 6]
    assert document.pages_without_text == (5, 6)


def test_pdf_where_every_page_has_text_reports_no_pages_without_text() -> None:
    from helpers import make_pdf

    document = _load_one(make_pdf(["One page.", "Another page."]), "two.pdf")
    assert document.metadata["pages_without_text"] == []


def test_a_price_list_with_dot_leaders_is_kept() -> None:
    # Every page "looks like" a table of contents: then it is the document, not navigation.
    pages = ["Prices\nCoffee . . . . . . . . 3\nTea . . . . . . . . 2\nCake . . . . . . . . 4"]
    assert strip_furniture(pages).texts == tuple(pages)


def test_contents_below_an_abstract_are_dropped_and_a_page_of_symbols_has_no_text() -> None:
    abstract = "Abstract\nWe show tricks for CRC.\nThey are fast.\nThey are simple.\nThey are old.\nContents"
    entries = "1 Definition . . . . . . 2\n2 Related work . . . . . . 3\n3 Tricks . . . . . . 4"
    result = strip_furniture([f"{abstract}\n{entries}\nIntroduction", "A CRC is a remainder.", "˜"])
    assert result.texts == (f"{abstract}\nIntroduction", "A CRC is a remainder.", "")
    assert (result.without_text, result.contents_pages) == ((3,), ())


def test_running_header_needs_three_pages_and_five_percent_of_them() -> None:
    words = "gears oil teeth ratio shaft bearing clutch torque".split()
    body = [f"Page text about {words[n % 8]} and {words[n // 8]}." for n in range(40)]
    # On 2 of 40 pages: a line that begins two pages by chance, kept.
    twice = [("Note\n" if n in (3, 9) else "") + text for n, text in enumerate(body, start=1)]
    assert strip_furniture(twice).texts == tuple(twice)
    # On 3 of 40 pages (7.5 %), with its page number: a running header, taken out.
    thrice = [(f"Gear Boxes {n}\n" if n in (3, 9, 20) else "") + text for n, text in enumerate(body, start=1)]
    assert strip_furniture(thrice).texts == tuple(body)


@pytest.mark.parametrize(
    ("pages", "page_count", "note"),
    [
        ((), 10, ""),
        ((4,), 10, "1 of 10 pages has no text (4), so it is not searchable"),
        ((1, 2, 3, 7, 9, 10), None, "6 pages have no text (1-3, 7, 9-10), so they are not searchable"),
        (
            tuple(range(1, 60, 2)),
            60,
            "30 of 60 pages have no text (1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, …)",
        ),
    ],
)
def test_pages_without_text_note(pages: tuple[int, ...], page_count: int | None, note: str) -> None:
    assert pages_without_text_note(pages, page_count).startswith(note)
    assert bool(note) == ("scans OCR could not read" in pages_without_text_note(pages, page_count))


def test_pages_without_text_are_stored_and_returned_by_the_api(engine) -> None:
    data = _manual_pdf()
    [result] = engine.ingestor().ingest_bytes(data, "widget.pdf")
    assert result.status == "new"
    assert result.pages_without_text == (5, 6)

    [document] = engine.documents()
    assert document.pages_without_text == (5, 6)
    assert [c.page_start for c in engine.chunks(document.id)] == [1, 3, 4]

    [again] = engine.ingestor().ingest_bytes(data, "widget.pdf")
    assert (again.status, again.pages_without_text) == ("unchanged", (5, 6))
