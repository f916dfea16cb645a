"""Impact-ordered postings: kept exact under any mix of writes, by concurrent processes, and searched
with the same scores as exact BM25 (real embedded PostgreSQL, real MiniLM)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import assert_bm25_statistics_match_recount
from rag import Filters
from rag.db import search as search_sql
from rag.db.postings import IMPACT_B, IMPACT_K1, refresh_impacts
from rag.db.search import bm25_search
from rag.retrieval import SearchParams

ROOT = Path(__file__).resolve().parents[1]
WORDS = (
    "cell protein gene tumor immune receptor signal pathway brain neuron memory insulin glucose heart "
    "muscle virus vaccine antibody enzyme membrane mutation cancer blood liver kidney bone sleep"
).split()


def _document(rng: random.Random, doc_id: str, words: int) -> dict[str, str]:
    text = " ".join(rng.choice(WORDS) for _ in range(words))
    return {"_id": doc_id, "title": f"Study {doc_id}", "text": text + "."}


def _write_jsonl(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _assert_same_ranking(found: list[tuple[int, float]], expected: list[tuple[int, float]]) -> None:
    assert [cid for cid, _ in found] == [cid for cid, _ in expected]
    assert [score for _, score in found] == pytest.approx([score for _, score in expected], rel=1e-9)


def _assert_statistics_match_recount(engine) -> None:
    """N, total length, document frequencies and every posting row equal a recount from the chunks."""
    cid = engine.collection().id
    with engine.db.connection() as conn:
        stored_postings = set(
            conn.execute(
                "SELECT chunk_id, lexeme, tf FROM postings WHERE collection_id = %(c)s", {"c": cid}
            ).fetchall()
        )
        recount_postings = set(
            conn.execute(
                "SELECT ch.id, u.lexeme, coalesce(cardinality(u.positions), 1) FROM chunks ch, unnest(ch.lexemes) u"
                " WHERE ch.collection_id = %(c)s",
                {"c": cid},
            ).fetchall()
        )
        wrong_impacts = conn.execute(
            "SELECT count(*) FROM postings p JOIN chunks ch ON ch.id = p.chunk_id JOIN collections col ON col.id = p.collection_id"
            " WHERE p.collection_id = %(c)s AND abs(p.impact - p.tf * (%(k1)s + 1) / (p.tf + %(k1)s * (1 - %(b)s"
            " + %(b)s * ch.lexeme_count / col.impact_avgdl))) > 1e-5",
            {"c": cid, "k1": IMPACT_K1, "b": IMPACT_B},
        ).fetchone()
    assert_bm25_statistics_match_recount(engine)
    assert stored_postings == recount_postings
    assert wrong_impacts[0] == 0


def test_statistics_agree_with_a_recount_after_inserts_replacements_and_deletes(engine, tmp_path):
    rng = random.Random(7)
    live: dict[str, int] = {}
    for step in range(12):
        action = rng.choice(["insert", "insert", "replace", "delete"]) if live else "insert"
        if action == "insert":
            rows = [_document(rng, f"s{step}d{i}", rng.randint(3, 40)) for i in range(rng.randint(1, 4))]
            results = list(engine.ingestor().ingest_paths([_write_jsonl(tmp_path / f"{step}.jsonl", rows)]))
            assert {r.status for r in results} <= {"new", "replaced"}
        elif action == "replace":
            # The same source name with other bytes replaces the stored version in one transaction.
            # A row document is named "<file>#<_id>": the same row with new text in a same-named file.
            file_name, doc_id = rng.choice(engine.documents()).source_name.split("#")
            path = _write_jsonl(tmp_path / file_name, [_document(rng, doc_id, rng.randint(3, 40))])
            assert [r.status for r in engine.ingestor().ingest_paths([path])] == ["replaced"]
        else:
            engine.delete_documents([rng.choice(engine.documents()).id])
        live = {d.source_name: d.id for d in engine.documents()}
        _assert_statistics_match_recount(engine)
    assert live  # the sequence ends with documents left to check


def test_impact_heads_give_exact_bm25_scores(engine, tmp_path):
    rng = random.Random(3)
    rows = [_document(rng, f"d{i}", rng.randint(5, 60)) for i in range(60)]
    list(engine.ingestor().ingest_paths([_write_jsonl(tmp_path / "c.jsonl", rows)]))
    collection = engine.collection()
    kwargs = {"k1": 0.9, "b": 0.4}
    with engine.db.connection() as conn:
        for query in ("insulin glucose liver", "tumor immune antibody vaccine", "sleep memory neuron brain"):
            exact = bm25_search(conn, collection.id, "english", query, 20, exact=True, **kwargs)
            # Every term's postings fit in the head: the same chunks, the same scores.
            _assert_same_ranking(bm25_search(conn, collection.id, "english", query, 20, **kwargs), exact)
            # Heads of 3 postings: fewer chunks are seen, but each returned score is its exact score.
            exact_scores = dict(
                bm25_search(conn, collection.id, "english", query, 1000, exact=True, **kwargs)
            )
            pruned = bm25_search(conn, collection.id, "english", query, 20, head_size=3, **kwargs)
            assert 0 < len(pruned) <= 3 * 4
            assert all(score == pytest.approx(exact_scores[cid]) for cid, score in pruned)


@pytest.mark.parametrize("filtered_exact_max", [20_000, 0])
def test_filtered_search_matches_exact_for_both_strategies(engine, tmp_path, monkeypatch, filtered_exact_max):
    monkeypatch.setattr(search_sql, "FILTERED_EXACT_MAX", filtered_exact_max)
    rng = random.Random(5)
    rows = [_document(rng, f"d{i}", rng.randint(5, 40)) for i in range(40)]
    list(engine.ingestor().ingest_paths([_write_jsonl(tmp_path / "c.jsonl", rows)]))
    ids = [d.id for d in engine.documents()]
    filters = Filters(document_ids=ids[::5])
    collection = engine.collection()
    with engine.db.connection() as conn:
        for query in ("cell protein gene", "heart muscle blood"):
            exact = bm25_search(
                conn, collection.id, "english", query, 10, k1=0.9, b=0.4, filters=filters, exact=True
            )
            found = bm25_search(conn, collection.id, "english", query, 10, k1=0.9, b=0.4, filters=filters)
            assert exact
            _assert_same_ranking(found, exact)
    trace = engine.search("cell protein gene", SearchParams(mode="lexical", k=5, filters=filters))
    assert {h.document_id for h in trace.hits} <= set(filters.document_ids or ())


def test_impacts_are_refreshed_when_the_average_length_drifts(engine, tmp_path):
    rng = random.Random(11)
    short = [_document(rng, f"short{i}", 4) for i in range(10)]
    list(engine.ingestor().ingest_paths([_write_jsonl(tmp_path / "a.jsonl", short)]))
    long = [_document(rng, f"long{i}", 60) for i in range(10)]
    list(engine.ingestor().ingest_paths([_write_jsonl(tmp_path / "b.jsonl", long)]))
    cid = engine.collection().id
    with engine.db.connection() as conn:
        before = conn.execute("SELECT impact_avgdl FROM collections WHERE id = %(c)s", {"c": cid}).fetchone()[
            0
        ]
        assert refresh_impacts(conn, cid) is True
        after, avgdl = conn.execute(
            "SELECT impact_avgdl, lexeme_total::float8 / chunk_count FROM collections WHERE id = %(c)s",
            {"c": cid},
        ).fetchone()
        assert refresh_impacts(conn, cid) is False  # nothing drifted since
    assert after == pytest.approx(avgdl) and after > 2 * before
    _assert_statistics_match_recount(engine)  # every impact recomputed with the new average


def test_two_ingest_processes_write_one_collection_at_once(engine, tmp_path):
    rng = random.Random(13)
    folders = []
    for name in ("a", "b"):
        # One file per document: the rows of one JSONL file are written in one transaction, so only
        # separate files give each process several batches to interleave with the other's.
        folder = tmp_path / name
        folder.mkdir()
        for i in range(400):
            row = _document(rng, f"{name}{i}", rng.randint(20, 60))
            (folder / f"{row['_id']}.txt").write_text(f"{row['title']}\n\n{row['text']}\n")
        folders.append(folder)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "RAG_DATA_DIR": str(engine.db.data_dir),
        "RAG_COLLECTION": engine.settings.collection,
        "RAG_RERANKER_MODEL": "",
        "RAG_CHUNK_SIZE": "128",
        "RAG_CHUNK_OVERLAP": "16",
        "HF_HUB_OFFLINE": "1",
    }
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "rag.cli", "ingest", str(path), "--json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for path in folders
    ]
    outputs = [p.communicate(timeout=600) for p in processes]
    for process, (out, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err[-2000:]
        assert json.loads(out.strip().splitlines()[-1])["new"] == 400
    documents = engine.documents()
    assert len(documents) == 800
    ids = {name: [d.id for d in documents if d.source_name.startswith(name)] for name in ("a", "b")}
    # Their transactions interleaved (each process wrote several batches): the writes really raced.
    assert min(ids["a"]) < max(ids["b"]) and min(ids["b"]) < max(ids["a"])
    _assert_statistics_match_recount(engine)
