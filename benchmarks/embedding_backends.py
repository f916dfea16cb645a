"""Embedding backends in one run: chunks/s on the same SciFact chunks, query p50, nDCG@10 (vector mode).

Usage:
    .venv/bin/python benchmarks/embedding_backends.py --data ../shared/data/scifact \\
        [--chunks 2000] [--rounds 3] [--queries 200] [--ndcg-docs 0] [--write docs/performance.md]

Throughput: the first ``--chunks`` unique chunk texts of the corpus (the ingest chunker, default chunk
size) are embedded by every backend in each round, the order of the backends rotating from round to
round so that load drift on a shared machine hits all of them alike; the headline is each backend's
median over rounds of (its chunks/s / torch fp32's chunks/s in the same round). Query latency: each
of ``--queries`` SciFact queries embedded once per backend, interleaved the same way. nDCG@10: the
corpus ingested once per backend into its own collection and scored in vector mode on SciFact train
with the project's evaluation (``rag.evaluation.retrieval_eval.evaluate_retrieval``, ir-measures);
``--ndcg-docs N`` ingests only the first N documents (a quick check: its nDCG is not comparable to
the full-corpus 0.6801), ``--ndcg-docs -1`` skips nDCG. With ``--write`` the table replaces the
"Embedding backends" section of that Markdown file (created when missing). Models are built into
a temporary data directory unless ``--cache-dir`` names one.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from rag.chunking import chunk_document
from rag.config import Settings
from rag.embedding import Embedder, load_embedder
from rag.embedding_backends import EmbeddingBackend
from rag.embedding_runtime import RuntimeEmbedder
from rag.engine import Engine
from rag.evaluation.datasets import load_beir
from rag.evaluation.metrics import latency_summary
from rag.evaluation.retrieval_eval import evaluate_retrieval
from rag.loaders import load_path

BACKENDS = ["torch", "onnx-fp32", "onnx-qint8", "openvino-fp32", "openvino-bf16", "openvino-qint8"]
BASELINE = "torch"
NDCG_TOLERANCE = 0.005
SPEED_FLOOR = 2.0
SECTION = "## Embedding backends"
NOTES = (
    "Backends: `torch` is sentence-transformers on PyTorch; `onnx-*` and `openvino-*` are the same "
    "MiniLM exported once by `torch.onnx.export` (`rag.embedding_backends`) and run by "
    "`rag.embedding_runtime` (Rust tokenizer, mean pooling, L2 norm; no torch). `onnx-qint8` is "
    "`onnxruntime.quantization.quantize_dynamic` with per-channel weights (int8 on VNNI CPUs, uint8 "
    "elsewhere), keeping the feed-forward down-projections and the last layer fp32 (all MatMuls int8 gave "
    "a worst per-text cosine to fp32 of 0.970). `openvino-qint8` is static int8 by NNCF "
    "(`nncf.quantize`, transformer scheme with SmoothQuant) calibrated on 300 Python standard-library "
    "docstring paragraphs and snippets (offline, not evaluation data), keeping the 6 feed-forward "
    "down-projections fp32 (`OPENVINO_FP32_PATTERNS`), its other layers in f32. `openvino-bf16` is the fp32 "
    "model run with bfloat16 arithmetic (`INFERENCE_PRECISION_HINT=bf16`, CPUs with AVX512_BF16 or AMX; "
    "OpenVINO would otherwise pick bf16 silently on such CPUs, so `openvino-fp32` sets f32). Threads: ONNX Runtime and OpenVINO run one "
    "intra-op thread per core (`os.cpu_count()`), so ingest batches use every core (`onnx-qint8-1thread` "
    "above is the same model on one thread, for comparison); ONNX Runtime's workers do not spin-wait "
    "between passes (`session.intra_op.allow_spinning=0`), so an idle embedder leaves the cores to "
    "PostgreSQL and the local LLM."
)


def parse_tag(tag: str) -> EmbeddingBackend:
    runtime, _, quantization = tag.partition("-")
    return EmbeddingBackend.parse(runtime, quantization)


def first_chunks(corpus: Path, embedder: Embedder, settings: Settings, limit: int) -> list[str]:
    """The first ``limit`` unique embedding inputs the ingest chunker makes from ``corpus``."""
    texts: dict[str, None] = {}
    for document in load_path(corpus):
        for chunk in chunk_document(document, embedder, settings.chunk_size, settings.chunk_overlap):
            texts[chunk.embedding_input] = None
        if len(texts) >= limit:
            break
    return list(texts)[:limit]


def throughput(embedders: dict[str, Embedder], texts: list[str], rounds: int, batch: int) -> dict[str, Any]:
    """Rounds of every backend embedding ``texts``, rotated; chunks/s and ratio to the baseline per round."""
    tags = list(embedders)
    speeds: dict[str, list[float]] = {tag: [] for tag in tags}
    for round_index in range(rounds):
        order = tags[round_index % len(tags) :] + tags[: round_index % len(tags)]
        for tag in order:
            started = time.perf_counter()
            embedders[tag].embed(texts, batch_size=batch)
            speeds[tag].append(len(texts) / (time.perf_counter() - started))
            print(f"round {round_index + 1} {tag}: {speeds[tag][-1]:.1f} chunks/s", flush=True)
    return {
        tag: {
            "chunks_per_s": round(statistics.median(speeds[tag]), 1),
            "ratio_to_torch": round(
                statistics.median(s / b for s, b in zip(speeds[tag], speeds[BASELINE], strict=True)), 2
            ),
            "rounds": [round(s, 1) for s in speeds[tag]],
        }
        for tag in tags
    }


def query_latency(embedders: dict[str, Embedder], queries: list[str]) -> dict[str, dict[str, float]]:
    """p50 / p95 ms of ``embed_query`` per backend, queries interleaved across backends."""
    tags = list(embedders)
    samples: dict[str, list[float]] = {tag: [] for tag in tags}
    for index, query in enumerate(queries):
        for tag in tags[index % len(tags) :] + tags[: index % len(tags)]:
            started = time.perf_counter()
            embedders[tag].embed_query(query)
            samples[tag].append((time.perf_counter() - started) * 1000)
    return {
        tag: {
            "p50_ms": round((s := latency_summary(v)).p50_ms or 0.0, 1),
            "p95_ms": round(s.p95_ms or 0.0, 1),
        }
        for tag, v in samples.items()
    }


def subset_dataset(data: Path, documents: int, into: Path) -> Path:
    """A BEIR directory with the first ``documents`` corpus lines and the full queries and qrels."""
    into.mkdir(parents=True, exist_ok=True)
    with (
        (data / "corpus.jsonl").open(encoding="utf-8") as source,
        (into / "corpus.jsonl").open("w") as target,
    ):
        for index, line in enumerate(source):
            if index >= documents:
                break
            target.write(line)
    (into / "queries.jsonl").symlink_to((data / "queries.jsonl").resolve())
    (into / "qrels").symlink_to((data / "qrels").resolve())
    return into


def ndcg(
    engine: Engine, embedders: dict[str, Embedder], dataset: Path, runs: Path
) -> dict[str, dict[str, float]]:
    """nDCG@10 in vector mode on SciFact train per backend, each in its own collection."""
    results = {}
    for tag, embedder in embedders.items():
        engine._embedder = embedder
        started = time.perf_counter()
        _, [vector], counts = evaluate_retrieval(
            engine, dataset, "train", modes=("vector",), collection=f"scifact-{tag}", run_dir=runs
        )
        results[tag] = {
            "ndcg@10": round(vector.metrics.ndcg_at_10, 4),
            "seconds": round(time.perf_counter() - started),
        }
        print(f"nDCG@10 {tag}: {results[tag]['ndcg@10']} ({counts})", flush=True)
    return results


def decide(report: dict[str, Any]) -> str:
    """The sentence saying which backend passes the floors (fastest within the nDCG tolerance)."""
    speed, quality = report["throughput"], report.get("ndcg")
    if not quality:
        return "No nDCG@10 was measured in this run, so no backend can be shown to pass the floors."
    baseline = quality[BASELINE]["ndcg@10"]
    eligible = [t for t in quality if t != BASELINE and quality[t]["ndcg@10"] >= baseline - NDCG_TOLERANCE]
    if not eligible:
        return f"No backend stays within {NDCG_TOLERANCE} nDCG@10 of torch fp32 ({baseline})."
    best = max(eligible, key=lambda t: speed[t]["ratio_to_torch"])
    verdict = "passes" if speed[best]["ratio_to_torch"] >= SPEED_FLOOR else "does not reach"
    return (
        f"Fastest backend within {NDCG_TOLERANCE} nDCG@10 of torch fp32: {best}, "
        f"{speed[best]['ratio_to_torch']}x torch fp32 chunks/s; it {verdict} the {SPEED_FLOOR}x floor."
    )


def markdown(report: dict[str, Any]) -> str:
    """The "Embedding backends" section: command, machine load, the table and the verdict."""
    lines = [
        SECTION,
        "",
        f"Measured by `{report['command']}` ({report['date']}; `uptime` before: {report['uptime_before']}; "
        f"after: {report['uptime_after']}; {os.cpu_count()} cores shared with other work). "
        f"{report['chunks']} SciFact chunks embedded by every backend in each of {report['rounds']} "
        "rounds, backend order rotated per round; ratio = median over rounds of chunks/s divided by "
        "torch fp32's in the same round. Query p50/p95: one `embed_query` per SciFact train query and "
        f"backend ({report['queries']} queries, interleaved). nDCG@10: vector mode, SciFact train, "
        f"{report['ndcg_scope']}.",
        "",
        "| backend | chunks/s | ratio to torch fp32 | query p50 ms | query p95 ms | nDCG@10 |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for tag, speed in report["throughput"].items():
        latency = report["query_latency"].get(tag, {})
        quality = (report.get("ndcg") or {}).get(tag, {}).get("ndcg@10", "not measured")
        lines.append(
            f"| {tag} | {speed['chunks_per_s']} | {speed['ratio_to_torch']} | {latency.get('p50_ms', '')} | "
            f"{latency.get('p95_ms', '')} | {quality} |"
        )
    lines += ["", report["verdict"], "", NOTES, ""]
    return "\n".join(lines)


def write_section(path: Path, section: str) -> None:
    """Replace (or append) the "Embedding backends" section of ``path``, leaving other sections alone."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Performance\n"
    if SECTION in text:
        start = text.index(SECTION)
        following = text.find("\n## ", start + len(SECTION))
        text = text[:start] + section + (text[following + 1 :] if following != -1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text.rstrip("\n") + "\n", encoding="utf-8")


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, required=True, help="BEIR SciFact directory")
    parser.add_argument("--chunks", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument(
        "--ndcg-docs", type=int, default=0, help="0: the whole corpus; N: first N documents; -1: skip"
    )
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--cache-dir", type=Path, default=None, help="where built models are kept")
    parser.add_argument("--write", type=Path, default=None, help="Markdown file to update")
    args = parser.parse_args()

    report: dict[str, Any] = {
        "command": "python benchmarks/embedding_backends.py "
        + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v is not None and k != "data"
        )
        + " --data <scifact>",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "uptime_before": uptime(),
        "chunks": args.chunks,
        "rounds": args.rounds,
        "queries": args.queries,
    }
    with tempfile.TemporaryDirectory(prefix="rag-bench-backends-") as tmp:
        Path(tmp).chmod(0o755)  # the embedded server may run as another user when we are root
        settings = Settings(data_dir=Path(tmp), reranker_model="", embedding_backend="torch")
        cache = args.cache_dir or settings.model_cache_dir
        tags = args.backends.split(",")
        embedders: dict[str, Embedder] = {
            tag: load_embedder(settings.embedding_model, parse_tag(tag), cache) for tag in tags
        }
        if "onnx-qint8" in embedders:  # threads: the same qint8 model on one thread instead of all cores
            qint8 = embedders["onnx-qint8"]
            assert isinstance(qint8, RuntimeEmbedder)
            embedders["onnx-qint8-1thread"] = RuntimeEmbedder(
                qint8.directory, qint8.backend, qint8.name, threads=1
            )
        texts = first_chunks(args.data / "corpus.jsonl", embedders[BASELINE], settings, args.chunks)
        report["chunks"] = len(texts)
        for embedder in embedders.values():
            embedder.embed(texts[:16])  # warm up every runtime before the first timed round
        report["throughput"] = throughput(embedders, texts, args.rounds, settings.embedding_batch_size)
        queries = list(load_beir(args.data, "train").queries.values())[: args.queries]
        report["query_latency"] = query_latency(embedders, queries)
        embedders.pop("onnx-qint8-1thread", None)
        if args.ndcg_docs >= 0:
            dataset = (
                args.data
                if args.ndcg_docs == 0
                else subset_dataset(args.data, args.ndcg_docs, Path(tmp) / "subset")
            )
            report["ndcg_scope"] = (
                "the whole corpus (5,183 abstracts)"
                if args.ndcg_docs == 0
                else f"ONLY the first {args.ndcg_docs} corpus documents (a quick check, not comparable to 0.6801)"
            )
            engine = Engine(settings)
            report["ndcg"] = ndcg(engine, embedders, dataset, Path(tmp) / "runs")
            engine.close()
        else:
            report["ndcg_scope"] = "not measured in this run"
    report["uptime_after"] = uptime()
    report["verdict"] = decide(report)
    print(json.dumps(report, indent=2))
    if args.write:
        write_section(args.write, markdown(report))


if __name__ == "__main__":
    main()
