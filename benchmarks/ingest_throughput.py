"""Ingest throughput vs raw ``model.encode`` on the same texts (issue: pipeline overhead, aim >= 0.9).

Usage:
    .venv/bin/python benchmarks/ingest_throughput.py ../shared/data/scifact/corpus.jsonl [--chunk-size 256]

It starts a fresh embedded PostgreSQL in a temporary directory, so it measures a first ingest into an
empty database (HNSW index maintained during the load), then the same file again (all unchanged).
Run it on an otherwise idle machine: both figures share the two cores with nothing else.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from rag.chunking import chunk_document
from rag.config import Settings
from rag.engine import Engine
from rag.loaders import load_path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("path", type=Path)
    parser.add_argument("--chunk-size", type=int, default=Settings().chunk_size)
    parser.add_argument("--chunk-overlap", type=int, default=Settings().chunk_overlap)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="rag-bench-") as tmp:
        Path(tmp).chmod(0o755)  # the embedded server may run as another user when we are root
        settings = Settings(
            data_dir=Path(tmp),
            chunk_size=args.chunk_size,
            chunk_overlap=args.chunk_overlap,
            reranker_model="",
        )
        engine = Engine(settings)
        embedder = engine.embedder
        embedder.embed(["warm up the model"])

        started = time.perf_counter()
        documents = list(load_path(args.path))
        chunks = [
            c for d in documents for c in chunk_document(d, embedder, args.chunk_size, args.chunk_overlap)
        ]
        prepare_s = time.perf_counter() - started
        texts = list(dict.fromkeys(c.embedding_input for c in chunks))

        started = time.perf_counter()
        embedder.embed(texts, batch_size=settings.embedding_batch_size)
        encode_s = time.perf_counter() - started

        statuses: dict[str, int] = {}
        started = time.perf_counter()
        stored = 0
        for result in engine.ingestor("bench").ingest_paths([args.path]):
            statuses[result.status] = statuses.get(result.status, 0) + 1
            stored += result.chunks
        ingest_s = time.perf_counter() - started

        again: dict[str, int] = {}
        embedded_again = 0
        started = time.perf_counter()
        for result in engine.ingestor("bench").ingest_paths([args.path]):
            again[result.status] = again.get(result.status, 0) + 1
            embedded_again += result.embedded
        again_s = time.perf_counter() - started
        engine.close()

    report = {
        "documents": len(documents),
        "chunks": stored,
        "unique_chunk_texts": len(texts),
        "load_and_chunk_s": round(prepare_s, 2),
        "raw_encode_s": round(encode_s, 2),
        "raw_encode_chunks_per_s": round(len(texts) / encode_s, 1),
        "ingest_wall_s": round(ingest_s, 2),
        "ingest_chunks_per_s": round(stored / ingest_s, 1),
        "ratio_ingest_to_raw_encode": round((stored / ingest_s) / (len(texts) / encode_s), 3),
        "first_ingest": statuses,
        "second_ingest": again,
        "second_ingest_embedded": embedded_again,
        "second_ingest_s": round(again_s, 2),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
