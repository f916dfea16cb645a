"""Background ingestion throughput: one worker vs today's inline ingest, same corpus, one run.

Rounds alternate the order (inline first, then background; then the other way round) so a warm-up or a
neighbour's load does not favour one mode. Each (round, mode) ingests the same generated files with a
tag in every paragraph, so no chunk's embedding is reused from an earlier round (embeddings are shared
by chunk sha256). Inline: ``Engine.ingest_files`` in this process. Background: ``Engine.enqueue_files``
then one in-process worker (``rag.queue.run_worker_async``, ``until_empty``) on the same models; its time
runs from the enqueue to the last job done, so queue overhead (job rows, input bytes, LISTEN/NOTIFY,
progress writes) is counted.

    PYTHONPATH=. RAG_DATA_DIR=/tmp/bench-queue python benchmarks/queue_throughput.py --files 30 --max-kb 40 --rounds 4
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import threading
import time
from pathlib import Path

from rag import Engine, Settings
from rag.queue import build_app, conninfo_of, run_worker_async

WORDS = (
    "bees honey nectar hive queen worker drone pollen flower summer winter colony wax comb forage "
    "ants fungus garden leaves soil tunnel nest larva river valley mountain forest weather storm "
    "engine database index query vector token chunk embedding search answer question document"
).split()


def corpus(files: int, max_kb: int, tag: str, seed: int = 7) -> list[tuple[str, bytes]]:
    """``files`` text files of 2 KB..``max_kb`` KB of paragraphs (same sizes for every tag)."""
    rng = random.Random(seed)
    out = []
    for i in range(files):
        size = rng.randint(2, max_kb) * 1024
        paragraphs, length = [], 0
        while length < size:
            p = f"[{tag}] " + " ".join(rng.choice(WORDS) for _ in range(rng.randint(30, 90))) + "."
            paragraphs.append(p)
            length += len(p) + 2
        out.append((f"file-{i:03}.txt", "\n\n".join(paragraphs).encode()))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=30)
    parser.add_argument("--max-kb", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    settings = Settings.from_env()
    if not settings.database_url and not Path(settings.data_dir).exists():
        settings = settings.with_(data_dir=Path(tempfile.mkdtemp(prefix="bench-queue-")))
    engine = Engine(settings)
    engine.embedder  # noqa: B018 - loaded before timing
    run = f"{time.time():.0f}"
    totals = {"inline": [0, 0.0], "background": [0, 0.0]}
    for r in range(args.rounds):
        order = ["inline", "background"] if r % 2 == 0 else ["background", "inline"]
        for mode in order:
            files = corpus(args.files, args.max_kb, f"{run}-{r}-{mode}")
            collection = f"bench-{run}-{r}-{mode}"
            started = time.perf_counter()
            if mode == "inline":
                outcomes = engine.ingest_files(files, collection)
                chunks = sum(res.chunks for o in outcomes for res in o.results)
            else:
                jobs = engine.enqueue_files(files, collection)
                app = build_app(conninfo_of(engine), engine)
                asyncio.run(run_worker_async(app, until_empty=True, stop=threading.Event()))
                done = [engine.job(j.id) for j in jobs]
                assert all(j.stage == "done" for j in done), [j.error for j in done if j.stage != "done"]
                chunks = sum(j.chunks_done for j in done)
            seconds = time.perf_counter() - started
            totals[mode][0] += chunks
            totals[mode][1] += seconds
            print(
                f"round {r + 1} {mode:10} {chunks:6} chunks {seconds:7.2f} s {chunks / seconds:7.1f} chunks/s"
            )
    rates = {mode: c / s for mode, (c, s) in totals.items()}
    print(f"inline      {rates['inline']:.1f} chunks/s")
    print(f"background  {rates['background']:.1f} chunks/s (one worker)")
    print(f"ratio       {100 * rates['background'] / rates['inline']:.1f}% of inline")
    engine.close()


if __name__ == "__main__":
    main()
