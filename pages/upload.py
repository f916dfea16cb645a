"""Upload: add files to a collection, preview their chunks, follow each file through the pipeline."""

import io

import pandas as pd
import streamlit as st

from rag import SUPPORTED_EXTENSIONS, FileProgress
from ui import state
from ui.errors import guard
from ui.ingest import preview_frame, results_frame
from ui.markdown import bold, markdown_text

NEW_COLLECTION = "➕ New collection…"
RESULTS_KEY = "upload-results"

state.require_app_shell()
engine = state.get_engine()
settings = engine.settings

st.title("Upload documents")
files = st.file_uploader(
    "Documents",
    type=sorted(ext.lstrip(".") for ext in SUPPORTED_EXTENSIONS),
    accept_multiple_files=True,
    key="upload-files",
    help=f"Up to {settings.max_file_mb} MB per file. A file uploaded again with the same name replaces the old version.",
)

left, right = st.columns(2)
with left:
    existing = sorted(set(engine.collections()) | {state.active_collection(engine)})
    target = st.selectbox(
        "Target collection",
        [*existing, NEW_COLLECTION],
        index=existing.index(state.active_collection(engine)),
        key="upload-collection",
    )
    if target == NEW_COLLECTION:
        target = st.text_input(
            "New collection name", key="upload-new-collection", placeholder="e.g. handbooks"
        ).strip()
with right:
    size_col, overlap_col = st.columns(2)
    chunk_size = size_col.number_input(
        "Chunk size (tokens)",
        min_value=16,
        max_value=8192,
        value=settings.chunk_size,
        step=16,
        key="upload-chunk-size",
        help="Maximum tokens per chunk in the embedding model's tokenizer (capped at the model's limit).",
    )
    chunk_overlap = overlap_col.number_input(
        "Overlap (tokens)",
        min_value=0,
        max_value=4096,
        value=settings.chunk_overlap,
        step=8,
        key="upload-overlap",
        help="Tokens shared by consecutive chunks; must be smaller than the chunk size.",
    )

csv_files = [f for f in files or [] if f.name.lower().endswith(".csv")]
with st.expander("CSV options", icon=":material/table:", expanded=bool(csv_files)):
    csv_mode = st.radio(
        "Each CSV file becomes",
        ["file", "rows"],
        format_func={"file": "one document (one section per row)", "rows": "one document per row"}.get,
        horizontal=True,
        key="upload-csv-mode",
    )
    columns: list[str] = []
    if csv_files:
        try:
            columns = [str(c) for c in pd.read_csv(io.BytesIO(csv_files[0].getvalue()), nrows=0).columns]
        except Exception:  # noqa: BLE001 - the loader reports a bad CSV when it is ingested
            columns = []
    title_column = st.selectbox(
        "Title column (rows mode)",
        [None, *columns],
        format_func=lambda c: "none: rows are titled “row N”" if c is None else c,
        key="upload-csv-title",
        disabled=csv_mode != "rows",
    )

load_options = engine.load_options(
    csv_mode=csv_mode, csv_title_column=title_column if csv_mode == "rows" else None
)


@st.cache_data(show_spinner="Chunking the first file…", max_entries=8)
def _preview(
    file_id: str, name: str, size: int, overlap: int, csv_mode: str, title: str | None, _data: bytes
):
    return engine.preview_chunks(
        _data, name, chunk_size=size, chunk_overlap=overlap, load_options=load_options
    )


if files:
    first = files[0]
    with st.expander(f"Preview: chunks of {bold(first.name)}", icon=":material/view_agenda:", expanded=True):
        with guard():
            preview = _preview(
                first.file_id,
                first.name,
                int(chunk_size),
                int(chunk_overlap),
                csv_mode,
                title_column,
                first.getvalue(),
            )
            more = f" (first of {preview.documents} documents)" if preview.documents > 1 else ""
            st.caption(f"{bold(preview.title)}{more}: {len(preview.chunks)} chunks; the first 20 are shown.")
            st.dataframe(
                preview_frame(preview),
                hide_index=True,
                width="stretch",
                column_config={"text": st.column_config.TextColumn("text", width="large")},
            )

go = st.button(
    f"Ingest {len(files or [])} file(s) into {markdown_text(target or '…')}",
    type="primary",
    icon=":material/upload:",
    disabled=not files or not target,
    key="upload-go",
)

if go and files and target:
    with guard():
        boxes: dict[int, tuple] = {}

        def show(progress: FileProgress) -> None:
            if progress.index not in boxes:
                box = st.status(f"{markdown_text(progress.file)}: starting", expanded=False)
                boxes[progress.index] = (box, box.progress(0.0))
            box, bar = boxes[progress.index]
            counts = (
                f"{progress.chunks} chunks stored, {progress.embedded} embedded, {progress.elapsed_s:.1f} s"
            )
            bar.progress(progress.fraction, text=f"{progress.stage}: {counts}")
            if progress.stage == "done":
                box.update(
                    label=f"{markdown_text(progress.file)}: done ({progress.elapsed_s:.1f} s)",
                    state="complete",
                )
            else:
                box.update(
                    label=f"{markdown_text(progress.file)} ({progress.index + 1}/{progress.total}): {progress.stage}…"
                )

        outcomes = engine.ingest_files(
            [(f.name, f.getvalue()) for f in files],
            target,
            chunk_size=int(chunk_size),
            chunk_overlap=int(chunk_overlap),
            load_options=load_options,
            on_progress=show,
        )
        for index, outcome in enumerate(outcomes):
            box, _ = boxes[index]
            box.update(
                label=markdown_text(f"{outcome.file}: {outcome.summary} ({outcome.seconds:.1f} s)"),
                state="error" if outcome.failed else "complete",
            )
        st.session_state[RESULTS_KEY] = results_frame(outcomes)
        state.request_collection(target)

results = st.session_state.get(RESULTS_KEY)
if results is not None:
    st.subheader("Results")
    counts = results["status"].value_counts()
    metrics = st.columns(4)
    for column, status in zip(metrics, ["new", "unchanged", "replaced", "failed"], strict=True):
        column.metric(status.capitalize(), int(counts.get(status, 0)))
    st.dataframe(
        results,
        hide_index=True,
        width="stretch",
        column_config={
            "seconds": st.column_config.NumberColumn("seconds", format="%.2f"),
            "reason": st.column_config.TextColumn("reason", width="large"),
        },
    )
