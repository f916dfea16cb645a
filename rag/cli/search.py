"""``rag search``: one query, or a BEIR queries file to a TREC run (batch mode)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from rag.cli.common import EXIT_OK, MODES, open_engine, print_json, progress_bar, reranker_note, usage_error


def cmd_search(args: argparse.Namespace) -> int:
    """Retrieve passages for one query, or run a BEIR queries file and write a TREC run.

    With a query, prints each passage (rank, title, source, pages and headings), its scores per stage
    and the start of its text, then the stage timings on stderr; with ``--json``, the full retrieval
    trace instead. With ``--queries FILE --run FILE``, see :func:`search_batch`.

    Returns:
        0; 2 (with ``error:`` on stderr) without a query or queries file, or when the search fails.
    """
    with open_engine(args) as engine:
        params = engine.default_params(mode=args.mode)
        if args.k:
            params = replace(params, k=args.k)
        if args.queries:
            return search_batch(engine, params, args)
        if not args.query:
            return usage_error("give a query, or --queries FILE --run FILE")
        trace = engine.search(args.query, params, args.collection)
    if args.json:
        print_json(trace.to_dict())
        return EXIT_OK
    if trace.requested_mode == "rerank" and not trace.reranked:
        print(reranker_note(trace.reranker.reason), file=sys.stderr)
    for hit in trace.hits:
        where = ", ".join(x for x in (hit.pages_label, " > ".join(hit.heading_path)) if x)
        print(f"[{hit.final_rank}] {hit.title} ({hit.source_name}{', ' + where if where else ''})")
        scores = []
        if hit.bm25_score is not None:
            scores.append(f"bm25 {hit.bm25_score:.2f} (#{hit.lexical_rank})")
        if hit.cosine_distance is not None:
            scores.append(
                f"cos {1 - hit.cosine_distance:.3f}" + (f" (#{hit.vector_rank})" if hit.vector_rank else "")
            )
        if hit.rrf_score is not None:
            scores.append(f"rrf {hit.rrf_score:.4f}")
        if hit.rerank_score is not None:
            scores.append(f"rerank {hit.rerank_score:.2f}")
        print("    " + "  ".join(scores))
        print("    " + hit.text[:300].replace("\n", " ") + ("..." if len(hit.text) > 300 else ""))
    print("timings ms: " + ", ".join(f"{k} {v:.1f}" for k, v in trace.timings_ms.items()), file=sys.stderr)
    return EXIT_OK


def search_batch(engine, params, args: argparse.Namespace) -> int:
    """Run every query of a BEIR ``queries.jsonl`` and write a TREC run (``--queries``, ``--run``).

    Each query contributes up to ``--depth`` documents, each scored by its best chunk. Prints one JSON
    line: the run file, the number of queries, the effective mode, queries per second and p50/p95
    latency per stage. A progress bar goes to stderr when it is a terminal.

    Returns:
        0; 2 (with ``error:`` on stderr) without ``--run`` or when the queries file is missing or
        malformed.
    """
    from rag.evaluation.datasets import load_queries, write_trec_run
    from rag.evaluation.metrics import latency_summary
    from rag.evaluation.retrieval_eval import run_queries

    if not args.run:
        return usage_error("--queries needs --run FILE for the TREC output")
    queries = load_queries(Path(args.queries))
    with progress_bar(f"search {params.mode}", total=len(queries)) as bar:
        run, timings, wall, mode = run_queries(
            engine, queries, params, args.depth, args.collection or engine.settings.collection, bar.update
        )
    write_trec_run(run, Path(args.run), tag=f"rag-{mode}")
    latency = {stage: latency_summary(v) for stage, v in timings.items()}
    print_json(
        {
            "run": args.run,
            "queries": len(queries),
            "mode": mode,
            "queries_per_s": round(len(queries) / wall, 1) if wall else None,
            "latency_ms": {s: {"p50": _round(v.p50_ms), "p95": _round(v.p95_ms)} for s, v in latency.items()},
        }
    )
    return EXIT_OK


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``search`` to the ``rag`` parser's subcommands."""
    p = subparsers.add_parser(
        "search", help="retrieve passages for a query, or write a TREC run for a queries file"
    )
    p.add_argument("query", nargs="?", help="the query text")
    p.add_argument("--k", type=int, help="passages to return (default RAG_TOP_K)")
    p.add_argument("--mode", choices=MODES, default="hybrid", help="retrieval mode (default hybrid)")
    p.add_argument("--collection")
    p.add_argument("--json", action="store_true", help="print the full retrieval trace as JSON")
    p.add_argument("--queries", help="BEIR queries.jsonl (batch mode)")
    p.add_argument("--run", help="TREC run file to write (batch mode)")
    p.add_argument("--depth", type=int, default=100, help="documents per query in the run (default 100)")
    p.set_defaults(func=cmd_search)


def _round(ms: float | None) -> float | None:
    """Milliseconds to 2 decimals; ``None`` (no samples) stays ``None``."""
    return None if ms is None else round(ms, 2)
