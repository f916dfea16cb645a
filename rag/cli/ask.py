"""``rag ask``: a streamed, cited answer in the terminal."""

from __future__ import annotations

import argparse
import sys

from rag.cli.common import EXIT_OK, MODES, open_engine, print_json, reranker_note


def cmd_ask(args: argparse.Namespace) -> int:
    """Answer a question from the collection's documents, with citations.

    Streams the answer to stdout, then lists the cited sources with their pages; when the engine
    declines (too little evidence), the closest passages instead. When the model's answer fails
    verification (``rag.verification``), says why and prints the quoted passages that replace it. The model, tokens, cost and latency go to stderr. With ``--json``, prints only the
    answer with its full trace as JSON.

    Returns:
        0; 2 (with ``error:`` on stderr) when retrieval or the LLM fails.
    """
    from rag.chat import ask

    with open_engine(args) as engine:
        params = engine.default_params(mode=args.mode) if args.mode else None
        stream = ask(
            engine, args.question, collection=args.collection, params=params, max_tokens=args.max_tokens
        )
        for delta in stream:
            if not args.json:
                print(delta, end="", flush=True)
        answer = stream.answer
    assert answer is not None
    if args.json:
        print_json(answer.to_dict())
        return EXIT_OK
    print()
    trace = answer.trace
    if trace is not None and trace.requested_mode == "rerank" and not trace.reranked:
        print("\n" + reranker_note(trace.reranker.reason), file=sys.stderr)
    if answer.abstained:
        evidence = f"{answer.evidence:.2f}" if answer.evidence is not None else "none"
        why = answer.decision_reason or f"best evidence {evidence} < threshold {answer.threshold:.2f}"
        print(f"\n(declined: {why}; closest passages:)")
        shown = answer.sources[:3]
    else:
        shown = answer.citations
        if answer.extractive:
            print(f"\nnot verified: {'; '.join(answer.problems)}. What your documents say:\n")
            print(answer.text)
        elif answer.standalone_question != answer.question.strip():
            print(f"(searched as: {answer.standalone_question})")
        if answer.uncited:
            print("\nwarning: this answer cites no source; treat it as unsupported.")
        if answer.dangling_markers:
            print(f"note: removed {answer.dangling_markers} citation marker(s) that named no source.")
    for source in shown:
        where = ", ".join(x for x in (source.source_name, source.pages_label) if x)
        print(f"[{source.number}] {source.title} ({where})")
    tokens = f"{answer.prompt_tokens}+{answer.completion_tokens} tokens"
    cost = f", ${answer.cost_usd:.5f}" if answer.cost_usd is not None else ""
    print(f"\n{answer.model}: {tokens}{cost}, {answer.timings_ms.get('total', 0):.0f} ms", file=sys.stderr)
    return EXIT_OK


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``ask`` to the ``rag`` parser's subcommands."""
    p = subparsers.add_parser("ask", help="answer a question from your documents, with citations")
    p.add_argument("question")
    p.add_argument("--collection")
    p.add_argument("--mode", choices=MODES, help="retrieval mode")
    p.add_argument(
        "--max-tokens",
        type=int,
        default=None,
        help="longest answer in tokens (default RAG_MAX_ANSWER_TOKENS, 300)",
    )
    p.add_argument("--json", action="store_true", help="print the answer with its full trace as JSON")
    p.set_defaults(func=cmd_ask)
