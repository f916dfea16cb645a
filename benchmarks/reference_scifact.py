"""Document-level reference runs on SciFact with the same ir-measures scoring as `rag eval retrieval`.

bm25s (English stop words, Snowball stemmer) and all-MiniLM-L6-v2 over whole documents (title + text,
truncated at the model's 256 tokens), and their RRF (k = 60): the baselines the README of
../shared/data quotes on the test split, recomputed on a split that is available here.

Usage: .venv/bin/pip install bm25s PyStemmer && .venv/bin/python benchmarks/reference_scifact.py [DIR] [SPLIT]
"""

import json
import os
import sys

import bm25s
import numpy as np
import Stemmer

os.environ["HF_HUB_OFFLINE"] = "1"
from pathlib import Path

from rag.embedding import load_embedder
from rag.evaluation.datasets import load_beir
from rag.evaluation.metrics import retrieval_metrics
from rag.fusion import reciprocal_rank_fusion

DIRECTORY = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/scifact")
d = load_beir(DIRECTORY, sys.argv[2] if len(sys.argv) > 2 else "train")
corpus = [json.loads(l) for l in open(DIRECTORY / "corpus.jsonl")]
ids = [c["_id"] for c in corpus]
texts = [c["title"] + " " + c["text"] for c in corpus]
st = Stemmer.Stemmer("english")
r = bm25s.BM25()
r.index(bm25s.tokenize(texts, stopwords="en", stemmer=st, show_progress=False), show_progress=False)
qids = list(d.queries)
res, sc = r.retrieve(
    bm25s.tokenize([d.queries[q] for q in qids], stopwords="en", stemmer=st, show_progress=False),
    k=100,
    show_progress=False,
)
lex = {q: {ids[j]: float(s) for j, s in zip(res[i], sc[i], strict=True)} for i, q in enumerate(qids)}
m = retrieval_metrics(d.qrels, lex)
print("bm25s", round(m.ndcg_at_10, 4), round(m.recall_at_100, 4))
e = load_embedder("all-MiniLM-L6-v2")
D = e.embed(texts)
Q = e.embed([d.queries[q] for q in qids])
S = Q @ D.T
vec = {}
for i, q in enumerate(qids):
    top = np.argsort(-S[i])[:100]
    vec[q] = {ids[j]: float(S[i, j]) for j in top}
m = retrieval_metrics(d.qrels, vec)
print("minilm", round(m.ndcg_at_10, 4), round(m.recall_at_100, 4))
hyb = {q: dict(reciprocal_rank_fusion([list(lex[q]), list(vec[q])], k=60)) for q in qids}
m = retrieval_metrics(d.qrels, hyb)
print("rrf", round(m.ndcg_at_10, 4), round(m.recall_at_100, 4))
