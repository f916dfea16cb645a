"""The Inspector's building blocks: parameter inputs, the candidate table, latency chart, prompt."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import altair as alt
import streamlit as st

from rag import MODES, Candidate, Filters, SearchParams
from ui.tables import MISSING, candidates_frame, timings_frame

MODE_LABELS: dict[str, str] = {
    "lexical": "lexical (BM25 only)",
    "vector": "vector (HNSW only)",
    "hybrid": "hybrid (BM25 + vector, RRF)",
    "rerank": "rerank (hybrid, then cross-encoder)",
}


def params_inputs(defaults: SearchParams, key: str, filters: Filters) -> SearchParams:
    """Inputs for one parameter set (inside a form); returns the chosen :class:`SearchParams`.

    Args:
        defaults: Initial values (``engine.default_params()``).
        key: Prefix of the widget keys (one per parameter set, e.g. ``"a"`` and ``"b"``).
        filters: Filters applied to this set.
    """
    mode = st.selectbox(
        "Mode",
        MODES,
        index=MODES.index(defaults.mode),
        format_func=MODE_LABELS.get,
        key=f"{key}-mode",
        help="rerank runs the cross-encoder on the fused candidates; it falls back to hybrid when no reranker loads.",
    )
    first, second = st.columns(2)
    candidates = first.number_input(
        "Candidates N",
        1,
        500,
        defaults.candidates,
        key=f"{key}-candidates",
        help="Depth of each retriever and the fused list handed to the reranker.",
    )
    k = second.number_input("Top-k", 1, 100, defaults.k, key=f"{key}-k", help="Passages kept for the answer.")
    rrf_k = first.number_input(
        "RRF k",
        0.0,
        1000.0,
        float(defaults.rrf_k),
        step=10.0,
        key=f"{key}-rrf-k",
        help="Reciprocal rank fusion constant: score = Σ weight / (k + rank) (Cormack et al., 2009).",
    )
    ef_search = second.number_input(
        "ef_search (0 = auto)",
        0,
        1000,
        defaults.ef_search or 0,
        key=f"{key}-ef",
        help="HNSW candidate list size; auto uses max(40, 2 × N).",
    )
    lexical_weight = first.number_input(
        "Lexical weight", 0.0, 10.0, float(defaults.lexical_weight), step=0.1, key=f"{key}-lw"
    )
    vector_weight = second.number_input(
        "Vector weight", 0.0, 10.0, float(defaults.vector_weight), step=0.1, key=f"{key}-vw"
    )
    return SearchParams(
        mode=mode,
        k=int(k),
        candidates=int(candidates),
        rrf_k=float(rrf_k),
        lexical_weight=float(lexical_weight),
        vector_weight=float(vector_weight),
        ef_search=int(ef_search) or None,
        k1=defaults.k1,
        b=defaults.b,
        filters=filters,
    )


def render_candidates(candidates: Sequence[Candidate], key: str) -> Candidate | None:
    """The candidate table: ranks and scores of every stage, movement vs the fused rank, kept/cut.

    Returns:
        The candidate whose row the user selected (to open it in its document), else ``None``.
    """
    frame = candidates_frame(candidates)
    # A stage that did not see a candidate (no BM25 hit, not reranked) has no value: shown as "—",
    # not "None"; the Styler keeps the numbers sortable.
    styled = frame.style.format(
        {"BM25": "{:.3f}", "cosine distance": "{:.3f}", "RRF score": "{:.4f}", "rerank score": "{:.3f}"},
        na_rep=MISSING,
    )
    event = st.dataframe(
        styled,
        hide_index=True,
        width="stretch",
        key=key,
        on_select="rerun",
        selection_mode="single-row",
        column_config={
            "moved": st.column_config.TextColumn(
                "moved", help="Places gained (▲) or lost (▼) vs the fused rank"
            ),
            "passage": st.column_config.TextColumn("passage", width="large"),
        },
    )
    rows = [i for i in event.selection.rows if i < len(candidates)]
    return candidates[rows[0]] if rows else None


def render_timings(timings_ms: Mapping[str, float]) -> None:
    """A horizontal bar chart of per-stage latency (ms), stages in pipeline order."""
    frame = timings_frame(timings_ms)
    if frame.empty:
        st.caption("No timings recorded.")
        return
    total = timings_ms.get("total", frame["ms"].sum())
    st.markdown(f"**Latency by stage** · total {total:.0f} ms")
    st.altair_chart(
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("ms:Q", title="milliseconds"),
            y=alt.Y("stage:N", sort=None, title=None),
            tooltip=["stage", alt.Tooltip("ms:Q", format=".1f")],
        )
        .properties(height=alt.Step(22)),
        width="stretch",
    )


def render_messages(messages: Sequence[Mapping], label: str) -> None:
    """The prompt: one code block per message, role as its caption."""
    with st.expander(label, icon=":material/description:"):
        if not messages:
            st.caption("No prompt: the answer abstained before calling the model.")
        for message in messages:
            st.caption(str(message.get("role", "")))
            st.code(str(message.get("content", "")), language=None, wrap_lines=True)
