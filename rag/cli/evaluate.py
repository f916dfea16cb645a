"""``rag eval``: retrieval (BEIR) and answer (ClapNQ-style) evaluation, stored runs, comparison."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

from rag.cli.common import EXIT_OK, fmt, open_engine, print_json, print_table, progress_bar


def _aggregates(result) -> dict:
    """A retrieval mode's aggregate metrics, without the per-query values."""
    return {k: v for k, v in asdict(result.metrics).items() if k != "per_query"}


def cmd_eval_retrieval(args: argparse.Namespace) -> int:
    """Evaluate retrieval on a BEIR dataset: ingest its corpus, run every mode, store one run per mode.

    Prints the collection and ingest counts, a note when rerank was skipped, a table of nDCG@10,
    recall@10/100, MRR@10, queries per second and p50/p95 latency per mode (with the stored run ids),
    and a table of latency per stage; with ``--json``, all of it as one JSON object. Progress bars go
    to stderr when it is a terminal.

    Returns:
        0; 2 (with ``error:`` on stderr) for a bad dataset layout or a corpus that fails to ingest.
    """
    from rag.evaluation.datasets import load_beir
    from rag.evaluation.retrieval_eval import evaluate_retrieval
    from rag.evaluation.runs import config_snapshot, store_run

    directory = Path(args.directory)
    with open_engine(args) as engine:
        with progress_bar("queries") as bar:
            name, results, counts = evaluate_retrieval(
                engine,
                directory,
                args.split,
                modes=args.modes.split(","),
                depth=args.depth,
                collection=args.collection,
                run_dir=Path(args.run_dir),
                ingest_progress=lambda it: progress_bar("ingest", unit="doc", iterable=it),
                on_query=lambda: bar.update(1),
            )
        queries = load_beir(directory, args.split).queries
        run_ids = {}
        for result in results:
            metrics = _aggregates(result)
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
    if args.json:
        print_json(
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
                        **_aggregates(r),
                        "latency_ms": {s: asdict(v) for s, v in r.latency.items()},
                    }
                    for r in results
                ],
            }
        )
        return EXIT_OK
    print(f"collection {name}: ingest {counts}")
    if not reranker.available:
        print(f"rerank skipped: {reranker.reason}")
    print_table(
        ["run", "mode", "nDCG@10", "R@10", "R@100", "MRR@10", "q/s", "p50 ms", "p95 ms"],
        [
            [
                str(run_ids[r.mode]),
                r.mode,
                fmt(r.metrics.ndcg_at_10),
                fmt(r.metrics.recall_at_10),
                fmt(r.metrics.recall_at_100),
                fmt(r.metrics.mrr_at_10),
                f"{r.queries_per_s:.1f}",
                f"{r.latency['total'].p50_ms:.1f}",
                f"{r.latency['total'].p95_ms:.1f}",
            ]
            for r in results
        ],
        title=f"{directory.name} ({args.split})",
    )
    stages = sorted({s for r in results for s in r.latency if s != "total"})
    print_table(
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
        title="latency per stage, p50 / p95 ms",
    )
    return EXIT_OK


def cmd_eval_answers(args: argparse.Namespace) -> int:
    """Evaluate answers on a QA set: ask every question (or a seeded sample) and store one run.

    Ingests ``corpus.jsonl`` first and, with ``--calibrate``, fits and stores the abstention threshold.
    Prints the run id, collection and ingest counts, the calibrated threshold if any, and a table of
    citation validity, gold citations, abstention precision/recall, answer F1, ROUGE-L, latency and
    tokens; with ``--json``, run id, collection, ingest counts and metrics as one JSON object.

    Returns:
        0; 2 (with ``error:`` on stderr) for a bad dataset, a corpus that fails to ingest, or an LLM
        failure.
    """
    from rag.evaluation.answers import question_scores, score_answers
    from rag.evaluation.answers_eval import run_answers
    from rag.evaluation.corpus import CORPUS_FILE, ingest_corpus
    from rag.evaluation.datasets import load_qa
    from rag.evaluation.runs import config_snapshot, store_run

    directory = Path(args.directory)
    name = args.collection or f"qa-{directory.resolve().name}"
    with open_engine(args) as engine:
        counts = ingest_corpus(engine, directory / CORPUS_FILE, name, own_collection=not args.collection)
        with progress_bar("questions", total=args.limit) as bar:
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
        run_id = store_run(
            engine,
            kind="answers",
            dataset=directory.resolve().name,
            split="all",
            mode=engine.settings.llm_model,
            collection=name,
            config=config_snapshot(engine, limit=args.limit),
            metrics=metrics,
            per_query={
                r.question_id: {**question_scores(r), "query": questions[r.question_id]} for r in run.records
            },
        )
    if args.json:
        print_json({"run": run_id, "collection": name, "ingest": counts, "metrics": metrics})
        return EXIT_OK
    print(f"run {run_id}: collection {name}: ingest {counts}")
    if run.calibration is not None:
        c = run.calibration
        print(
            f"calibrated abstention threshold {c.threshold:.4f} (balanced accuracy {c.balanced_accuracy:.3f} on {c.n} questions), stored for {name}"
        )
    print_table(
        ["metric", "value"],
        [[k, fmt(v)] for k, v in metrics.items() if not isinstance(v, dict)],
        title=f"{directory.name}: {len(run.records)} questions, {engine.settings.llm_model}",
    )
    return EXIT_OK


def cmd_eval_runs(args: argparse.Namespace) -> int:
    """List the stored evaluation runs, newest first.

    Prints a table: id, time, kind, dataset, split, mode and two key metrics per kind (nDCG@10 and
    recall@100 for retrieval; balanced abstention accuracy and citation validity for answers).

    Returns:
        0.
    """
    from rag.evaluation.runs import list_runs

    with open_engine(args) as engine:
        runs = list_runs(engine, args.limit)
    key = {
        "retrieval": ["ndcg_at_10", "recall_at_100"],
        "answers": ["abstention_balanced_accuracy", "citation_validity"],
    }
    print_table(
        ["id", "when", "kind", "dataset", "split", "mode", "metrics"],
        [
            [
                str(r.id),
                r.created_at.strftime("%Y-%m-%d %H:%M"),
                r.kind,
                r.dataset,
                r.split,
                r.mode,
                ", ".join(f"{m} {fmt(r.metrics.get(m))}" for m in key[r.kind]),
            ]
            for r in runs
        ],
        title="evaluation runs",
    )
    return EXIT_OK


def cmd_eval_compare(args: argparse.Namespace) -> int:
    """Compare stored run B against run A.

    Prints a table of each metric in A and B with the difference B - A, the per-query wins, losses
    and ties of B, and the five biggest wins and losses; with ``--json``, the comparison as JSON.

    Returns:
        0; 2 (with ``error:`` on stderr) when a run does not exist.
    """
    from rag.evaluation.runs import compare_runs, get_run

    with open_engine(args) as engine:
        comparison = compare_runs(get_run(engine, args.run_a), get_run(engine, args.run_b), args.metric)
    if args.json:
        print_json(asdict(comparison))
        return EXIT_OK
    print_table(
        ["metric", f"A ({args.run_a})", f"B ({args.run_b})", "B - A"],
        [
            [d.metric, fmt(d.a), fmt(d.b), "-" if d.delta is None else f"{d.delta:+.4f}"]
            for d in comparison.deltas
        ],
        title=f"run {args.run_b} vs run {args.run_a}",
    )
    print(
        f"per query ({comparison.per_query_metric}): B wins {len(comparison.wins)}, loses {len(comparison.losses)}, ties {comparison.ties}"
    )
    for label, items in (("biggest wins", comparison.wins[:5]), ("biggest losses", comparison.losses[:5])):
        if items:
            print(f"  {label}: " + ", ".join(f"{q} {a:.3f}->{b:.3f}" for q, a, b in items))
    return EXIT_OK


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``eval`` with its subcommands ``retrieval``, ``answers``, ``runs`` and ``compare``."""
    p = subparsers.add_parser(
        "eval", help="evaluate retrieval (BEIR) or answers (QA set); compare stored runs"
    )
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
    a.add_argument(
        "--max-tokens",
        type=int,
        default=None,
        help="longest answer in tokens (default RAG_MAX_ANSWER_TOKENS, 300)",
    )
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
