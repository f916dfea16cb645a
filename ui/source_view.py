"""The cited source in context: a dialog with the PDF page (passage marked) or the passage's section.

Opened from a citation chip (Chat), a candidate (Inspector) or a chunk (Corpus). A PDF passage shows
its page as an image the engine rendered (:meth:`rag.Engine.cited_pages`): first the band of the
page around the marked passage, so it is in view at once, then the whole page on request. Other
formats show the passage inside its section with the heading path (:meth:`rag.Engine.passage_context`).
Everything the document says is escaped before it is drawn (a hostile file's HTML, links and images
show as text and load nothing), and the page image comes from this app, never from another host.
The dialog renders only when opened, so a chat with many citations renders no page until asked.
"""

from __future__ import annotations

import html

import streamlit as st

from rag import CitedPage, Engine, NotFound, PassageContext, RagError
from ui.errors import guard
from ui.markdown import bold, markdown_text

CONTEXT_CHARS = 800
"""Characters of the section shown before and after a passage: few enough that the marked passage
is in the box's first screen without scrolling, enough to read it in context."""


def context_html(context: PassageContext) -> str:
    """The section around a passage as HTML: every character escaped, the passage in ``<mark>``.

    Args:
        context: From :meth:`rag.Engine.passage_context`.

    Returns:
        HTML safe for ``st.html``: no tag but the ``<mark>`` and ``<br>`` written here.
    """

    def escaped(text: str) -> str:
        return html.escape(text).replace("\n", "<br>")

    return (
        "<div data-testid='source-context' style='max-height:26rem;overflow-y:auto;font-size:0.92rem;"
        "line-height:1.5;border-left:3px solid #c9a227;padding-left:0.75rem'>"
        f"<span style='color:#666'>{escaped(context.before)}</span>"
        f"<mark style='background:#ffe08a;padding:0 2px'>{escaped(context.passage)}</mark>"
        f"<span style='color:#666'>{escaped(context.after)}</span></div>"
    )


def heading_trail(heading_path: tuple[str, ...], title: str) -> str:
    """``Title › Chapter › Section`` as safe Markdown (the document's own headings)."""
    return markdown_text(" › ".join([title, *heading_path]) if title else " › ".join(heading_path))


def download_original(engine: Engine, document_id: int, filename: str, media_type: str, key: str) -> None:
    """A Download button for the document's original file; its bytes are read only when clicked."""
    st.download_button(
        "Download original",
        data=lambda: engine.original(document_id).data,
        file_name=filename,
        mime=media_type,
        icon=":material/download:",
        key=key,
        on_click="ignore",
    )


def _page_caption(page: CitedPage) -> str:
    where = f"Page {page.page} of {page.page_count}"
    if page.located_by == "text":
        return f"{where} · the cited passage is highlighted"
    if page.located_by == "ocr":
        return f"{where} · scanned page: the passage's lines were found by OCR and are highlighted"
    return f"{where} · the passage could not be located on this page, so nothing is highlighted"


def render_pdf_pages(pages: list[CitedPage], key: str) -> None:
    """Each page's excerpt around the marks, and the whole page in an expander."""
    for page in pages:
        # PNG, not the "auto" JPEG: text on a page blurs under JPEG compression.
        st.image(page.excerpt_png, caption=_page_caption(page), width="stretch", output_format="PNG")
        if page.boxes:
            with st.expander(f"Whole page {page.page}", icon=":material/description:"):
                st.image(page.png, width="stretch", output_format="PNG")


def render_source(engine: Engine, chunk_id: int, key: str, *, offer_download: bool = True) -> None:
    """The cited chunk in its document: the PDF page with the passage marked, or its section.

    Args:
        engine: The acting user's engine (row-level security applies).
        chunk_id: The cited chunk.
        key: Prefix of the widget keys.
        offer_download: Draw a Download button for the original (when it is kept).
    """
    with guard():
        try:
            context = engine.passage_context(chunk_id, max_chars=CONTEXT_CHARS)
        except NotFound as exc:
            st.warning(markdown_text(str(exc)), icon=":material/search_off:")
            return
        st.markdown(bold(context.title or context.source_name))
        pages = ""
        if context.page_start is not None:
            end = context.page_end or context.page_start
            pages = (
                f"p. {context.page_start}" if end == context.page_start else f"pp. {context.page_start}-{end}"
            )
        st.caption(" · ".join(part for part in (pages, markdown_text(context.source_name)) if part))
        if context.heading_path:
            st.markdown(
                f":material/subdirectory_arrow_right: {heading_trail(context.heading_path, '')}",
                help="The headings above the passage in the document.",
            )
        shown_pages = False
        if context.media_type == "application/pdf" and context.page_start is not None:
            try:
                with st.spinner("Rendering the page…"):
                    render_pdf_pages(engine.cited_pages(chunk_id), key)
                shown_pages = True
            except RagError as exc:
                st.info(markdown_text(str(exc)), icon=":material/info:")
        if not shown_pages:
            st.html(context_html(context))
        if offer_download and context.has_original:
            download_original(
                engine, context.document_id, context.source_name, context.media_type, f"{key}-download"
            )


@st.dialog("Cited source", width="large")
def source_dialog(engine: Engine, chunk_id: int, key: str) -> None:
    """The dialog around :func:`render_source` (opened by :func:`source_button`)."""
    render_source(engine, chunk_id, key)


def source_button(engine: Engine, chunk_id: int, key: str) -> None:
    """A "Show in document" button that opens the cited chunk in :func:`source_dialog`."""
    if st.button(
        "Show in document",
        key=key,
        icon=":material/open_in_full:",
        type="tertiary",
        help="See the passage where it stands: the PDF page with the passage highlighted, or its section.",
    ):
        source_dialog(engine, chunk_id, key)
