"""Fit the abstention model (``rag.abstention.DEFAULT_MODEL``) on ClapNQ; check it on technical manuals.

Fitting data (nothing from the manuals):
  * ClapNQ dev (``../shared/data/clapnq-dev``): its corpus in one collection; the 150 answerable
    questions are positives, the 153 unanswerable ones ("near miss": a related passage that does not
    answer) negatives.
  * Off-topic negatives: the same 303 ClapNQ questions asked of a collection of SciFact abstracts
    (the first ``--offtopic-docs`` of ``../shared/data/scifact/corpus.jsonl``), which holds none of
    their answers. ClapNQ has no off-topic questions, and without them the model would learn only
    the subtle near-miss boundary and not "nothing here is about this".

The regression is scikit-learn's (imported only here; the runtime model is plain math), weighted so
the answerable rows carry half the total weight and near-miss and off-topic rows a quarter each. Cross-validation is 5-fold grouped by question, so a question's
ClapNQ and SciFact rows never fall into different folds. The operating point is then chosen on
the cross-validated ClapNQ answerable questions (``--answer-rate``, default 0.95): the intercept is
lowered until that share is answered, because a false decline of a plainly answered question costs
users more than an answer the per-sentence verification can still catch.

Transfer check, WITHOUT refitting: the manuals question set (``benchmarks/manuals/qa.jsonl``, files
listed in ``corpus.txt``) in its own collection; answered rate on answerable, declined rate on
off-topic and near-miss separately; and the old cosine-only threshold 0.62 on both sets.

Usage:
  RAG_DATA_DIR=/tmp/abstain-data PYTHONPATH=. .venv/bin/python benchmarks/fit_abstention.py \\
      [--clapnq DIR] [--scifact DIR] [--manuals DIR] [--json-out FILE]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold

from rag.abstention import AbstentionModel, EvidenceSignals
from rag.config import Settings
from rag.engine import Engine
from rag.errors import RagError

ROOT = Path(__file__).resolve().parent.parent
OLD_THRESHOLD = 0.62  # the cosine-only gate this model replaces (Settings.abstain_threshold before)
FEATURES = ("similarity", "coverage", "agreement", "lexical_found")


def ingest(engine: Engine, collection: str, paths: list[Path]) -> None:
    """Ingest ``paths`` into ``collection`` (unchanged documents are skipped); raise on a failure."""
    failed = [r for r in engine.ingestor(collection).ingest_paths(paths) if r.status == "failed"]
    if failed:
        raise RagError(f"{len(failed)} documents failed, first: {failed[0].source_name}: {failed[0].error}")


def signals_for(engine: Engine, collection: str, questions: list[str]) -> list[EvidenceSignals]:
    """Retrieve with the default parameters and compute the signals of every question."""
    traces = engine.iter_search(questions, engine.default_params(), collection)
    return [EvidenceSignals.from_trace(q, t) for q, t in zip(questions, traces, strict=True)]


def read_jsonl(path: Path) -> list[dict]:
    """The JSON objects of a JSON-lines file."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def collect_clapnq(args: argparse.Namespace, engine: Engine) -> list[dict]:
    """Signals (as dicts, with ``label`` and ``kind``) of the fitting rows: ClapNQ and its off-topic copy."""
    clapnq = read_jsonl(args.clapnq / "qa.jsonl")
    ingest(engine, "abstain-clapnq", [args.clapnq / "corpus.jsonl"])
    questions = [q["question"] for q in clapnq]
    rows = []
    for q, s in zip(clapnq, signals_for(engine, "abstain-clapnq", questions), strict=True):
        kind = "answerable" if q["answerable"] else "near_miss"
        rows.append({**s.to_dict(), "id": q["id"], "kind": kind, "label": int(q["answerable"])})
    # Off-topic: a subset of SciFact abstracts, written outside the repository.
    subset = Path(engine.settings.data_dir) / "scifact-offtopic" / "corpus.jsonl"
    subset.parent.mkdir(parents=True, exist_ok=True)
    with open(args.scifact / "corpus.jsonl", encoding="utf-8") as src:
        subset.write_text("".join(itertools.islice(src, args.offtopic_docs)), encoding="utf-8")
    ingest(engine, "abstain-scifact", [subset])
    for q, s in zip(clapnq, signals_for(engine, "abstain-scifact", questions), strict=True):
        rows.append({**s.to_dict(), "id": q["id"], "kind": "off_topic", "label": 0})
    return rows


def collect_manuals(args: argparse.Namespace, engine: Engine) -> list[dict]:
    """Signals of the manuals question set (empty when it is absent); its own collection."""
    qa_path = args.manuals / "qa.jsonl"
    if not qa_path.is_file():
        print(f"no manuals question set at {qa_path}: transfer check skipped", file=sys.stderr)
        return []
    files = [
        Path(line.strip())
        for line in (args.manuals / "corpus.txt").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    ingest(engine, "abstain-manuals", files)
    manual = read_jsonl(qa_path)
    rows = []
    for q, s in zip(
        manual, signals_for(engine, "abstain-manuals", [q["question"] for q in manual]), strict=True
    ):
        kind = "answerable" if q["answerable"] else q.get("kind", "off_topic")
        rows.append({**s.to_dict(), "id": q["id"], "kind": kind, "label": int(q["answerable"])})
    return rows


def matrix(rows: list[dict], neutral: dict[str, float]) -> np.ndarray:
    """``(n, len(FEATURES))`` feature matrix; ``None`` signals take the neutral values."""
    out = np.zeros((len(rows), len(FEATURES)))
    for i, r in enumerate(rows):
        out[i] = [
            r["similarity"] if r["similarity"] is not None else 0.0,
            r["coverage"] if r["coverage"] is not None else neutral["coverage"],
            r["agreement"] if r["agreement"] is not None else neutral["agreement"],
            float(r["lexical_found"]),
        ]
    return out


def weights(rows: list[dict]) -> np.ndarray:
    """Sample weights: answerable 1/2, near-miss 1/4, off-topic 1/4 of the total."""
    share = {"answerable": 0.5, "near_miss": 0.25, "off_topic": 0.25}
    counts = {k: sum(1 for r in rows if r["kind"] == k) for k in share}
    return np.array([share[r["kind"]] * len(rows) / counts[r["kind"]] for r in rows])


def fit(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> LogisticRegression:
    """L2 logistic regression (C=1) with sample weights."""
    return LogisticRegression(C=1.0, max_iter=1000).fit(x, y, sample_weight=w)


def rates(rows: list[dict], answered: np.ndarray) -> dict[str, float | int | None]:
    """Answered share of answerable, declined share of each unanswerable kind, balanced accuracy."""
    out: dict[str, float | int | None] = {}
    kinds = sorted({r["kind"] for r in rows})
    for kind in kinds:
        mask = np.array([r["kind"] == kind for r in rows])
        value = answered[mask].mean() if kind == "answerable" else 1.0 - answered[mask].mean()
        name = "answered" if kind == "answerable" else f"{kind}_declined"
        out[name] = round(float(value), 4)
        out[f"n_{kind}"] = int(mask.sum())
    label = np.array([r["label"] for r in rows]) == 1
    if label.any() and (~label).any():
        out["balanced_accuracy"] = round(float((answered[label].mean() + 1 - answered[~label].mean()) / 2), 4)
    return out


def cosine_answered(rows: list[dict], threshold: float) -> np.ndarray:
    """The old gate: answer when the best similarity reaches ``threshold``."""
    return np.array([r["similarity"] is not None and r["similarity"] >= threshold for r in rows])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clapnq", type=Path, default=ROOT.parent / "shared/data/clapnq-dev")
    parser.add_argument("--scifact", type=Path, default=ROOT.parent / "shared/data/scifact")
    parser.add_argument("--offtopic-docs", type=int, default=1000)
    parser.add_argument("--manuals", type=Path, default=ROOT / "benchmarks/manuals")
    parser.add_argument("--answer-rate", type=float, default=0.95, help="CV answered share on ClapNQ")
    parser.add_argument("--signals", type=Path, help="read/write the ClapNQ signals here (JSON)")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()

    engine = Engine(Settings.from_env().with_(reranker_model=""))
    try:
        if args.signals and args.signals.is_file():
            rows = json.loads(args.signals.read_text())
        else:
            rows = collect_clapnq(args, engine)
            if args.signals:
                args.signals.write_text(json.dumps(rows))
        manual = collect_manuals(args, engine)
    finally:
        engine.close()

    neutral = {
        "coverage": float(np.mean([r["coverage"] for r in rows if r["coverage"] is not None])),
        "agreement": float(np.mean([r["agreement"] for r in rows if r["agreement"] is not None])),
    }
    x, y, w = matrix(rows, neutral), np.array([r["label"] for r in rows]), weights(rows)
    groups = np.array([r["id"] for r in rows])

    # Cross-validated logits: each question's rows scored by a model that never saw that question.
    cv_logit = np.zeros(len(rows))
    for train, test in GroupKFold(n_splits=5).split(x, y, groups):
        cv_logit[test] = fit(x[train], y[train], w[train]).decision_function(x[test])
    final = fit(x, y, w)
    # Operating point: lower the intercept by the CV logit of the answerable question at the
    # (1 - answer_rate) quantile, so that share of ClapNQ answerable questions is answered.
    positives = np.sort(cv_logit[y == 1])
    shift = float(positives[int(math.floor((1 - args.answer_rate) * len(positives)))])
    shift = min(shift, 0.0)  # never make the model stricter than its balanced fit
    intercept = float(final.intercept_[0]) - shift

    model = AbstentionModel(
        intercept=round(intercept, 4),
        w_similarity=round(float(final.coef_[0][0]), 4),
        w_coverage=round(float(final.coef_[0][1]), 4),
        w_agreement=round(float(final.coef_[0][2]), 4),
        w_lexical=round(float(final.coef_[0][3]), 4),
        neutral_coverage=round(neutral["coverage"], 4),
        neutral_agreement=round(neutral["agreement"], 4),
    )

    def model_answered(rs: list[dict]) -> np.ndarray:
        return np.array([model.decide(EvidenceSignals(**_signal_fields(r))).answer for r in rs])

    clap_near = [r for r in rows if r["kind"] != "off_topic"]
    near_mask = np.array([r["kind"] != "off_topic" for r in rows])
    summary = {
        "model": {k: getattr(model, k) for k in model.__dataclass_fields__},
        "balanced_fit_intercept": round(float(final.intercept_[0]), 4),
        "operating_point_shift": round(-shift, 4),
        "clapnq_cv": {
            "balanced_cut": rates(rows, cv_logit >= 0),
            "balanced_cut_near_miss_only": rates(clap_near, cv_logit[near_mask] >= 0),
            "operating_point": rates(rows, cv_logit - shift >= 0),
        },
        "clapnq_cosine_0.62": rates(rows, cosine_answered(rows, OLD_THRESHOLD)),
    }
    if manual:
        summary["manuals_model"] = rates(manual, model_answered(manual))
        summary["manuals_cosine_0.62"] = rates(manual, cosine_answered(manual, OLD_THRESHOLD))
    print(json.dumps(summary, indent=2))
    print()
    print(f"{'set / rule':38} {'answered':>9} {'near-miss':>10} {'off-topic':>10} {'BA':>6}")
    table = (
        ("clapnq_cv", "operating_point"),
        ("clapnq_cosine_0.62",),
        ("manuals_model",),
        ("manuals_cosine_0.62",),
    )
    for keys in table:
        part = summary
        for key in keys:
            part = part.get(key, {})
        if part:
            cells = [part.get(k) for k in ("answered", "near_miss_declined", "off_topic_declined")]
            cells.append(part.get("balanced_accuracy"))
            print(f"{'.'.join(keys):38} " + " ".join(f"{'-' if c is None else c:>9}" for c in cells))
    if args.json_out:
        args.json_out.write_text(json.dumps(summary, indent=2))
    return 0


def _signal_fields(row: dict) -> dict:
    return {k: row[k] for k in EvidenceSignals.__dataclass_fields__}


if __name__ == "__main__":
    sys.exit(main())
