"""``rag eval``: retrieval (BEIR) and answer (ClapNQ-style) evaluation, stored runs, comparison."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path


def _table(title: str, header: list[str], rows: list[list[str]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(*header, title=title)
    for row in rows:
        table.add_row(*row)
    Console().print(table)


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


def cmd_eval_retrieval(args: argparse.Namespace) -> int:
    """Ingest a BEIR dataset, run every mode, print/store nDCG@10, recall@10/100, MRR@10, latency."""
    from tqdm import tqdm

    from rag.cli import _engine
    from rag.evaluation.datasets import load_beir
    from rag.evaluation.retrieval_eval import evaluate_retrieval
    from rag.evaluation.runs import config_snapshot, store_run

    engine = _engine(args)
    directory = Path(args.directory)
    try:
        bar = tqdm(desc="queries", file=sys.stderr, disable=not sys.stderr.isatty())
        name, results, counts = evaluate_retrieval(
            engine,
            directory,
            args.split,
            modes=args.modes.split(","),
            depth=args.depth,
            collection=args.collection,
            run_dir=Path(args.run_dir),
            ingest_progress=lambda it: tqdm(
                it, desc="ingest", unit="doc", file=sys.stderr, disable=not sys.stderr.isatty()
            ),
            on_query=lambda: bar.update(1),
        )
        bar.close()
        queries = load_beir(directory, args.split).queries
        run_ids = {}
        for result in results:
            metrics = {k: v for k, v in asdict(result.metrics).items() if k != "per_query"}
            metrics["queries_per_s"] = result.queries_per_s
            metrics["latency_ms"] = {s: asdict(v) for s, v in result.latency.items()}
            run_ids[result.mode] = store_run(
                engine,
                kind="retrieval",
                dataset=directory.resolve().name,
                split=args.split,
                mode=result.mode,
                collection=name,
                config=config_snapshot(engine, depth=args.depth, run_file=str(result.run_path)),
                metrics=metrics,
                per_query={
                    q: {**values, "query": queries.get(q, "")}
                    for q, values in result.metrics.per_query.items()
                },
            )
        _, reranker = engine.reranker()
    finally:
        engine.close()
    if args.json:
        print(
            json.dumps(
                {
                    "collection": name,
                    "ingest": counts,
                    "runs": run_ids,
                    "reranker": asdict(reranker),
                    "results": [
                        {
                            "mode": r.mode,
                            "run_file": str(r.run_path),
                            "queries_per_s": r.queries_per_s,
                            **{k: v for k, v in asdict(r.metrics).items() if k != "per_query"},
                            "latency_ms": {s: asdict(v) for s, v in r.latency.items()},
                        }
                        for r in results
                    ],
                },
                default=str,
            )
        )
        return 0
    print(f"collection {name}: ingest {counts}")
    if not reranker.available:
        print(f"rerank skipped: {reranker.reason}")
    _table(
        f"{directory.name} ({args.split})",
        ["run", "mode", "nDCG@10", "R@10", "R@100", "MRR@10", "q/s", "p50 ms", "p95 ms"],
        [
            [
                str(run_ids[r.mode]),
                r.mode,
                _fmt(r.metrics.ndcg_at_10),
                _fmt(r.metrics.recall_at_10),
                _fmt(r.metrics.recall_at_100),
                _fmt(r.metrics.mrr_at_10),
                f"{r.queries_per_s:.1f}",
                f"{r.latency['total'].p50_ms:.1f}",
                f"{r.latency['total'].p95_ms:.1f}",
            ]
            for r in results
        ],
    )
    stages = sorted({s for r in results for s in r.latency if s != "total"})
    _table(
        "latency per stage, p50 / p95 ms",
        ["mode", *stages],
        [
            [
                r.mode,
                *[
                    f"{r.latency[s].p50_ms:.1f} / {r.latency[s].p95_ms:.1f}" if s in r.latency else "-"
                    for s in stages
                ],
            ]
            for r in results
        ],
    )
    return 0


def cmd_eval_answers(args: argparse.Namespace) -> int:
    """Ask every question of a QA set and score citations, abstention and answer overlap."""
    from tqdm import tqdm

    from rag.cli import _engine
    from rag.evaluation.answers import score_answers, strip_markers, token_f1
    from rag.evaluation.answers_eval import ingest_corpus, run_answers
    from rag.evaluation.datasets import load_qa
    from rag.evaluation.runs import config_snapshot, store_run

    engine = _engine(args)
    directory = Path(args.directory)
    name = args.collection or f"qa-{directory.resolve().name}"
    try:
        counts = ingest_corpus(engine, directory, name)
        total = args.limit
        with tqdm(total=total, desc="questions", file=sys.stderr, disable=not sys.stderr.isatty()) as bar:
            run = run_answers(
                engine,
                directory,
                collection=name,
                limit=args.limit,
                do_calibrate=args.calibrate,
                on_item=lambda: bar.update(1),
                max_tokens=args.max_tokens,
            )
        metrics = asdict(score_answers(run.records))
        questions = {item.id: item.question for item in load_qa(directory)}
        metrics["threshold"] = run.threshold
        if run.calibration is not None:
            metrics["calibration"] = asdict(run.calibration)
        per_query = {
            r.question_id: {
                "answerable": r.answerable,
                "abstained": r.abstained,
                "evidence": r.evidence,
                "valid_citations": r.valid_citations,
                "dangling_markers": r.dangling_markers,
                "gold_cited": bool(r.gold_external_id) and r.gold_external_id in r.cited_external_ids,
                "answer": r.answer_text[:500],
                "answer_f1": max(
                    (token_f1(strip_markers(r.answer_text), ref) for ref in r.references), default=None
                )
                if r.answerable and not r.abstained
                else None,
                "query": questions[r.question_id],
            }
            for r in run.records
        }
        run_id = store_run(
            engine,
            kind="answers",
            dataset=directory.resolve().name,
            split="all",
            mode=engine.settings.llm_model,
            collection=name,
            config=config_snapshot(engine, limit=args.limit),
            metrics=metrics,
            per_query=per_query,
        )
    finally:
        engine.close()
    if args.json:
        print(
            json.dumps({"run": run_id, "collection": name, "ingest": counts, "metrics": metrics}, default=str)
        )
        return 0
    print(f"run {run_id}: collection {name}: ingest {counts}")
    if run.calibration is not None:
        c = run.calibration
        print(
            f"calibrated abstention threshold {c.threshold:.4f} (balanced accuracy {c.balanced_accuracy:.3f} on {c.n} questions), stored for {name}"
        )
    _table(
        f"{directory.name}: {len(run.records)} questions, {engine.settings.llm_model}",
        ["metric", "value"],
        [[k, _fmt(v)] for k, v in metrics.items() if not isinstance(v, dict)],
    )
    return 0


def cmd_eval_runs(args: argparse.Namespace) -> int:
    """List stored evaluation runs."""
    from rag.cli import _engine
    from rag.evaluation.runs import list_runs

    engine = _engine(args)
    try:
        runs = list_runs(engine, args.limit)
    finally:
        engine.close()
    key = {
        "retrieval": ["ndcg_at_10", "recall_at_100"],
        "answers": ["abstention_balanced_accuracy", "citation_validity"],
    }
    _table(
        "evaluation runs",
        ["id", "when", "kind", "dataset", "split", "mode", "metrics"],
        [
            [
                str(r.id),
                r.created_at.strftime("%Y-%m-%d %H:%M"),
                r.kind,
                r.dataset,
                r.split,
                r.mode,
                ", ".join(f"{m} {_fmt(r.metrics.get(m))}" for m in key[r.kind]),
            ]
            for r in runs
        ],
    )
    return 0


def cmd_eval_compare(args: argparse.Namespace) -> int:
    """Per-metric deltas and per-query wins/losses of run B against run A."""
    from rag.cli import _engine
    from rag.evaluation.runs import compare_runs, get_run

    engine = _engine(args)
    try:
        comparison = compare_runs(get_run(engine, args.run_a), get_run(engine, args.run_b), args.metric)
    finally:
        engine.close()
    if args.json:
        print(json.dumps(asdict(comparison), default=str))
        return 0
    _table(
        f"run {args.run_b} vs run {args.run_a}",
        ["metric", f"A ({args.run_a})", f"B ({args.run_b})", "B - A"],
        [
            [d.metric, _fmt(d.a), _fmt(d.b), "-" if d.delta is None else f"{d.delta:+.4f}"]
            for d in comparison.deltas
        ],
    )
    print(
        f"per query ({comparison.per_query_metric}): B wins {len(comparison.wins)}, loses {len(comparison.losses)}, ties {comparison.ties}"
    )
    for label, items in (("biggest wins", comparison.wins[:5]), ("biggest losses", comparison.losses[:5])):
        if items:
            print(f"  {label}: " + ", ".join(f"{q} {a:.3f}->{b:.3f}" for q, a, b in items))
    return 0


def add_commands(sub) -> None:
    """Register ``eval`` with its subcommands."""
    p = sub.add_parser("eval", help="evaluate retrieval (BEIR) or answers (QA set); compare stored runs")
    esub = p.add_subparsers(dest="eval_command", required=True)

    r = esub.add_parser(
        "retrieval", help="nDCG@10, recall@10/100, MRR@10 and latency per mode on a BEIR dataset"
    )
    r.add_argument("directory", help="folder with corpus.jsonl, queries.jsonl, qrels/<split>.tsv")
    r.add_argument("--split", default="test")
    r.add_argument("--modes", default="lexical,vector,hybrid,rerank", help="comma-separated modes")
    r.add_argument("--depth", type=int, default=100, help="documents per query in the runs")
    r.add_argument("--collection", help="collection for the corpus (default beir-<folder name>)")
    r.add_argument("--run-dir", default="runs", help="where TREC run files are written")
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=cmd_eval_retrieval)

    a = esub.add_parser(
        "answers", help="citation validity, gold citations, abstention and overlap on a QA set"
    )
    a.add_argument("directory", help="folder with qa.jsonl and corpus.jsonl (ClapNQ layout)")
    a.add_argument("--limit", type=int, help="a fixed random sample of N questions (seed 0)")
    a.add_argument("--calibrate", action="store_true", help="fit and store the abstention threshold first")
    a.add_argument("--collection", help="collection for the corpus (default qa-<folder name>)")
    a.add_argument("--max-tokens", type=int, default=256)
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_eval_answers)

    s = esub.add_parser("runs", help="list stored runs")
    s.add_argument("--limit", type=int, default=50)
    s.set_defaults(func=cmd_eval_runs)

    c = esub.add_parser("compare", help="compare two stored runs: metric deltas, per-query wins/losses")
    c.add_argument("run_a", type=int)
    c.add_argument("run_b", type=int)
    c.add_argument("--metric", help="per-query metric (default nDCG@10 / answer F1)")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_eval_compare)
