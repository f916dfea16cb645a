"""Retrieval sanity check of the manuals question set (is the set fair for retrieval?).

Needs the corpus ingested first (see README.md). For every question it runs one search (hybrid, k=5
by default) and records the top documents, the best cosine similarity of the kept passages (what the
abstention gate looks at), the best BM25 score among the candidates and how many of the question's
content terms occur in the kept passages. It prints recall@5 by gold source, how a cosine threshold
separates answerable from unanswerable questions, and the AUC of each signal; ``--out`` writes the
per-question signals as JSON.

    RAG_DATA_DIR=/tmp/qset-data .venv/bin/python benchmarks/manuals/retrieval_check.py \\
        --collection manuals --out /tmp/qset-signals.json
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
from dataclasses import replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Question words and words every question of this set shares; what is left are its content terms.
STOP = set(
    """a an the and or but if then else of to in on at by for with from into onto about as is are was
    were be been being do does did doing done have has had i me my we our you your it its this that these
    those there here what which who whom whose when where why how can could should would will shall may
    might must not no yes so than too very just also get got make using use used one all any some each both
    more most other such only own same s t don way between vs versus up out off over again further once
    python git debian linux file files""".split()
)
WORD = re.compile(r"[a-z0-9_][a-z0-9_.+\-]*[a-z0-9_]|[a-z0-9]")


def content_terms(question: str) -> list[str]:
    return sorted({w for w in WORD.findall(question.lower()) if w not in STOP and len(w) > 1})


def auc(pos: list[float], neg: list[float]) -> float:
    """Probability that a random answerable question scores above a random unanswerable one."""
    return sum((p > n) + 0.5 * (p == n) for p in pos for n in neg) / (len(pos) * len(neg))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--qa", type=Path, default=HERE / "qa.jsonl")
    parser.add_argument("--collection", default="manuals")
    parser.add_argument("--mode", default="hybrid")
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--threshold", type=float, default=0.62, help="cosine abstention threshold to score")
    parser.add_argument("--out", type=Path, help="write the per-question signals here (JSON)")
    args = parser.parse_args()

    from rag.engine import Engine

    questions = [
        json.loads(line) for line in args.qa.read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    engine = Engine()
    params = replace(engine.default_params(mode=args.mode), k=args.k)
    rows = []
    try:
        traces = engine.iter_search([q["question"] for q in questions], params, args.collection)
        for q, trace in zip(questions, traces, strict=True):
            hits = trace.hits
            similarities = [h.similarity for h in hits if h.similarity is not None]
            bm25 = [c.bm25_score for c in trace.candidates if c.bm25_score is not None]
            text = " ".join(h.text.lower() for h in hits)
            words = set(WORD.findall(text))
            terms = content_terms(q["question"])
            present = [t for t in terms if t in words or t in text]
            docs = [h.source_name for h in hits]
            rows.append(
                {
                    "id": q["id"],
                    "kind": q["kind"],
                    "answerable": q["answerable"],
                    "docs": docs,
                    "gold_rank": next((i + 1 for i, d in enumerate(docs) if d in q["gold_sources"]), None),
                    "best_cosine": max(similarities) if similarities else None,
                    "best_bm25": max(bm25) if bm25 else 0.0,
                    "terms": terms,
                    "terms_present": present,
                    "term_fraction": len(present) / len(terms) if terms else None,
                }
            )
    finally:
        engine.close()
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))

    answerable = [r for r in rows if r["answerable"]]
    unanswerable = [r for r in rows if not r["answerable"]]
    found = sum(r["gold_rank"] is not None for r in answerable)
    print(f"{len(answerable)} answerable, {len(unanswerable)} unanswerable; mode {args.mode}, k {args.k}")
    print(f"recall@{args.k} by gold source: {found}/{len(answerable)} = {found / len(answerable):.3f}")
    print(
        f"MRR@{args.k} (documents): {sum(1 / r['gold_rank'] for r in answerable if r['gold_rank']) / len(answerable):.3f}"
    )
    missed = [(r["id"], r["docs"][:3]) for r in answerable if r["gold_rank"] is None]
    if missed:
        print(f"gold source not in the top {args.k}: {missed}")
    t = args.threshold
    kept = sum((r["best_cosine"] or -1) >= t for r in answerable) / len(answerable)
    declined = sum((r["best_cosine"] or -1) < t for r in unanswerable) / len(unanswerable)
    print(f"cosine threshold {t}: answerable answered {kept:.3f}, unanswerable abstained {declined:.3f}")
    for kind in sorted({r["kind"] for r in unanswerable}):
        group = [r for r in unanswerable if r["kind"] == kind]
        print(f"  {kind}: abstained {sum((r['best_cosine'] or -1) < t for r in group)}/{len(group)}")
    for name, key in (
        ("best cosine", "best_cosine"),
        ("best BM25", "best_bm25"),
        ("term fraction", "term_fraction"),
    ):
        pos = [r[key] or 0.0 for r in answerable]
        print(f"{name}: AUC {auc(pos, [r[key] or 0.0 for r in unanswerable]):.3f}", end="")
        for kind in sorted({r["kind"] for r in unanswerable}):
            neg = [r[key] or 0.0 for r in unanswerable if r["kind"] == kind]
            print(f", vs {kind} {auc(pos, neg):.3f}", end="")
        print()
        for label, group in (
            ("answerable", answerable),
            *(
                (k, [r for r in unanswerable if r["kind"] == k])
                for k in sorted({r["kind"] for r in unanswerable})
            ),
        ):
            values = [r[key] or 0.0 for r in group]
            q1, _, q3 = statistics.quantiles(values, n=4)
            print(
                f"  {label:11s} min {min(values):.3f} p25 {q1:.3f} median {statistics.median(values):.3f}"
                f" p75 {q3:.3f} max {max(values):.3f}"
            )


if __name__ == "__main__":
    main()
