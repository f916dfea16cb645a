"""End-to-end answer quality: ingest a corpus, ask every question through ``Engine.ask``, score it.

Works on two question-set formats:

* ClapNQ-like (``qa.jsonl`` beside ``corpus.jsonl``): a question is answered correctly when the answer
  is not an abstention and cites the gold passage (``gold_passage_id`` = the passage's ``_id``).
* Our manual sets (``benchmarks/manuals/qa.jsonl`` + ``corpus.txt``, a list of files): correct when the
  answer is not an abstention, contains every ``key_facts`` pattern (case-insensitive regex) and cites
  a file named in ``gold_sources``.

Figures: answerable answered, unanswerable declined (per ``kind`` when given), correct, key facts
present, right source cited, verified vs quoted (extractive) answers, degenerate or echoed texts
shown as trusted answers (must be 0), and wall time per answer (median, p95). ``--mock TEXT`` runs
the same pipeline with LiteLLM's ``mock_response`` (no model): its figures are labelled mocked and
are not a model's.

    .venv/bin/python benchmarks/answer_quality.py --qa ../shared/data/clapnq-dev/qa.jsonl \\
        --corpus-jsonl ../shared/data/clapnq-dev/corpus.jsonl --limit 100
    .venv/bin/python benchmarks/answer_quality.py --qa benchmarks/manuals/qa.jsonl \\
        --files benchmarks/manuals/corpus.txt
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import time
from pathlib import Path

from rag import Engine, Settings
from rag.verification import degenerate_problem, echo_problem


def _ingest(engine: Engine, collection: str, args: argparse.Namespace) -> None:
    paths = (
        [args.corpus_jsonl]
        if args.corpus_jsonl
        else [Path(line.strip()) for line in args.files.read_text().splitlines() if line.strip()]
    )
    failed = [r for r in engine.ingestor(collection).ingest_paths(paths) if r.status == "failed"]
    for result in failed:
        print(f"warning: {result.source_name}: {result.error}")


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qa", type=Path, required=True)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--corpus-jsonl", type=Path, help="BEIR corpus.jsonl (ClapNQ)")
    source.add_argument("--files", type=Path, help="a text file listing the documents to ingest")
    parser.add_argument("--collection", help="default: eval-<qa parent directory name>")
    parser.add_argument("--limit", type=int, help="sample this many questions (seed 0)")
    parser.add_argument("--mock", help="LiteLLM mock_response text instead of a model (figures are mocked)")
    parser.add_argument("--json", type=Path, help="write per-question records and the summary here")
    args = parser.parse_args()

    items = [json.loads(line) for line in args.qa.read_text(encoding="utf-8").splitlines() if line.strip()]
    if args.limit and args.limit < len(items):
        items = random.Random(0).sample(items, args.limit)
    engine = Engine(Settings.from_env())
    collection = args.collection or f"eval-{args.qa.resolve().parent.name}"
    _ingest(engine, collection, args)

    records = []
    for item in items:
        started = time.perf_counter()
        stream = engine.ask(item["question"], collection=collection, mock_response=args.mock)
        for _ in stream:
            pass
        seconds = time.perf_counter() - started
        answer = stream.answer
        assert answer is not None
        cited_sources = {c.source_name for c in answer.citations}
        cited_ids = {c.external_id for c in answer.citations}
        facts = [f for f in item.get("key_facts") or [] if not re.search(f, answer.text, re.IGNORECASE)]
        right_source = bool(
            cited_sources & set(item.get("gold_sources") or ())
            or (item.get("gold_passage_id") and item["gold_passage_id"] in cited_ids)
        )
        shown_bad = (
            not answer.abstained
            and not answer.extractive
            and bool(echo_problem(answer.text) or degenerate_problem(answer.text))
        )
        records.append(
            {
                "id": item["id"],
                "kind": item.get("kind") or ("answerable" if item["answerable"] else "unanswerable"),
                "answerable": item["answerable"],
                "answered": not answer.abstained,
                "verified": answer.verified and not answer.abstained,
                "extractive": answer.extractive,
                "key_facts_present": not facts,
                "right_source": right_source,
                "correct": (not answer.abstained) and not facts and right_source,
                "shown_degenerate_or_echo": shown_bad,
                "seconds": round(seconds, 3),
                "problems": list(answer.problems),
                "text": answer.text,
            }
        )
        print(
            f"{item['id']:>24} {records[-1]['kind']:>12} {'answered' if records[-1]['answered'] else 'declined':>8} "
            f"{'correct' if records[-1]['correct'] else '-':>7} {seconds:6.1f} s"
        )

    answerable = [r for r in records if r["answerable"]]
    summary: dict[str, object] = {
        "model": "mock_response (not a model)" if args.mock else engine.settings.llm_model,
        "questions": len(records),
        "answerable_answered": _share(answerable, "answered"),
        "correct": _share(answerable, "correct"),
        "key_facts_present": _share([r for r in answerable if r["answered"]], "key_facts_present"),
        "right_source_cited": _share([r for r in answerable if r["answered"]], "right_source"),
        "verified_answers": _share([r for r in records if r["answered"]], "verified"),
        "quoted_answers": _share([r for r in records if r["answered"]], "extractive"),
        "shown_degenerate_or_echo": sum(r["shown_degenerate_or_echo"] for r in records),
        "seconds_median": round(statistics.median(r["seconds"] for r in records), 2) if records else None,
        "seconds_p95": round(_p95([r["seconds"] for r in records]), 2) if records else None,
    }
    for kind in sorted({r["kind"] for r in records if not r["answerable"]}):
        declined = [r for r in records if r["kind"] == kind]
        summary[f"{kind}_declined"] = round(sum(not r["answered"] for r in declined) / len(declined), 3)
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "records": records}, indent=1))


def _share(records: list[dict], key: str) -> float | None:
    return round(sum(bool(r[key]) for r in records) / len(records), 3) if records else None


if __name__ == "__main__":
    main()
