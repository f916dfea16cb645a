"""Corpus: the documents of the active collection, their chunks, statistics, delete and re-embed.

A selected document can be downloaded as uploaded, and a selected chunk is shown where it stands in
the document (the PDF page with the passage highlighted, or its section). A member with read-only
access sees Delete and Re-embed disabled, with the reason.
"""

import altair as alt
import pandas as pd
import streamlit as st

from rag import NotFound, ocr_pages_note, pages_without_text_note
from ui import sharing, state
from ui.errors import guard
from ui.markdown import bold, markdown_text
from ui.source_view import download_original, render_source
from ui.tables import chunks_frame, documents_frame
from ui.text import human_size, plural

CONFIRM_KEY = "corpus-confirm-delete"

state.require_app_shell()
engine = state.get_engine()
collection = state.active_collection(engine)

st.title("Corpus")
sharing.render_sharing(engine, collection)
search = st.text_input(
    "Search titles and file names",
    key="corpus-search",
    placeholder="Type to filter…",
    icon=":material/search:",
)
documents = engine.documents(collection, search=search or None)
try:
    target = engine.collection(collection)
    read_only_reason = (
        None
        if target.writable
        else f"{markdown_text(collection)} is shared with you read-only: ask its owner "
        f"{markdown_text(target.owner)} for write access to delete or re-embed documents."
    )
except NotFound:  # not created yet: the acting user's first upload creates it, owned by them
    read_only_reason = None
frame = documents_frame(documents)

if not documents:
    if search:
        st.info(f"No document of {bold(collection)} matches “{markdown_text(search)}”.")
    else:
        st.info(f"The collection {bold(collection)} has no documents yet: add some on the Upload page.")
        st.page_link(state.PAGE_UPLOAD, label="Upload documents", icon=":material/upload_file:")

model = engine.embedding_model_name  # includes the backend: vectors from another runtime are stale too
stale = [d for d in documents if d.embedding_models and set(d.embedding_models) != {model}]

st.caption(
    f"{plural(len(documents), 'document')} in {bold(collection)} · select rows to see chunks or delete"
)
event = st.dataframe(
    frame,
    hide_index=True,
    width="stretch",
    key=f"corpus-table-{collection}",
    on_select="rerun",
    selection_mode="multi-row",
    column_order=["title", "type", "pages", "chunks", "size (KiB)", "embedding model", "added", "source"],
    column_config={
        "added": st.column_config.DatetimeColumn("added", format="YYYY-MM-DD HH:mm"),
        "size (KiB)": st.column_config.NumberColumn("size (KiB)", format="%.1f"),
    },
)
selected = [documents[i] for i in event.selection.rows if i < len(documents)]

with st.container(horizontal=True):
    if st.button(
        f"Delete {len(selected)} selected",
        icon=":material/delete:",
        disabled=not selected or read_only_reason is not None,
        key="corpus-delete",
        help=read_only_reason,
    ):
        st.session_state[CONFIRM_KEY] = [d.id for d in selected]
    reembed = st.button(
        "Re-embed collection",
        icon=":material/refresh:",
        disabled=not documents or read_only_reason is not None,
        key="corpus-reembed",
        help=read_only_reason or f"Embed again every chunk whose vector was not made by {model}.",
    )
if read_only_reason is not None:
    st.caption(f":material/lock: {read_only_reason}")

pending = st.session_state.get(CONFIRM_KEY)
if pending and read_only_reason is None:
    titles = {d.id: d.title for d in documents}
    st.warning(
        f"Delete {len(pending)} document(s) and their chunks from {bold(collection)}? "
        + ", ".join(f"“{markdown_text(str(titles.get(i, i)))}”" for i in pending[:10])
        + (" …" if len(pending) > 10 else ""),
        icon=":material/warning:",
    )
    with st.container(horizontal=True):
        if st.button("Yes, delete", type="primary", key="corpus-delete-confirm"):
            with guard():
                deleted = engine.delete_documents(pending, collection)
                st.session_state.pop(CONFIRM_KEY, None)
                st.toast(f"Deleted {deleted} document(s).", icon=":material/delete:")
                st.rerun()
        if st.button("Cancel", key="corpus-delete-cancel"):
            st.session_state.pop(CONFIRM_KEY, None)
            st.rerun()

if stale:
    st.info(
        f"{len(stale)} document(s) have vectors from another model than `{model}`: re-embed the collection.",
        icon=":material/info:",
    )
if reembed:
    with guard(), st.spinner("Re-embedding…"):
        report = engine.reembed(collection)
        st.success(
            f"Re-embedded {report.embedded} chunk(s) with `{report.model}` and reused {report.reused} stored "
            f"vector(s) ({report.stale_chunks} chunk(s) were stale)."
        )

if selected:
    document = selected[0]
    st.subheader(markdown_text(document.title))
    st.caption(
        f"{markdown_text(document.source_name)} · {frame.loc[frame['id'] == document.id, 'type'].iloc[0]} · "
        f"{document.chunk_count} chunks" + (f" · {document.page_count} pages" if document.page_count else "")
    )
    if document.ocr_pages:
        st.caption(
            f":orange-badge[:material/document_scanner: OCR] {ocr_pages_note(document.ocr_pages, document.page_count)}",
            help="These pages are scans: their text was read by OCR, so a character may be misread. "
            "Their chunks are marked OCR below and in citations.",
        )
    if document.pages_without_text:
        st.caption(
            ":material/warning: " + pages_without_text_note(document.pages_without_text, document.page_count),
            help="These pages have no text layer and OCR found no text on them (blank pages, drawings, "
            "or scans too faint to read), so nothing on them can be found or cited.",
        )
    if document.has_original:
        download_original(engine, document.id, document.source_name, document.media_type, "corpus-download")
    with guard():
        chunks = engine.chunks(document.id)
        chunk_event = st.dataframe(
            chunks_frame(chunks),
            hide_index=True,
            width="stretch",
            key=f"corpus-chunks-{document.id}",
            on_select="rerun",
            selection_mode="single-row",
            column_config={"text": st.column_config.TextColumn("text", width="large")},
        )
        st.caption("Select a chunk to see it where it stands in the document.")
        chosen_chunks = [chunks[i] for i in chunk_event.selection.rows if i < len(chunks)]
        if chosen_chunks:
            with st.container(border=True):
                render_source(
                    engine, chosen_chunks[0].id, f"corpus-source-{chosen_chunks[0].id}", offer_download=False
                )


st.divider()
st.subheader("Statistics")
all_documents = engine.documents(collection) if search else documents
if all_documents:
    with guard():
        stats = documents_frame(all_documents)
        tokens = pd.DataFrame({"tokens": engine.chunk_token_counts(collection)})
        cols = st.columns(4)
        cols[0].metric("Documents", len(all_documents))
        cols[1].metric("Chunks", int(stats["chunks"].sum()))
        cols[2].metric("Median chunk (tokens)", int(tokens["tokens"].median()) if len(tokens) else 0)
        cols[3].metric("Size", human_size(int(sum(d.size_bytes for d in all_documents))))
        left, right = st.columns(2)
        with left:
            st.markdown("**Chunk length distribution** (tokens)")
            st.altair_chart(
                alt.Chart(tokens)
                .mark_bar()
                .encode(
                    x=alt.X("tokens:Q", bin=alt.Bin(maxbins=30), title="tokens per chunk"),
                    y=alt.Y("count()", title="chunks"),
                ),
                width="stretch",
            )
        with right:
            st.markdown("**Documents by type**")
            by_type = stats["type"].value_counts().rename_axis("type").reset_index(name="documents")
            st.altair_chart(
                alt.Chart(by_type).mark_bar().encode(x=alt.X("type:N", sort="-y"), y="documents:Q"),
                width="stretch",
            )
else:
    st.caption("Statistics appear once the collection has documents.")
