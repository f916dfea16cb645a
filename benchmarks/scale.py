"""Search at scale: build a collection of N chunks of real text, then time and check its search.

Usage:
    RAG_DATA_DIR=/tmp/data-scale .venv/bin/python benchmarks/scale.py --chunks 10000,100000 [--json]
    RAG_DATA_DIR=/tmp/data-scale .venv/bin/python benchmarks/scale.py --chunks 1000000 --reuse

The text: SciFact abstracts and ClapNQ passages (``/work/shared/data``), chunked by the app's own
chunker (the base chunks, about 10.6k). Chunk i of the collection is base chunk ``i mod B`` in a
fixed shuffled order; copy r >= 1 replaces 15% of its words by words drawn from the whole corpus
(unigram sampling), so lengths stay the same, document frequencies grow in proportion and no two
chunks tie. The vectors: the base chunk's stored MiniLM embedding (copy 0 exactly; later copies plus
Gaussian noise of norm ``--noise``, re-normalised). Base embeddings are taken from any collection of
``$RAG_DATA_DIR`` that holds the same chunk (e.g. after ``rag eval retrieval``), the rest embedded
once, and cached under ``$RAG_DATA_DIR/scale/``. Each size lives in its own embedded PostgreSQL
(``$RAG_DATA_DIR/scale/<N>``) so one collection's HNSW graph never filters another's.

Loading goes through ``rag.db.documents.write_documents`` (binary COPY, tsvector, BM25 statistics,
posting rows; no model encode) with the impact B-tree and the HNSW index built after the load
(``rag.db.bulk``), then VACUUM ANALYZE. ``--reuse`` keeps an already built collection, so the queries
can be measured again later on a quiet machine.

Measured, per size: p50/p95 per stage (``engine.search`` trace timings: query_embedding, lexical,
vector, fusion, details; total = the whole call) of lexical, vector and hybrid search, each without
and with a document filter keeping 1% of the chunks; HNSW recall@10 (the app's call, top 10 of its
30 candidates) against exact search, also with the filter; the overlap of the top 10 of lexical
search with exact BM25 (``--exact-queries``); load and index build times; database size.
Report ``uptime`` with the figures: the machine is shared.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from rag.chunking import chunk_document  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.db import bulk  # noqa: E402
from rag.db.collections import ensure_collection  # noqa: E402
from rag.db.documents import PreparedDocument, write_documents  # noqa: E402
from rag.db.embeddings import reusable_embeddings  # noqa: E402
from rag.db.search import Filters, bm25_search, vector_search  # noqa: E402
from rag.engine import Engine  # noqa: E402
from rag.evaluation.metrics import latency_summary  # noqa: E402
from rag.loaders import load_path  # noqa: E402
from rag.models import ChunkDraft  # noqa: E402
from rag.retrieval import SearchParams  # noqa: E402

DATA = Path("/work/shared/data")
CORPORA = (DATA / "scifact" / "corpus.jsonl", DATA / "clapnq-dev" / "corpus.jsonl")
QUERIES = DATA / "scifact" / "queries.jsonl"
REPLACED_WORDS = 0.15
BATCH_CHUNKS = 4000
NOISE = 0.3
"""Norm of the Gaussian noise added to a copied vector (``--noise``): cosine about 0.96 to its base."""


def base_chunks(
    settings: Settings, engine: Engine, cache: Path, *, stored_only: bool = False
) -> tuple[list, np.ndarray, int]:
    """The base documents with their chunks and one MiniLM vector per chunk, cached in ``cache``.

    Args:
        stored_only: Embed nothing: a base chunk without a stored vector borrows the stored vector of
            another base chunk (real MiniLM vectors, not its own text's; latency and HNSW recall do
            not depend on which text a vector belongs to). Nothing is cached then.

    Returns:
        ``([(document, [chunks])...] in a fixed shuffled order, (B, d) float32 vectors in chunk order,
        how many base chunks carry their own vector)``.
    """
    key = hashlib.sha256(
        f"{engine.embedder.name}|{settings.chunk_size}|{settings.chunk_overlap}".encode()
    ).hexdigest()[:12]
    path = cache / f"base-{key}.pkl"
    if path.exists():
        with path.open("rb") as f:
            groups, vectors = pickle.load(f)
        return groups, vectors, int(vectors.shape[0])
    chunk_cache = cache / f"chunks-{key}.pkl"
    if chunk_cache.exists():
        with chunk_cache.open("rb") as f:
            groups = pickle.load(f)
    else:
        documents = [doc for corpus in CORPORA for doc in load_path(corpus)]
        order = np.random.default_rng(0).permutation(len(documents))
        groups = []
        for i in order:
            chunks = chunk_document(
                documents[i], engine.embedder, settings.chunk_size, settings.chunk_overlap
            )
            if chunks:
                groups.append((replace(documents[i], sections=()), chunks))
        cache.mkdir(parents=True, exist_ok=True)
        with chunk_cache.open("wb") as f:
            pickle.dump(groups, f)
    shas = [c.sha256 for _, chunks in groups for c in chunks]
    with engine.db.connection() as conn:
        stored = reusable_embeddings(conn, shas, engine.embedder.name)
    missing = sorted({c.embedding_input for _, chunks in groups for c in chunks if c.sha256 not in stored})
    print(f"base: {len(shas)} chunks, {len(stored)} stored vectors, {len(missing)} missing", file=sys.stderr)
    own = sum(sha in stored for sha in shas)
    if stored_only:
        if not stored:
            raise SystemExit(
                "no stored vectors to reuse: run `rag eval retrieval` on SciFact first, or drop --stored-vectors-only"
            )
        donors = list(stored.values())
        rng = np.random.default_rng(1)
        vectors = np.stack([stored.get(sha, donors[i % len(donors)]) for i, sha in enumerate(shas)])
        # A borrowed vector gets noise too: exact duplicates would make recall@10 a matter of ties.
        borrowed = np.array([sha not in stored for sha in shas])
        noise = rng.normal(
            0.0, NOISE / np.sqrt(vectors.shape[1]), size=(int(borrowed.sum()), vectors.shape[1])
        )
        vectors[borrowed] += noise.astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        return groups, vectors.astype(np.float32), own
    if missing:
        fresh = engine.embedder.embed(missing)
        by_text = dict(zip(missing, fresh, strict=True))
        stored.update(
            {
                c.sha256: by_text[c.embedding_input]
                for _, chunks in groups
                for c in chunks
                if c.sha256 not in stored
            }
        )
    vectors = np.stack([stored[sha] for sha in shas]).astype(np.float32)
    cache.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        pickle.dump((groups, vectors), f)
    return groups, vectors, int(vectors.shape[0])


def perturbed(chunk: ChunkDraft, copy: int, rng: np.random.Generator, pool: list[str]) -> ChunkDraft:
    """Copy ``copy`` of a chunk: 15% of its words replaced by corpus words (copy 0 is the original)."""
    if copy == 0:
        return chunk
    words = chunk.text.split()
    picks = rng.integers(0, len(pool), size=max(1, int(len(words) * REPLACED_WORDS)))
    positions = rng.integers(0, len(words), size=len(picks))
    for position, pick in zip(positions, picks, strict=True):
        words[position] = pool[pick]
    text = " ".join(words)
    sha = hashlib.sha256((chunk.context + text).encode()).hexdigest()
    return replace(chunk, text=text, char_end=chunk.char_start + len(text), sha256=sha)


def generate(groups: list, vectors: np.ndarray, n_chunks: int, noise: float, seed: int):
    """Yield ``PreparedDocument`` batches of about ``BATCH_CHUNKS`` chunks until ``n_chunks`` are made."""
    rng = np.random.default_rng(seed)
    pool = [w for _, chunks in groups for c in chunks for w in c.text.split()]
    offsets = np.cumsum([0] + [len(chunks) for _, chunks in groups])
    made, copy, batch, batch_chunks = 0, 0, [], 0
    while made < n_chunks:
        for (doc, chunks), start in zip(groups, offsets[:-1], strict=True):
            chunks = chunks[: n_chunks - made]
            base = vectors[start : start + len(chunks)]
            if copy:
                base = base + rng.normal(0.0, noise / np.sqrt(base.shape[1]), size=base.shape).astype(
                    np.float32
                )
                base /= np.linalg.norm(base, axis=1, keepdims=True)
            document = replace(
                doc,
                source_name=f"{doc.source_name}~{copy}",
                content_sha256=hashlib.sha256(f"{doc.content_sha256}~{copy}".encode()).hexdigest(),
            )
            batch.append(
                PreparedDocument(
                    document, [perturbed(c, copy, rng, pool) for c in chunks], base.astype(np.float32)
                )
            )
            made += len(chunks)
            batch_chunks += len(chunks)
            if batch_chunks >= BATCH_CHUNKS or made >= n_chunks:
                yield batch
                batch, batch_chunks = [], 0
            if made >= n_chunks:
                return
        copy += 1


@contextmanager
def autocommit(engine: Engine) -> Iterator:
    """A pooled connection in autocommit mode (DDL, VACUUM), handed back to the pool as it was."""
    with engine.db.connection() as conn:
        conn.autocommit = True
        try:
            yield conn
        finally:
            conn.autocommit = False


def build(engine: Engine, name: str, groups, vectors, n_chunks: int, noise: float) -> dict:
    """Load the collection and build its indexes; returns load and build seconds."""
    model, dim = engine.embedder.name, engine.embedder.dimension
    with autocommit(engine) as conn:
        bulk.drop_collection(conn, name)
        bulk.drop_search_indexes(conn, model)
        collection = ensure_collection(conn, name)
    started = time.perf_counter()
    loaded = 0
    with engine.db.connection() as conn:
        for batch in generate(groups, vectors, n_chunks, noise, seed=len(name)):
            write_documents(conn, collection, batch, model)
            loaded += sum(len(item.chunks) for item in batch)
            print(
                f"\r{name}: {loaded:,} chunks, {time.perf_counter() - started:.0f} s", end="", file=sys.stderr
            )
    load_s = time.perf_counter() - started
    print(file=sys.stderr)
    with autocommit(engine) as conn:
        started = time.perf_counter()
        bulk.vacuum_analyze(conn)
        vacuum_s = time.perf_counter() - started
        build_s = bulk.build_search_indexes(conn, model, dim)
        bulk.vacuum_analyze(conn)
    return {
        "load_s": round(load_s, 1),
        "load_chunks_per_s": round(n_chunks / load_s, 1),
        "vacuum_analyze_s": round(vacuum_s, 1),
        "index_build_s": {k: round(v, 1) for k, v in build_s.items()},
    }


def summary(samples: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    """Stage -> {p50_ms, p95_ms}."""
    out = {}
    for stage, values in samples.items():
        s = latency_summary(values)
        out[stage] = {"p50_ms": round(s.p50_ms or 0.0, 1), "p95_ms": round(s.p95_ms or 0.0, 1)}
    return out


def measure(engine: Engine, name: str, queries: list[str], exact_queries: int, recall_queries: int) -> dict:
    """Latency per mode and stage, HNSW recall@10 and lexical overlap with exact BM25."""
    collection = engine.collection(name)
    with engine.db.connection() as conn:
        ids = bulk.document_ids(conn, collection.id)
    # Every 100th document: a filter that keeps about 1% of the chunks.
    one_percent = Filters(document_ids=tuple(ids[::100]))
    engine.search(queries[0], SearchParams(mode="hybrid"), name)  # warm the model and the caches
    latency: dict[str, dict] = {}
    for label, filters in (("", Filters()), ("+filter", one_percent)):
        for mode in ("lexical", "vector", "hybrid"):
            params = SearchParams(mode=mode, k=10, candidates=30, filters=filters)
            stages: dict[str, list[float]] = {}
            for query in queries:
                started = time.perf_counter()
                trace = engine.search(query, params, name)
                stages.setdefault("total", []).append((time.perf_counter() - started) * 1000.0)
                for stage, ms in trace.timings_ms.items():
                    stages.setdefault(stage, []).append(ms)
            latency[mode + label] = summary(stages)
    embedder = engine.embedder
    recall: dict[str, float] = {}
    query_vectors = [embedder.embed_query(query) for query in queries[:recall_queries]]
    with engine.db.connection() as conn:
        for label, filters in (("unfiltered", Filters()), ("filter_1pct", one_percent)):
            hits = []
            for vector in query_vectors:
                approx = vector_search(conn, collection.id, embedder.name, vector, 30, filters=filters)[:10]
                exact = vector_search(
                    conn, collection.id, embedder.name, vector, 10, filters=filters, exact=True
                )
                truth = {cid for cid, _ in exact}
                hits.append(len(truth & {cid for cid, _ in approx}) / max(1, len(truth)))
            recall[label] = round(float(np.mean(hits)), 4)
        overlaps, exact_ms = [], []
        for query in queries[:exact_queries]:
            kwargs = {"k1": 0.9, "b": 0.4}
            approx = bm25_search(conn, collection.id, collection.text_search_config, query, 30, **kwargs)
            started = time.perf_counter()
            exact = bm25_search(
                conn, collection.id, collection.text_search_config, query, 30, exact=True, **kwargs
            )
            exact_ms.append((time.perf_counter() - started) * 1000.0)
            truth = {cid for cid, _ in exact[:10]}
            overlaps.append(len(truth & {cid for cid, _ in approx[:10]}) / max(1, len(truth)))
        sizes = bulk.relation_sizes(conn)
    return {
        "documents": len(ids),
        "filter_documents": len(one_percent.document_ids or ()),
        "latency": latency,
        "hnsw_recall_at_10": recall,
        "lexical_top10_overlap_with_exact": round(float(np.mean(overlaps)), 4) if overlaps else None,
        "exact_bm25_ms": summary({"exact": exact_ms})["exact"] if exact_ms else None,
        "size_bytes": {
            k: v for k, v in sizes.items() if k in {"database", "chunks", "postings", "lexeme_stats"}
        },
        "index_bytes": {
            k: v for k, v in sizes.items() if k.endswith(("_idx", "_pkey")) or k.startswith("chunks_hnsw")
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--chunks", required=True, help="collection size(s), comma-separated, e.g. 10000,100000"
    )
    parser.add_argument("--json", action="store_true", help="print only the JSON object")
    parser.add_argument("--reuse", action="store_true", help="keep a collection that is already fully built")
    parser.add_argument("--queries", type=int, default=100, help="SciFact train queries timed per mode")
    parser.add_argument("--recall-queries", type=int, default=50, help="queries for HNSW recall@10")
    parser.add_argument("--exact-queries", type=int, default=20, help="queries compared with exact BM25")
    parser.add_argument(
        "--stored-vectors-only",
        action="store_true",
        help="embed nothing: reuse stored vectors (see base_chunks)",
    )
    parser.add_argument(
        "--noise", type=float, default=NOISE, help="norm of the noise added to copied vectors"
    )
    args = parser.parse_args()
    sizes = [int(s.replace("_", "")) for s in args.chunks.split(",")]

    root_settings = Settings.from_env().with_(reranker_model="")
    cache = root_settings.data_dir / "scale"
    root = Engine(root_settings)
    groups, vectors, own_vectors = base_chunks(
        root_settings, root, cache, stored_only=args.stored_vectors_only
    )
    embedder = root.embedder
    root.close()
    queries = [json.loads(line)["text"] for line in QUERIES.open()][: args.queries]

    report: dict = {
        "uptime_before": _uptime(),
        "base_chunks": int(vectors.shape[0]),
        "base_chunks_with_own_vector": own_vectors,
        "sizes": {},
    }
    engines = {}
    for n in sizes:
        settings = root_settings.with_(data_dir=cache / str(n), database_url=None)
        engine = Engine(settings)
        engine._embedder = embedder
        engines[n] = engine
        name = f"scale-{n}"
        with engine.db.connection() as conn:
            existing = bulk.collection_chunk_count(conn, name)
        entry: dict = {"reused": bool(args.reuse and existing == n)}
        if not entry["reused"]:
            entry["build"] = build(engine, name, groups, vectors, n, args.noise)
        report["sizes"][str(n)] = entry
    report["uptime_measure"] = _uptime()
    for n in sizes:
        report["sizes"][str(n)].update(
            measure(engines[n], f"scale-{n}", queries, args.exact_queries, args.recall_queries)
        )
        engines[n].close()
    report["uptime_after"] = _uptime()
    if len(sizes) > 1:
        small, large = str(min(sizes)), str(max(sizes))
        report["p95_ratio_largest_to_smallest"] = {
            mode: round(
                report["sizes"][large]["latency"][mode]["total"]["p95_ms"]
                / report["sizes"][small]["latency"][mode]["total"]["p95_ms"],
                2,
            )
            for mode in report["sizes"][small]["latency"]
        }
    if not args.json:
        _table(report)
    print(json.dumps(report, indent=None if args.json else 1))


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def _table(report: dict) -> None:
    print(f"{'chunks':>9} {'mode':<15} {'stage p95 ms (p50)':<60} {'total p95':>9}")
    for n, entry in report["sizes"].items():
        for mode, stages in entry["latency"].items():
            parts = [
                f"{s} {v['p95_ms']:.0f} ({v['p50_ms']:.0f})"
                for s, v in stages.items()
                if s in {"query_embedding", "lexical", "vector"}
            ]
            print(f"{int(n):>9,} {mode:<15} {', '.join(parts):<60} {stages['total']['p95_ms']:>9.0f}")
        print(
            f"{int(n):>9,} HNSW recall@10 {entry['hnsw_recall_at_10']}, lexical top-10 overlap with exact "
            f"{entry['lexical_top10_overlap_with_exact']}, database {entry['size_bytes']['database'] / 2**30:.2f} GiB"
        )
    print(report["uptime_after"])


if __name__ == "__main__":
    main()
