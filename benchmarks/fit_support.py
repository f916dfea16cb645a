"""Fit the sentence-support thresholds of ``rag.verification`` on ClapNQ dev.

Positive pairs: every sentence of every reference answer of an answerable question, against its gold
passage (the passage the annotators wrote the answer from). Negative pairs: the same sentences against
a hard negative, the corpus passage whose embedding is closest to the gold passage's (related, but
not what the answer came from). For each pair it computes the two support scores of
``rag.verification`` (best sentence cosine, content-term share) and searches the threshold pair that
maximises balanced accuracy of the rule "supported if cosine >= a or lexical >= b".

    .venv/bin/python benchmarks/fit_support.py ../shared/data/clapnq-dev [--json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from rag.embedding import load_embedder
from rag.verification import MIN_CHECKED_WORDS, lexical_support, split_sentences


def best_cosine(embedder, sentence_vector: np.ndarray, passage: str, cache: dict) -> float:
    if passage not in cache:
        cache[passage] = embedder.embed(split_sentences(passage) or [passage])
    return float(np.max(cache[passage] @ sentence_vector))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path, help="ClapNQ-like directory with corpus.jsonl and qa.jsonl")
    parser.add_argument("--json", action="store_true", help="print one JSON object only")
    args = parser.parse_args()

    corpus = {}
    for line in (args.dataset / "corpus.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        corpus[row["_id"]] = row["text"]
    items = [
        json.loads(line) for line in (args.dataset / "qa.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    items = [i for i in items if i["answerable"] and i.get("gold_passage_id") in corpus]

    embedder = load_embedder("all-MiniLM-L6-v2")
    ids = list(corpus)
    passage_vectors = embedder.embed([corpus[i] for i in ids])
    index = {pid: n for n, pid in enumerate(ids)}

    pairs = []  # (cosine, lexical, supported)
    cache: dict[str, np.ndarray] = {}
    for item in items:
        gold = item["gold_passage_id"]
        similar = passage_vectors @ passage_vectors[index[gold]]
        similar[index[gold]] = -2.0
        negative = corpus[ids[int(np.argmax(similar))]]
        sentences = [
            s
            for answer in item["answers"]
            for s in split_sentences(answer)
            if len(s.split()) >= MIN_CHECKED_WORDS
        ]
        if not sentences:
            continue
        vectors = embedder.embed(sentences)
        for sentence, vector in zip(sentences, vectors, strict=True):
            for passage, label in ((corpus[gold], True), (negative, False)):
                pairs.append(
                    (best_cosine(embedder, vector, passage, cache), lexical_support(sentence, passage), label)
                )

    cos = np.array([p[0] for p in pairs])
    lex = np.array([p[1] for p in pairs])
    truth = np.array([p[2] for p in pairs])
    best = (0.0, 0.0, 0.0)
    for a in np.arange(0.50, 0.96, 0.01):
        for b in np.arange(0.40, 1.01, 0.05):
            predicted = (cos >= a) | (lex >= b)
            tpr = float(np.mean(predicted[truth]))
            tnr = float(np.mean(~predicted[~truth]))
            score = (tpr + tnr) / 2
            if score > best[0]:
                best = (score, round(float(a), 2), round(float(b), 2))
    _, a, b = best
    predicted = (cos >= a) | (lex >= b)
    summary = {
        "questions": len(items),
        "pairs": len(pairs),
        "positives": int(truth.sum()),
        "cosine_threshold": a,
        "lexical_threshold": b,
        "balanced_accuracy": round(best[0], 4),
        "supported_recall": round(float(np.mean(predicted[truth])), 4),
        "unsupported_recall": round(float(np.mean(~predicted[~truth])), 4),
    }
    print(json.dumps(summary) if args.json else "\n".join(f"{k:>20}: {v}" for k, v in summary.items()))


if __name__ == "__main__":
    main()
