"""Lexical nDCG@10 of impact-head BM25 against exact BM25 on a BEIR dataset, without embedding it.

Usage:
    RAG_DATA_DIR=/tmp/data-scale .venv/bin/python benchmarks/lexical_quality.py /work/shared/data/scifact --split train

The corpus is loaded and chunked exactly as ``rag eval retrieval`` does (same loader, chunker and
chunk settings, so the same chunks and BM25 statistics), but written with placeholder vectors through
``rag.db.documents.write_documents``: lexical search never reads them, and a 2-core machine shared by
six engineers embeds SciFact in hours. Every query then runs twice, with the default impact heads and
with ``exact_bm25``, at the depth ``rag eval retrieval`` uses (documents collapsed by best chunk),
and the script reports nDCG@10 / recall@100 of both and how many queries got a different top 10 or
a different list.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from rag.chunking import chunk_document  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.db.collections import ensure_collection  # noqa: E402
from rag.db.documents import PreparedDocument, analyze, write_documents  # noqa: E402
from rag.db.search import bm25_search, passages  # noqa: E402
from rag.engine import Engine  # noqa: E402
from rag.evaluation.datasets import load_beir  # noqa: E402
from rag.evaluation.metrics import retrieval_metrics  # noqa: E402
from rag.loaders import load_path  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("directory", type=Path)
    parser.add_argument("--split", default="train")
    parser.add_argument("--depth", type=int, default=100, help="documents per query (as rag eval retrieval)")
    args = parser.parse_args()

    settings = Settings.from_env().with_(reranker_model="")
    engine = Engine(settings)
    name = f"lexical-{args.directory.name}"
    dataset = load_beir(args.directory, args.split)
    if name not in engine.collections():
        documents = list(load_path(args.directory / "corpus.jsonl"))
        with engine.db.connection() as conn:
            collection = ensure_collection(conn, name)
            conn.commit()  # write_documents needs a connection outside a transaction
            batch = []
            for document in documents:
                chunks = chunk_document(
                    document, engine.embedder, settings.chunk_size, settings.chunk_overlap
                )
                placeholder = np.full((len(chunks), engine.embedder.dimension), 1.0, dtype=np.float32)
                batch.append(PreparedDocument(replace(document), chunks, placeholder))
                if len(batch) >= 500:
                    write_documents(conn, collection, batch, "placeholder-vectors")
                    batch = []
            if batch:
                write_documents(conn, collection, batch, "placeholder-vectors")
            analyze(conn)
    report: dict = {"collection": name, "queries": len(dataset.queries)}
    collection = engine.collection(name)
    runs = {}
    no_vector = np.zeros(engine.embedder.dimension, dtype=np.float32)
    for label, exact in (("heads", False), ("exact", True)):
        run, lists, started = {}, {}, time.perf_counter()
        with engine.db.connection() as conn:
            for qid, query in dataset.queries.items():
                # bm25_search directly, at the depth rag eval retrieval asks for (2 chunks per document):
                # engine.search would also embed every query, which lexical scores never use.
                hits = bm25_search(
                    conn,
                    collection.id,
                    collection.text_search_config,
                    query,
                    args.depth * 2,
                    k1=settings.bm25_k1,
                    b=settings.bm25_b,
                    exact=exact,
                )
                rows = passages(conn, [cid for cid, _ in hits], "no-model", no_vector)
                best: dict[str, float] = {}
                for cid, score in hits:
                    best.setdefault(rows[cid].external_id or str(rows[cid].document_id), score)
                ranked = sorted(best.items(), key=lambda pair: pair[1], reverse=True)[: args.depth]
                run[qid] = dict(ranked)
                lists[qid] = [doc for doc, _ in ranked]
        metrics = retrieval_metrics(dataset.qrels, run)
        runs[label] = lists
        report[label] = {
            "ndcg_at_10": round(metrics.ndcg_at_10, 4),
            "recall_at_100": round(metrics.recall_at_100, 4),
            "seconds": round(time.perf_counter() - started, 1),
        }
    report["queries_with_other_top10"] = sum(
        runs["heads"][q][:10] != runs["exact"][q][:10] for q in dataset.queries
    )
    report["queries_with_other_list"] = sum(runs["heads"][q] != runs["exact"][q] for q in dataset.queries)
    engine.close()
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
