"""Upload: add files to a collection, follow each file through the pipeline, preview chunks on demand.

The Ingest button is there as soon as files are chosen (nothing is parsed before it is pressed);
each file's problem (unsupported type, too large, a name shared with another file) is shown inline;
while ingesting, one bar shows the whole upload (files, chunks, elapsed, time left) above a table
with every file's status.
"""

import io

import pandas as pd
import streamlit as st

from rag import SUPPORTED_EXTENSIONS, FileProgress
from ui import state
from ui.errors import guard
from ui.ingest import (
    batch_frame,
    file_status,
    finished_text,
    outcome_status,
    overall_text,
    preview_frame,
    results_frame,
)
from ui.jobs import jobs_panel
from ui.markdown import bold, markdown_text
from ui.text import plural

NEW_COLLECTION = "➕ New collection…"
RESULTS_KEY = "upload-results"
LIVE_KEY = "upload-live-status"
PREVIEWED_KEY = "upload-previewed"

state.require_app_shell()
engine = state.get_engine()
settings = engine.settings

st.title("Upload documents")
supported = ", ".join(sorted(ext.lstrip(".") for ext in SUPPORTED_EXTENSIONS))
# No ``type=`` filter: Streamlit would refuse other files with an error shown only on hover; the
# batch table below says inline why such a file cannot be ingested.
files = st.file_uploader(
    "Documents",
    accept_multiple_files=True,
    key="upload-files",
    help=f"Supported: {supported}. Up to {settings.max_file_mb} MB per file. "
    "A file uploaded again with the same name replaces the old version.",
)

left, right = st.columns(2)
with left:
    existing = sorted(
        {c.name for c in engine.collection_summaries() if not c.is_evaluation}
        | {state.active_collection(engine)}
    )
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


@st.cache_data(show_spinner="Chunking the file…", max_entries=8)
def _preview(
    file_id: str, name: str, size: int, overlap: int, csv_mode: str, title: str | None, _data: bytes
):
    return engine.preview_chunks(
        _data, name, chunk_size=size, chunk_overlap=overlap, load_options=load_options
    )


uploaded = [(f.name, f.getvalue()) for f in files or []]
plan = engine.plan_upload(uploaded, load_options)
to_ingest = [p for p in plan if p.will_ingest]
refused = [p for p in plan if p.problem is not None]
for planned in plan:  # every problem inline, not in a tooltip
    if planned.problem is not None:
        st.error(markdown_text(planned.problem), icon=":material/block:")
    elif planned.note and planned.duplicate_of is None:
        st.warning(markdown_text(planned.note), icon=":material/content_copy:")

go = st.button(
    f"Ingest {len(to_ingest)} file(s) into {markdown_text(target or '…')}",
    type="primary",
    icon=":material/upload:",
    disabled=not to_ingest or not target,
    key="upload-go",
)
background = st.toggle(
    "In the background",
    value=True,
    key="upload-background",
    help="Queue the files as jobs and return at once; a worker ingests them and the panel below shows "
    "their progress (also after a reload, and from another browser). Off: ingest here and wait.",
)
if refused and to_ingest:
    st.caption(f"{plural(len(refused), 'file')} cannot be ingested (see above) and will be skipped.")

overall = st.empty()
table = st.empty()
if plan:
    table.dataframe(batch_frame(plan), hide_index=True, width="stretch")

if go and to_ingest and target and background:
    with guard():
        queued = engine.enqueue_files(
            [(p.name, uploaded[p.index][1]) for p in to_ingest],
            target,
            chunk_size=int(chunk_size),
            chunk_overlap=int(chunk_overlap),
            load_options={
                "csv_mode": csv_mode,
                "csv_title_column": title_column if csv_mode == "rows" else None,
            },
        )
        st.session_state.pop(LIVE_KEY, None)
        st.session_state.pop(RESULTS_KEY, None)
        st.toast(f"Queued {plural(len(queued), 'file')} into {target}", icon=":material/schedule:")
        state.request_collection(target)
elif go and to_ingest and target:
    with guard():
        live: dict[int, str] = {}
        bar = overall.progress(
            0.0, text=f"Starting {plural(len(to_ingest), 'file')} (the embedding model loads on first use)…"
        )

        def show(progress: FileProgress) -> None:
            planned = to_ingest[progress.index]
            live[planned.index] = file_status(progress) if progress.stage != "done" else "done"
            bar.progress(progress.batch_fraction, text=overall_text(progress))
            table.dataframe(batch_frame(plan, live), hide_index=True, width="stretch")

        outcomes = engine.ingest_files(
            [(p.name, uploaded[p.index][1]) for p in to_ingest],
            target,
            chunk_size=int(chunk_size),
            chunk_overlap=int(chunk_overlap),
            load_options=load_options,
            on_progress=show,
        )
        for planned, outcome in zip(to_ingest, outcomes, strict=True):
            live[planned.index] = outcome_status(outcome)
        finished = finished_text(outcomes, target)
        st.session_state[LIVE_KEY] = (tuple(p.name for p in plan), live, finished)
        st.session_state[RESULTS_KEY] = results_frame(outcomes, refused)
        state.request_collection(target)
        st.rerun()  # the sidebar counts and the target list now include the new documents

last_run = st.session_state.get(LIVE_KEY)
if plan and last_run and last_run[0] == tuple(p.name for p in plan):  # the same files as ingested
    overall.success(last_run[2], icon=":material/task_alt:")
    table.dataframe(batch_frame(plan, last_run[1]), hide_index=True, width="stretch")

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

jobs_panel(engine)

previewable = {p.index: p.name for p in plan if p.problem is None and p.duplicate_of is None}
if previewable:
    with st.expander("Preview the chunks of a file", icon=":material/view_agenda:"):
        left, right = st.columns([4, 1], vertical_alignment="bottom")
        shown = left.selectbox(
            "File", list(previewable), format_func=previewable.get, key="upload-preview-file"
        )
        clicked = right.button("Show chunks", key="upload-preview", icon=":material/visibility:")
        if shown is not None and (clicked or st.session_state.get(PREVIEWED_KEY) == previewable[shown]):
            st.session_state[PREVIEWED_KEY] = previewable[shown]  # later runs follow the settings
            with guard():
                preview = _preview(
                    (files or [])[shown].file_id,
                    previewable[shown],
                    int(chunk_size),
                    int(chunk_overlap),
                    csv_mode,
                    title_column,
                    uploaded[shown][1],
                )
                more = f" (first of {preview.documents} documents)" if preview.documents > 1 else ""
                st.caption(
                    f"{bold(preview.title)}{more}: {len(preview.chunks)} chunks; the first 20 are shown."
                )
                st.dataframe(
                    preview_frame(preview),
                    hide_index=True,
                    width="stretch",
                    column_config={"text": st.column_config.TextColumn("text", width="large")},
                )
