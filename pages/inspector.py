"""Inspector: what retrieval did for a query (or for a stored chat answer), stage by stage."""

from collections.abc import Sequence
from dataclasses import replace

import pandas as pd
import streamlit as st

from rag import Candidate, Filters, NotFound, RetrievalTrace
from ui import state
from ui.errors import guard
from ui.inspector import params_inputs, render_candidates, render_messages, render_timings
from ui.markdown import markdown_text
from ui.source_view import render_source
from ui.tables import compare_top_k, diff_frame, media_type_name, pages_label

RUNS_KEY = "inspector-runs"
QUERY_KEY = "inspector-query"
LOADED_KEY = "inspector-loaded-message"

state.require_app_shell()
engine = state.get_engine()
collection = state.active_collection(engine)

st.title("Inspector")


def _close_message() -> None:
    st.query_params.pop("message", None)


def _top_k_frame(candidates: Sequence[Candidate]) -> pd.DataFrame:
    kept = sorted((c for c in candidates if c.kept), key=lambda c: c.final_rank or 0)
    return pd.DataFrame(
        [
            {
                "rank": c.final_rank,
                "title": c.title,
                "pages": pages_label(c.page_start, c.page_end),
                "chunk": c.chunk_id,
            }
            for c in kept
        ],
        columns=["rank", "title", "pages", "chunk"],
    )


def _show_selected(candidate: Candidate | None, key: str) -> None:
    """The candidate picked in a table, where it stands in its document (page or section)."""
    if candidate is None:
        st.caption("Select a candidate's row to see it in its document.")
        return
    with st.container(border=True):
        render_source(engine, candidate.chunk_id, key)


def _mode_note(trace: RetrievalTrace) -> None:
    if trace.requested_mode != trace.params.mode:
        st.info(
            f"Asked for **{trace.requested_mode}**, ran **{trace.params.mode}**: "
            f"{trace.reranker.reason or 'the reranker is unavailable'}",
            icon=":material/info:",
        )


message_param = st.query_params.get("message")
if message_param:
    with guard():
        try:
            message = engine.message(int(message_param))
        except (ValueError, NotFound):
            st.warning(
                f"There is no stored answer {markdown_text(repr(message_param))} (its conversation may have been deleted).",
                icon=":material/search_off:",
            )
            st.button(
                "Close", icon=":material/close:", on_click=_close_message, key="inspector-close-missing"
            )
            st.stop()
        answer = message.answer
        head, close = st.columns([5, 1], vertical_alignment="bottom")
        head.subheader(f"Stored answer #{message.id}")
        close.button("Close", icon=":material/close:", on_click=_close_message, key="inspector-close")
        if answer is None:
            st.info("This message has no trace: only assistant answers do. Open one with its Inspect button.")
        else:
            trace = answer.trace
            if st.session_state.get(LOADED_KEY) != message.id:
                st.session_state[LOADED_KEY] = message.id
                st.session_state[QUERY_KEY] = answer.standalone_question or answer.question
            st.markdown(f"**Question** · {markdown_text(answer.question)}")
            if answer.standalone_question and answer.standalone_question != answer.question:
                st.caption(f"Searched as: {markdown_text(answer.standalone_question)}")
            with st.container(border=True):
                st.markdown(markdown_text(answer.text))
            if answer.extractive:
                st.caption(
                    "Quoted from the passages: the model's answer failed verification "
                    f"({markdown_text('; '.join(answer.problems))})."
                )
            elif answer.verified and not answer.abstained:
                st.caption("Verified: every sentence is supported by a passage it cites.")
            if answer.decision_reason:
                st.caption(f"Answer or decline: {markdown_text(answer.decision_reason)}")
            cols = st.columns(4)
            cols[0].metric(
                "Mode",
                trace.params.mode if trace else "?",
                help=f"requested: {trace.requested_mode if trace else '?'}",
            )
            evidence = answer.evidence
            cols[1].metric(
                "Evidence / threshold",
                f"{evidence:.2f} / {answer.threshold:.2f}" if evidence is not None else "none",
                help="Best cosine similarity of a kept passage; below the threshold the answer abstains.",
            )
            cols[2].metric("Tokens (prompt + answer)", f"{answer.prompt_tokens} + {answer.completion_tokens}")
            cols[3].metric("Model", answer.model)
            _show_selected(
                render_candidates(trace.candidates if trace else (), key="inspector-stored-table"),
                "inspector-stored-source",
            )
            render_timings(answer.timings_ms)
            render_messages(answer.messages, "Prompt sent to the model")
    st.divider()

# ?q=... (the Evaluation page's per-query drill-down) prefills the query once, then leaves the URL.
if (initial_query := st.query_params.get("q")) is not None:
    st.session_state[QUERY_KEY] = initial_query
    del st.query_params["q"]

documents = engine.documents(collection)
defaults = engine.default_params()
if not engine.reranker()[1].available:
    defaults = replace(defaults, mode="hybrid")  # rerank would fall back to hybrid anyway
compare = st.toggle("Compare two parameter sets", key="inspector-compare")
with st.form("inspector-form"):
    query = st.text_input("Query", key=QUERY_KEY, placeholder="What do you want to find?")
    left, right = st.columns(2)
    chosen = left.multiselect(
        "Only these documents",
        [d.id for d in documents],
        format_func={d.id: d.title for d in documents}.get,
        key="inspector-documents",
        placeholder="All documents",
    )
    media_types = sorted({d.media_type for d in documents})
    chosen_types = right.multiselect(
        "Only these types",
        media_types,
        format_func=media_type_name,
        key="inspector-types",
        placeholder="All types",
    )
    filters = Filters(document_ids=chosen or None, media_types=chosen_types or None)
    if compare:
        column_a, column_b = st.columns(2, border=True)
        with column_a:
            st.markdown("**Parameter set A**")
            params_a = params_inputs(defaults, "a", filters)
        with column_b:
            st.markdown("**Parameter set B**")
            params_b = params_inputs(defaults, "b", filters)
    else:
        params_a, params_b = params_inputs(defaults, "a", filters), None
    submitted = st.form_submit_button("Search", type="primary", icon=":material/search:")

if submitted:
    if not query.strip():
        st.warning("Type a query first.")
    else:
        with guard(), st.spinner("Searching…"):
            trace_a = engine.search(query, params_a, collection)
            trace_b = engine.search(query, params_b, collection) if params_b is not None else None
            st.session_state[RUNS_KEY] = (query, trace_a, trace_b)

runs = st.session_state.get(RUNS_KEY)
if runs:
    query, trace_a, trace_b = runs
    candidates_a = trace_a.candidates
    if trace_b is None:
        st.subheader(f"Candidates for “{markdown_text(query)}”")
        _mode_note(trace_a)
        _show_selected(render_candidates(candidates_a, key="inspector-table-a"), "inspector-source-a")
        render_timings(trace_a.timings_ms)
        render_messages(engine.prompt_preview(query, trace_a.hits), "Prompt that would be sent to the model")
    else:
        candidates_b = trace_b.candidates
        diff = compare_top_k(candidates_a, candidates_b)
        st.subheader(f"A vs B for “{markdown_text(query)}”")
        st.caption(
            f"{diff.stayed} passage(s) in both top-k · {len(diff.entered)} entered with B · {len(diff.left)} left"
        )
        column_a, column_b = st.columns(2, border=True)
        for column, name, trace, candidates in (
            (column_a, "A", trace_a, candidates_a),
            (column_b, "B", trace_b, candidates_b),
        ):
            with column:
                p = trace.params
                st.markdown(f"**{name}** · {p.mode}, N={p.candidates}, k={p.k}, RRF k={p.rrf_k:g}")
                _mode_note(trace)
                st.dataframe(
                    _top_k_frame(candidates), hide_index=True, width="stretch", key=f"inspector-top-{name}"
                )
                render_timings(trace.timings_ms)
        if diff.entered or diff.left:
            st.markdown("**Changes in the top-k**")
            st.dataframe(diff_frame(diff), hide_index=True, width="stretch", key="inspector-diff")
        tab_a, tab_b = st.tabs(["All candidates of A", "All candidates of B"])
        with tab_a:
            _show_selected(render_candidates(candidates_a, key="inspector-table-a"), "inspector-source-a")
        with tab_b:
            _show_selected(render_candidates(candidates_b, key="inspector-table-b"), "inspector-source-b")
