"""Which collection the app opens, evaluation collections, and checking an upload before ingesting."""

from __future__ import annotations

import json
import uuid

import pytest

from rag import Engine, LoadOptions
from rag.evaluation.corpus import ingest_corpus
from rag.uploads import ingest_files, plan_batch

NOTE = b"# Kettles\n\nDescale the kettle every month with white vinegar.\n"


def fresh(engine: Engine, name: str, data: bytes | None = NOTE) -> str:
    """A new collection unique to this test, with one document unless ``data`` is ``None``."""
    unique = f"{name}-{uuid.uuid4().hex[:8]}"
    if data is None:
        engine.ensure_collection(unique)
    else:
        [result] = engine.ingestor(unique).ingest_bytes(data, f"{name}.md")
        assert result.status == "new"
    return unique


@pytest.fixture
def remembering(engine):
    yield engine
    engine.remember_collection(None)  # the session database is shared by every test


def test_the_last_used_collection_is_the_default_while_it_has_documents(remembering, settings, database):
    older = fresh(remembering, "older")
    newest = fresh(remembering, "newest")
    empty = fresh(remembering, "empty", data=None)
    # Nothing remembered: the collection with the newest document, not an empty one.
    remembering.remember_collection(None)
    assert remembering.default_collection() == newest
    remembering.remember_collection(older)
    assert Engine(settings, db=database).default_collection() == older  # stored, not per object
    remembering.remember_collection(empty)  # empty (e.g. chosen before a CLI ingest elsewhere)
    assert remembering.default_collection() == newest
    remembering.remember_collection("no-such-collection")
    assert remembering.default_collection() == newest


def test_collections_built_by_an_evaluation_are_marked_and_never_the_default(remembering, tmp_path):
    dataset = tmp_path / "tinyfact"
    dataset.mkdir()
    corpus = [{"_id": "d1", "title": "Tea", "text": "Green tea is steeped at 80 degrees for two minutes."}]
    (dataset / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in corpus))
    mine = fresh(remembering, "mine")
    evaluation = f"beir-{uuid.uuid4().hex[:8]}"
    assert ingest_corpus(remembering, dataset / "corpus.jsonl", evaluation) == {"new": 1}  # created here
    assert ingest_corpus(remembering, dataset / "corpus.jsonl", mine) == {"new": 1}  # the user's own
    summaries = {s.name: s for s in remembering.collection_summaries()}
    assert summaries[evaluation].is_evaluation and summaries[evaluation].evaluation == "tinyfact"
    assert summaries[evaluation].documents == 1
    assert not summaries[mine].is_evaluation and summaries[mine].documents == 2
    # The evaluation's own collection (its name derived from the dataset) is marked even if it existed.
    ingest_corpus(remembering, dataset / "corpus.jsonl", mine, own_collection=True)
    assert {s.name: s for s in remembering.collection_summaries()}[mine].is_evaluation

    remembering.remember_collection(evaluation)
    other = fresh(remembering, "other")
    assert remembering.default_collection() == other  # newer documents in evaluation ones do not count


def test_an_upload_is_checked_before_anything_is_read():
    files = [
        ("report.pdf", b"%PDF first"),
        ("notes.xyz", b"what is this"),
        ("report.pdf", b"%PDF second, a different file"),
        ("report.pdf", b"%PDF first"),
        ("empty.txt", b""),
        ("big.txt", b"x" * 2000),
    ]
    plan = plan_batch(files, LoadOptions(max_file_bytes=1000))
    assert [p.name for p in plan] == [
        "report.pdf",
        "notes.xyz",
        "report (2).pdf",
        "report.pdf",
        "empty.txt",
        "big.txt",
    ]
    assert [p.will_ingest for p in plan] == [True, False, True, False, False, False]
    assert "'.xyz' files are not supported" in plan[1].problem and ".pdf" in plan[1].problem
    assert plan[2].original_name == "report.pdf" and "ingested as report (2).pdf" in plan[2].note
    assert plan[3].duplicate_of == 0 and "ingested once" in plan[3].note
    assert "empty" in plan[4].problem and "RAG_MAX_FILE_MB" in plan[5].problem


def test_two_files_with_one_name_both_stay_and_the_upload_reports_overall_progress(engine):
    first, second = NOTE, b"# Kettles\n\nA different note: never boil the kettle dry.\n"
    plan = engine.plan_upload([("kettle.md", first), ("kettle.md", second), ("tea.md", NOTE * 20)])
    events = []
    outcomes = ingest_files(
        engine.ingestor(),
        [(p.name, d) for p, d in zip(plan, (first, second, NOTE * 20), strict=True)],
        events.append,
    )
    assert [o.results[0].status for o in outcomes] == ["new", "new", "new"]
    assert sorted(d.source_name for d in engine.documents()) == ["kettle (2).md", "kettle.md", "tea.md"]
    fractions = [e.batch_fraction for e in events]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    done = [e for e in events if e.stage == "done"]
    assert [e.index for e in done] == [0, 1, 2] and done[-1].batch_chunks == sum(
        r.chunks for o in outcomes for r in o.results
    )
    assert done[-1].eta_s == pytest.approx(0.0, abs=1e-6)
    assert all(e.eta_s is None for e in events if e.batch_fraction < 0.05)
