"""The Evaluation page (AppTest against stored runs in the session database) and its helpers.

Runs are created with ``rag.evaluation.runs.store_run``, as ``rag eval`` does. ``eval_runs`` is one
table for the whole test database, so the page tests start from an empty table.
"""

from __future__ import annotations

import importlib
import re
from datetime import UTC, datetime, timedelta

import pytest
from test_app import app_engine, page, served_engine, texts, ui  # noqa: F401 - pytest fixtures and helpers

from rag.evaluation.runs import StoredRun, compare_runs, store_run

QUERIES = {
    "q1": "what do volcanic eruptions release",
    "q2": "why do coral reefs bleach",
    "q3": "how do glaciers form from snow",
}


def _latency(total_ms: float) -> dict:
    return {
        "total": {"p50_ms": total_ms, "p95_ms": total_ms * 2, "mean_ms": total_ms * 1.1, "n": 3},
        "lexical": {"p50_ms": 1.5, "p95_ms": 3.0, "mean_ms": 1.8, "n": 3},
        "query_embedding": {"p50_ms": 4.0, "p95_ms": 6.0, "mean_ms": 4.5, "n": 3},
    }


def _config(rrf_k: float) -> dict:
    return {
        "settings": {"rrf_k": rrf_k, "chunk_size": 256, "k": 8},
        "embedding_model": "all-MiniLM-L6-v2",
        "reranker": {"name": "", "available": False},
        "code_version": "0.1.0+abc1234",
        "depth": 100,
    }


def _per_query(ndcg: dict[str, float]) -> dict:
    return {
        q: {"ndcg_at_10": v, "recall_at_10": v, "recall_at_100": 1.0, "mrr_at_10": v, "query": QUERIES[q]}
        for q, v in ndcg.items()
    }


@pytest.fixture
def ev(ui):  # noqa: F811
    """The ``ui.evaluation`` helpers (importable once ``ui`` is on the path)."""
    return importlib.import_module("ui.evaluation")


def tab(at, label: str):
    """The one tab of the page whose label starts with ``label``."""
    (found,) = [t for t in at.tabs if t.label.startswith(label)]
    return found


def cell_colours(dataframe) -> dict[tuple[int, int], str]:
    """(row, column) -> CSS colour of a Styler-backed ``st.dataframe`` (from its ``styles`` CSS)."""
    colours = {}
    for selectors, colour in re.findall(
        r"([^{}]+)\{ color: (#[0-9a-f]+) \}", dataframe.proto.arrow_data.styler.styles
    ):
        for row, col in re.findall(r"_row(\d+)_col(\d+)", selectors):
            colours[(int(row), int(col))] = colour
    return colours


@pytest.fixture
def no_runs(app_engine):  # noqa: F811
    """``app_engine`` with the session database's ``eval_runs`` table emptied."""
    with app_engine.db.connection() as conn:
        conn.execute("DELETE FROM eval_runs")
    return app_engine


@pytest.fixture
def two_runs(no_runs):
    """A lexical run (A) then a hybrid run (B) on tiny/test; B wins q2, loses q1, ties q3."""
    eval_collection = f"{no_runs.settings.collection}-eval"
    common = {"kind": "retrieval", "dataset": "tiny", "split": "test", "collection": eval_collection}
    a = store_run(
        no_runs,
        mode="lexical",
        config=_config(60.0),
        metrics={
            "ndcg_at_10": 0.5,
            "recall_at_10": 0.5,
            "recall_at_100": 1.0,
            "mrr_at_10": 0.5,
            "queries_per_s": 40.0,
            "latency_ms": _latency(20.0),
        },
        per_query=_per_query({"q1": 1.0, "q2": 0.0, "q3": 0.5}),
        **common,
    )
    b = store_run(
        no_runs,
        mode="hybrid",
        config=_config(20.0),
        metrics={
            "ndcg_at_10": 0.6,
            "recall_at_10": 0.75,
            "recall_at_100": 1.0,
            "mrr_at_10": 0.55,
            "queries_per_s": 30.0,
            "latency_ms": _latency(30.0),
        },
        per_query=_per_query({"q1": 0.5, "q2": 1.0, "q3": 0.5}),
        **common,
    )
    return no_runs, a, b, eval_collection


# -- the page -------------------------------------------------------------------------------------


def test_without_runs_the_page_says_how_to_make_them(no_runs):
    at = page("pages/evaluation.py")
    assert at.title[0].value == "Evaluation"
    assert at.main.children[0].type == "title"  # nothing (e.g. a stray string, via st magic) above it
    assert not at.error
    assert "No evaluation runs yet" in at.info[0].value
    commands = [c.value for c in at.code]
    assert "rag eval retrieval DIR --split test" in commands
    assert "rag eval answers DIR --limit 100" in commands
    assert "docs/evaluation.md" in texts(at.caption)
    assert not at.dataframe
    assert "PostgreSQL" in texts(at.sidebar.caption)  # the page did not stop the app shell


def test_runs_table_chart_latency_and_comparison(two_runs):
    _, a, b, collection = two_runs
    at = page("pages/evaluation.py")
    assert not at.error and not at.exception

    table = tab(at, "Runs").dataframe[0].value
    assert list(table["id"]) == [b, a]  # newest first
    assert list(table["mode"]) == ["hybrid", "lexical"]
    assert list(table["nDCG@10"]) == pytest.approx([0.6, 0.5])
    assert list(table["collection"]) == [collection, collection]
    assert set(table["code version"]) == {"0.1.0+abc1234"}
    assert table["F1"].isna().all()  # answer metrics are empty for retrieval runs

    by_mode = tab(at, "Metrics by mode")
    (chart,) = by_mode.get("vega_lite_chart")
    assert '"xOffset"' in chart.proto.spec  # grouped bars: one bar per mode within each metric
    assert f"Latest run of each mode: lexical #{a} · hybrid #{b}" in texts(by_mode.caption)
    latency = by_mode.dataframe[0].value
    assert list(latency["stage"]) == ["query_embedding", "lexical", "total"]  # pipeline order, total last

    # Comparison: A = the older run on the same set, B = the newest.
    assert at.selectbox(key="eval-compare-a").value == a
    assert at.selectbox(key="eval-compare-b").value == b
    compare = tab(at, "Compare two runs")
    deltas = compare.dataframe[0]
    frame = deltas.value
    assert list(frame["metric"]) == [
        "mrr_at_10",
        "ndcg_at_10",
        "queries_per_s",
        "recall_at_10",
        "recall_at_100",
    ]
    assert list(frame["B − A"]) == pytest.approx([0.05, 0.1, -10.0, 0.25, 0.0])  # nested latency_ms left out
    # Column 3 is B − A: improvements green, queries/s (higher is better) red, no change plain.
    assert cell_colours(deltas) == {
        (0, 3): "#1a7f37",
        (1, 3): "#1a7f37",
        (2, 3): "#cf222e",
        (3, 3): "#1a7f37",
    }

    assert {m.label: m.value for m in at.metric} == {"B wins": "1", "B loses": "1", "Ties": "1"}
    wins = tab(at, "Wins (1)").dataframe[0].value
    losses = tab(at, "Losses (1)").dataframe[0].value
    assert list(wins["query id"]) == ["q2"] and list(wins["query"]) == [QUERIES["q2"]]
    assert list(losses["query id"]) == ["q1"] and losses["B − A"].iloc[0] == pytest.approx(-0.5)

    config = compare.dataframe[-1].value
    assert config.to_dict("records") == [
        {"setting": "run.mode", "run A": "lexical", "run B": "hybrid"},
        {"setting": "settings.rrf_k", "run A": "60.0", "run B": "20.0"},
    ]


def test_comparison_follows_the_selected_runs_and_metric(two_runs):
    _, a, b, _ = two_runs
    at = page("pages/evaluation.py")
    at.selectbox(key="eval-compare-a").set_value(b)
    at.selectbox(key="eval-compare-b").set_value(a).run()
    assert not at.exception, at.exception
    frame = tab(at, "Compare two runs").dataframe[0].value.set_index("metric")
    assert frame.loc["ndcg_at_10", "B − A"] == pytest.approx(-0.1)

    at.selectbox(key="eval-compare-metric").set_value("recall_at_100").run()
    assert {m.label: m.value for m in at.metric} == {"B wins": "0", "B loses": "0", "Ties": "3"}

    at.selectbox(key="eval-compare-b").set_value(b).run()
    assert "Pick two different runs" in at.info[0].value


def test_filters_narrow_the_table_and_answer_runs_show_their_metrics(two_runs):
    engine, a, b, collection = two_runs
    answers = store_run(
        engine,
        kind="answers",
        dataset="clapnq-mini",
        split="all",
        mode="openai/gpt-4o-mini",
        collection=collection,
        config=_config(60.0),
        metrics={"abstention_balanced_accuracy": 0.8, "citation_validity": 0.95, "answer_f1": 0.4, "n": 2},
        per_query={
            "x1": {
                "answerable": True,
                "gold_cited": True,
                "dangling_markers": 0,
                "query": "a",
                "answer": "A.",
            },
            "x2": {
                "answerable": True,
                "gold_cited": False,
                "dangling_markers": 2,
                "query": "b",
                "answer": "B.",
            },
        },
    )
    at = page("pages/evaluation.py")
    assert list(tab(at, "Runs").dataframe[0].value["id"]) == [answers, b, a]

    at.multiselect(key="eval-kinds").set_value(["answers"]).run()
    assert not at.exception, at.exception
    table = tab(at, "Runs").dataframe[0].value
    assert list(table["id"]) == [answers]
    assert table.loc[0, "balanced accuracy"] == pytest.approx(0.8) and table.loc[0, "F1"] == pytest.approx(
        0.4
    )
    assert "No retrieval run" in texts(at.caption)

    # Per-query view of an answer run: fewer dangling markers is better, so x2 comes first.
    at.selectbox(key="eval-drill-metric").set_value("dangling_markers").run()
    per_query = tab(at, "Per query").dataframe[0].value
    assert list(per_query["query id"]) == ["x2", "x1"]
    assert "answer" in per_query.columns

    at.multiselect(key="eval-kinds").set_value(["answers"])
    at.multiselect(key="eval-datasets").set_value(["tiny"]).run()
    assert "No run matches these filters" in at.info[0].value


def test_per_query_drill_down_opens_the_inspector_on_the_query_and_collection(two_runs):
    _, a, _, collection = two_runs
    at = page("pages/evaluation.py")
    at.selectbox(key="eval-drill-run").set_value(a).run()
    per_query = tab(at, "Per query").dataframe[0].value
    assert list(per_query["query id"]) == ["q2", "q3", "q1"]  # worst nDCG@10 first
    assert list(per_query["ndcg_at_10"]) == [0.0, 0.5, 1.0]
    assert at.selectbox(key=f"eval-drill-query-{a}").value == "q2"
    assert "choose the mode **lexical**" in texts(at.caption)

    at.button(key="eval-open-inspector").click().run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Inspector"
    assert at.text_input(key="inspector-query").value == QUERIES["q2"]
    assert at.sidebar.selectbox(key="collection").value == collection
    assert "q" not in at.query_params  # consumed: a later edit of the query is not overwritten


# -- helpers --------------------------------------------------------------------------------------


def _run(run_id: int, mode: str = "hybrid", **fields) -> StoredRun:
    values = {
        "kind": "retrieval",
        "dataset": "tiny",
        "split": "test",
        "mode": mode,
        "collection": "c",
        "config": {},
        "metrics": {},
        "per_query": {},
        "created_at": datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=run_id),
        **fields,
    }
    return StoredRun(id=run_id, **values)


def test_flatten_config_uses_dotted_keys_and_keeps_leaves(ev):

    config = {
        "settings": {"rrf_k": 60, "weights": [1, 2], "extra": {}},
        "reranker": {"name": "x"},
        "depth": 100,
    }
    assert ev.flatten_config(config) == {
        "settings.rrf_k": 60,
        "settings.weights": [1, 2],
        "settings.extra": {},
        "reranker.name": "x",
        "depth": 100,
    }


def test_config_diff_shows_only_changed_keys(ev):

    a = {"settings": {"rrf_k": 60, "k": 8, "rerank": True, "models": ["m"]}, "depth": 100, "old": 1}
    b = {"settings": {"rrf_k": 60.0, "k": 10, "rerank": 1, "models": ["m"]}, "depth": 100, "new": None}
    differences = ev.config_diff(a, b)
    assert [(d.key, d.a, d.b) for d in differences] == [
        ("new", ev.MISSING, None),
        ("old", 1, ev.MISSING),
        ("settings.k", 8, 10),
        ("settings.rerank", True, 1),  # a flag is not a count
    ]
    assert ev.config_diff(a, a) == []
    frame = ev.config_diff_frame(differences)
    assert frame.to_dict("records")[:2] == [
        {"setting": "new", "run A": "(not set)", "run B": "null"},
        {"setting": "old", "run A": "1", "run B": "(not set)"},
    ]


def test_run_snapshot_puts_the_mode_into_the_diff(ev):

    a, b = _run(1, "lexical", config={"k": 1}), _run(2, "vector", config={"k": 1})
    assert [(d.key, d.a, d.b) for d in ev.config_diff(ev.run_snapshot(a), ev.run_snapshot(b))] == [
        ("run.mode", "lexical", "vector")
    ]


def test_latest_per_mode_and_mode_metrics(ev):

    runs = [
        _run(1, "hybrid", metrics={"ndcg_at_10": 0.1}),
        _run(2, "lexical", metrics={"ndcg_at_10": 0.2, "mrr_at_10": 0.3}),
        _run(3, "hybrid", metrics={"ndcg_at_10": 0.4}),
        _run(4, "hybrid", split="dev"),
        _run(5, "hybrid", kind="answers"),
    ]
    assert ev.evaluation_sets(runs) == [("tiny", "dev"), ("tiny", "test")]
    latest = ev.latest_per_mode(runs, "tiny", "test")
    assert [(r.mode, r.id) for r in latest] == [("lexical", 2), ("hybrid", 3)]
    frame = ev.mode_metrics_frame(latest)
    assert frame.to_dict("records") == [
        {"mode": "lexical", "metric": "nDCG@10", "value": 0.2, "run": 2},
        {"mode": "lexical", "metric": "MRR@10", "value": 0.3, "run": 2},
        {"mode": "hybrid", "metric": "nDCG@10", "value": 0.4, "run": 3},
    ]


def test_default_pair_prefers_a_baseline_on_the_same_set(ev):

    runs = [_run(3, split="dev"), _run(2, "lexical"), _run(4), _run(1, "vector")]
    assert ev.default_pair(runs) == (2, 4)
    assert ev.default_pair([_run(7)]) == (7, 7)
    assert ev.default_pair([_run(2, kind="answers"), _run(1)]) == (1, 2)
    with pytest.raises(ValueError):
        ev.default_pair([])


def test_delta_colours_follow_the_metric_direction(ev):

    assert ev.delta_style("ndcg_at_10", 0.1) == ev.GREEN
    assert ev.delta_style("ndcg_at_10", -0.1) == ev.RED
    assert ev.delta_style("uncited_answers", 2) == ev.RED
    assert ev.delta_style("latency_p95_ms", -5.0) == ev.GREEN
    assert ev.delta_style("threshold", 0.1) == ""  # neutral
    assert ev.delta_style("ndcg_at_10", 0.0) == "" and ev.delta_style("ndcg_at_10", None) == ""


def test_per_query_frame_sorts_worst_first_and_keeps_missing_values_last(ev):

    run = _run(
        1,
        per_query={
            "b": {"ndcg_at_10": 0.5, "latency": 3.0, "query": "second"},
            "a": {"ndcg_at_10": 0.5, "latency": 9.0, "query": "first"},
            "c": {"ndcg_at_10": 0.0, "query": "third"},
            "d": {"latency": 1.0, "query": "fourth"},
        },
    )
    assert ev.per_query_metrics(run) == ["ndcg_at_10", "latency"]
    frame = ev.per_query_frame(run, "ndcg_at_10")
    assert list(frame["query id"]) == ["c", "a", "b", "d"]  # ties by query id, missing last
    assert list(frame.columns) == ["query id", "query", "ndcg_at_10", "latency"]


def test_runs_frame_and_outcomes(ev):

    a = _run(1, "lexical", metrics={"ndcg_at_10": 0.5}, per_query=_per_query({"q1": 1.0, "q2": 0.0}))
    b = _run(2, "hybrid", metrics={"ndcg_at_10": 0.7}, per_query=_per_query({"q1": 0.5, "q2": 1.0}))
    frame = ev.runs_frame([b, a])
    assert list(frame["nDCG@10"]) == [0.7, 0.5] and frame["MRR@10"].isna().all()
    assert list(frame["code version"]) == ["", ""]
    assert ev.run_label(a) == "#1 · retrieval · tiny/test · lexical · 2026-01-01 00:01"
    comparison = compare_runs(a, b)
    wins = ev.outcomes_frame(comparison.wins, a, b)
    assert wins.to_dict("records") == [
        {"query id": "q2", "query": QUERIES["q2"], "A": 0.0, "B": 1.0, "B − A": 1.0}
    ]
    assert ev.latency_frame(a).empty
