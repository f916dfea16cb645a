"""What row-level security costs the search SQL: BM25 and HNSW queries with RLS on and bypassed.

Usage:
    RAG_DATA_DIR=/tmp/data-bench PYTHONPATH=. .venv/bin/python benchmarks/rls_overhead.py SCIFACT_DIR [N_DOCS] [N_QUERIES]

Stores the first N_DOCS (default 5000) SciFact abstracts as one chunk each, with random unit
vectors (no embedding model: this measures the SQL, not the model), in a collection owned by a
benchmark user through the real write path (``rag.db.documents.write_documents``, which RLS also
checks). Then runs N_QUERIES (default 300) SciFact queries through ``rag.db.search.bm25_search``
and ``vector_search`` twice in alternating order: as that user (``rag_app`` role, RLS filtering
every row) and on the connecting superuser's session (RLS bypassed: the cost without it). Prints
median and p95 per query in ms, the ratio, and whether each plan uses the GIN / HNSW index.
"""

import hashlib
import json
import statistics
import sys
import time
import uuid
from pathlib import Path

import numpy as np

from rag.config import Settings
from rag.db import Database
from rag.db.collections import ensure_collection, ensure_vector_index
from rag.db.documents import PreparedDocument, analyze, write_documents
from rag.db.search import BM25_SQL, bm25_search, vector_search
from rag.models import ChunkDraft, LoadedDocument, Section

MODEL = "bench/random-384"
DIM = 384


def documents(scifact: Path, limit: int) -> list[PreparedDocument]:
    rng = np.random.default_rng(0)
    prepared = []
    with (scifact / "corpus.jsonl").open() as lines:
        for line, _ in zip(lines, range(limit), strict=False):
            row = json.loads(line)
            text = row["text"][:2000]
            sha = hashlib.sha256(text.encode()).hexdigest()
            doc = LoadedDocument(
                row["title"], f"{row['_id']}.txt", "text/plain", (Section(text),), sha, len(text)
            )
            chunk = ChunkDraft(0, text, row["title"] + "\n", None, None, (), 0, len(text), 200, sha)
            vector = rng.standard_normal((1, DIM)).astype(np.float32)
            prepared.append(PreparedDocument(doc, [chunk], vector / np.linalg.norm(vector)))
    return prepared


def timed(run, queries) -> list[float]:
    times = []
    for query in queries:
        started = time.perf_counter()
        run(query)
        times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> None:
    scifact = Path(sys.argv[1])
    n_docs = int(sys.argv[2]) if len(sys.argv) > 2 else 5000
    n_queries = int(sys.argv[3]) if len(sys.argv) > 3 else 300
    db = Database.open(Settings.from_env()).as_user(f"bench-{uuid.uuid4().hex[:8]}")
    with db.connection() as conn:
        collection = ensure_collection(conn, f"rls-bench-{uuid.uuid4().hex[:8]}")
        ensure_vector_index(conn, MODEL, DIM)
    prepared = documents(scifact, n_docs)
    for start in range(0, len(prepared), 500):
        with db.connection() as conn:
            write_documents(conn, collection, prepared[start : start + 500], MODEL)
    with db.pool.connection() as conn:
        analyze(conn)
    with (scifact / "queries.jsonl").open() as lines:
        queries = [json.loads(line)["text"] for line, _ in zip(lines, range(n_queries), strict=False)]
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((len(queries), DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)

    def bm25(conn):
        return lambda q: bm25_search(conn, collection.id, "english", q, 30, k1=0.9, b=0.4)

    def vector(conn):
        return lambda i: vector_search(conn, collection.id, MODEL, vectors[i], 30)

    results: dict[str, dict[str, list[float]]] = {
        "bm25": {"rls": [], "bypass": []},
        "hnsw": {"rls": [], "bypass": []},
    }
    for round_ in range(2):  # alternate the order so a warm cache favours neither
        order = ("rls", "bypass") if round_ == 0 else ("bypass", "rls")
        for mode in order:
            lend = db.connection if mode == "rls" else db.pool.connection
            with lend() as conn:
                results["bm25"][mode] += timed(bm25(conn), queries)
                results["hnsw"][mode] += timed(vector(conn), range(len(queries)))
                conn.rollback()
    with db.connection() as conn:
        plan_rls = "\n".join(
            r[0] for r in conn.execute("EXPLAIN " + BM25_SQL, _bm25_params(collection.id, queries[0]))
        )
    with db.pool.connection() as conn:
        plan_bypass = "\n".join(
            r[0] for r in conn.execute("EXPLAIN " + BM25_SQL, _bm25_params(collection.id, queries[0]))
        )
    db.close()
    print(f"{len(prepared)} chunks, {len(queries)} queries x 2 rounds")
    for kind, by_mode in results.items():
        med = {m: statistics.median(t) for m, t in by_mode.items()}
        p95 = {m: statistics.quantiles(t, n=20)[-1] for m, t in by_mode.items()}
        print(
            f"{kind}: RLS median {med['rls']:.2f} ms p95 {p95['rls']:.2f} ms; bypassed median "
            f"{med['bypass']:.2f} ms p95 {p95['bypass']:.2f} ms; ratio {med['rls'] / med['bypass']:.2f}"
        )
    print(
        "BM25 plan uses the GIN index: RLS",
        "chunks_lexemes_idx" in plan_rls,
        "/ bypassed",
        "chunks_lexemes_idx" in plan_bypass,
    )


def _bm25_params(collection_id: int, query: str) -> dict:
    return {"config": "english", "query": query, "collection_id": collection_id, "limit": 30, "k1": 0.9, "b": 0.4,
            "document_ids": None, "media_types": None}  # fmt: skip


if __name__ == "__main__":
    main()
