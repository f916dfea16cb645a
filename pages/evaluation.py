"""Evaluation: the runs stored by `rag eval`, metrics per mode, two runs compared, per-query results."""

from collections.abc import Sequence

import altair as alt
import pandas as pd
import streamlit as st

from rag import StoredRun, compare_runs
from ui import state
from ui.errors import guard
from ui.evaluation import (
    RETRIEVAL_METRICS,
    TABLE_METRICS,
    config_diff,
    config_diff_frame,
    default_pair,
    default_per_query_metric,
    deltas_frame,
    evaluation_sets,
    filter_runs,
    latency_frame,
    latest_per_mode,
    mode_metrics_frame,
    outcomes_frame,
    per_query_frame,
    per_query_metrics,
    run_label,
    run_snapshot,
    runs_frame,
    style_deltas,
)
from ui.text import plural

DOCS = state.APP_DIR / "docs" / "evaluation.md"
INSPECTOR_QUERY_PARAM = "q"  # pages/inspector.py prefills its query from ?q=... (no docstring: st magic)

state.require_app_shell()
engine = state.get_engine()

st.title("Evaluation")

SCORE = st.column_config.NumberColumn(format="%.3f")
MS = st.column_config.NumberColumn(format="%.1f")


def _empty_state() -> None:
    st.info(
        "No evaluation runs yet. Runs are made on the command line, stored in the app's database, "
        "and shown here.",
        icon=":material/analytics:",
    )
    st.markdown(
        "**Retrieval** on a BEIR-format folder (`corpus.jsonl`, `queries.jsonl`, `qrels/test.tsv`): "
        "nDCG@10, recall@10/100, MRR@10 and latency of every search mode."
    )
    st.code("rag eval retrieval DIR --split test", language="bash")
    st.markdown(
        "**Answers** on a QA set (`qa.jsonl`, `corpus.jsonl`, ClapNQ layout): citation validity, "
        "abstention balanced accuracy, answer F1."
    )
    st.code("rag eval answers DIR --limit 100", language="bash")
    st.caption(
        "Run them with the same `DATABASE_URL` (or `RAG_DATA_DIR`) as the app so the runs land in this "
        "database. Datasets, metrics and our results: `docs/evaluation.md`."
    )
    if DOCS.exists():
        with st.expander("Read docs/evaluation.md", icon=":material/menu_book:"):
            st.markdown(DOCS.read_text(encoding="utf-8"))


def _runs_table(runs: Sequence[StoredRun]) -> None:
    st.dataframe(
        runs_frame(runs),
        hide_index=True,
        width="stretch",
        key="eval-runs-table",
        column_config={
            "when": st.column_config.DatetimeColumn("when", format="YYYY-MM-DD HH:mm"),
            **dict.fromkeys(TABLE_METRICS.values(), SCORE),
        },
    )


def _by_mode(runs: Sequence[StoredRun]) -> None:
    sets = evaluation_sets(runs)
    if not sets:
        st.caption("No retrieval run among these runs: `rag eval retrieval DIR` makes one per mode.")
        return
    dataset, split = st.selectbox(
        "Dataset / split", sets, format_func=lambda s: f"{s[0]} / {s[1]}", key="eval-chart-set"
    )
    latest = latest_per_mode(runs, dataset, split)
    modes = [r.mode for r in latest]
    frame = mode_metrics_frame(latest)
    st.altair_chart(
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X(
                "metric:N", sort=list(RETRIEVAL_METRICS.values()), title=None, axis=alt.Axis(labelAngle=0)
            ),
            xOffset=alt.XOffset("mode:N", sort=modes),
            y=alt.Y("value:Q", scale=alt.Scale(domain=[0, 1]), title="score"),
            color=alt.Color("mode:N", sort=modes, title="mode"),
            tooltip=["mode", "metric", alt.Tooltip("value:Q", format=".4f"), "run"],
        ),
        width="stretch",
    )
    st.caption("Latest run of each mode: " + " · ".join(f"{r.mode} #{r.id}" for r in latest))

    st.markdown("**Latency per stage**")
    retrieval = [r for r in runs if r.kind == "retrieval"]
    by_id = {r.id: r for r in retrieval}
    run = by_id[
        st.selectbox(
            "Run",
            list(by_id),
            index=list(by_id).index(latest[-1].id),
            format_func=lambda i: run_label(by_id[i]),
            key="eval-latency-run",
        )
    ]
    latency = latency_frame(run)
    if latency.empty:
        st.caption("This run has no latency recorded.")
    else:
        st.dataframe(
            latency,
            hide_index=True,
            width="stretch",
            key="eval-latency",
            column_config={"p50 ms": MS, "p95 ms": MS, "mean ms": MS},
        )
        if (qps := run.metrics.get("queries_per_s")) is not None:
            st.caption(f"{qps:.1f} queries per second (one query at a time)")


def _compare(runs: Sequence[StoredRun]) -> None:
    by_id = {r.id: r for r in runs}
    ids = list(by_id)
    default_a, default_b = default_pair(runs)
    left, right = st.columns(2)
    a = by_id[
        left.selectbox(
            "Run A (baseline)",
            ids,
            index=ids.index(default_a),
            format_func=lambda i: run_label(by_id[i]),
            key="eval-compare-a",
        )
    ]
    b = by_id[
        right.selectbox(
            "Run B",
            ids,
            index=ids.index(default_b),
            format_func=lambda i: run_label(by_id[i]),
            key="eval-compare-b",
        )
    ]
    if a.id == b.id:
        st.info("Pick two different runs to compare.", icon=":material/compare_arrows:")
        return
    if (a.kind, a.dataset, a.split) != (b.kind, b.dataset, b.split):
        st.warning(
            "A and B are not on the same kind, dataset and split: metrics may not be comparable, and only "
            "the queries both runs have are compared one by one.",
            icon=":material/warning:",
        )
    metrics = per_query_metrics(a, b)
    metric = (
        st.selectbox(
            "Per-query metric",
            metrics,
            index=metrics.index(default_per_query_metric(a, metrics)),
            key="eval-compare-metric",
        )
        if metrics
        else None
    )
    comparison = compare_runs(a, b, metric)

    st.markdown("**Metrics** · green: B is better, red: B is worse")
    st.dataframe(style_deltas(deltas_frame(comparison)), hide_index=True, width="stretch", key="eval-deltas")

    if metric is None:
        st.caption("The two runs have no per-query metric in common.")
    else:
        st.markdown(f"**Per query** · {comparison.per_query_metric}")
        cols = st.columns(3)
        cols[0].metric("B wins", len(comparison.wins))
        cols[1].metric("B loses", len(comparison.losses))
        cols[2].metric("Ties", comparison.ties)
        wins, losses = st.tabs([f"Wins ({len(comparison.wins)})", f"Losses ({len(comparison.losses)})"])
        for tab, items, key in (
            (wins, comparison.wins, "eval-wins"),
            (losses, comparison.losses, "eval-losses"),
        ):
            with tab:
                if items:
                    frame = outcomes_frame(items, a, b)
                    config = {"A": SCORE, "B": SCORE, "B − A": st.column_config.NumberColumn(format="%+.3f")}
                    st.dataframe(frame, hide_index=True, width="stretch", key=key, column_config=config)
                else:
                    st.caption("None.")

    st.markdown("**Configuration differences** · the settings that changed between A and B")
    differences = config_diff(run_snapshot(a), run_snapshot(b))
    if differences:
        st.dataframe(config_diff_frame(differences), hide_index=True, width="stretch", key="eval-config-diff")
    else:
        st.caption("The configuration snapshots are identical.")


def _per_query(runs: Sequence[StoredRun]) -> None:
    by_id = {r.id: r for r in runs}
    run = by_id[
        st.selectbox("Run", list(by_id), format_func=lambda i: run_label(by_id[i]), key="eval-drill-run")
    ]
    if not run.per_query:
        st.caption("This run stored no per-query values.")
        return
    metrics = per_query_metrics(run)
    metric = (
        st.selectbox(
            "Sort by (worst first)",
            metrics,
            index=metrics.index(default_per_query_metric(run, metrics)),
            key="eval-drill-metric",
        )
        if metrics
        else None
    )
    frame = per_query_frame(run, metric)
    st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        key="eval-per-query",
        column_config={
            **{m: SCORE for m in metrics if m in RETRIEVAL_METRICS or m == "evidence"},
            "query": st.column_config.TextColumn("query", width="large"),
        },
    )
    st.caption(f"{plural(len(frame), 'query', 'queries')} · click a column header to sort differently")

    queries = dict(zip(frame["query id"], frame["query"], strict=True))
    scores = dict(zip(frame["query id"], frame[metric], strict=True)) if metric else {}

    def label(qid: str) -> str:
        score = scores.get(qid)
        value = (
            " · –"
            if score is None or pd.isna(score)
            else f" · {score:.3f}"
            if isinstance(score, float)
            else f" · {score}"
        )
        text = queries[qid]
        return f"{qid}{value} · {text[:90] + '…' if len(text) > 90 else text}"

    left, right = st.columns([4, 1], vertical_alignment="bottom")
    # One selector per run: choosing another run starts again from its worst query.
    qid = left.selectbox("Query", list(queries), format_func=label, key=f"eval-drill-query-{run.id}")
    if right.button(
        "Open in Inspector",
        icon=":material/manage_search:",
        disabled=not queries.get(qid),
        key="eval-open-inspector",
        help=f"Search this query in the Inspector on the collection {run.collection!r}.",
    ):
        state.request_collection(run.collection)
        st.switch_page(state.PAGE_INSPECTOR, query_params={INSPECTOR_QUERY_PARAM: queries[qid]})
    if run.kind == "retrieval":
        st.caption(f"In the Inspector, choose the mode **{run.mode}** to see what this run saw.")


with guard():
    all_runs = engine.runs()
    if not all_runs:
        _empty_state()
    else:
        left, right = st.columns(2)
        kinds = left.multiselect(
            "Kind", sorted({r.kind for r in all_runs}), key="eval-kinds", placeholder="All kinds"
        )
        datasets = right.multiselect(
            "Dataset", sorted({r.dataset for r in all_runs}), key="eval-datasets", placeholder="All datasets"
        )
        shown = filter_runs(all_runs, kinds, datasets)
        if not shown:
            st.info("No run matches these filters.", icon=":material/filter_alt_off:")
        else:
            st.caption(f"{plural(len(shown), 'run')} (newest first)")
            runs_tab, mode_tab, compare_tab, query_tab = st.tabs(
                ["Runs", "Metrics by mode", "Compare two runs", "Per query"]
            )
            with runs_tab:
                _runs_table(shown)
            with mode_tab:
                _by_mode(shown)
            with compare_tab:
                _compare(shown)
            with query_tab:
                _per_query(shown)
