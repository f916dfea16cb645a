"""The ``rag`` command line against the session database (same code path as a user's shell)."""

from __future__ import annotations

import json

import pytest

from rag.cli import build_parser, main


@pytest.fixture
def cli_env(engine, monkeypatch):
    monkeypatch.setenv("RAG_DATA_DIR", str(engine.db.data_dir))
    monkeypatch.setenv("RAG_COLLECTION", engine.settings.collection)
    monkeypatch.setenv("RAG_RERANKER_MODEL", "")
    monkeypatch.setenv("RAG_CHUNK_SIZE", "128")
    monkeypatch.setenv("RAG_CHUNK_OVERLAP", "16")
    return engine


def test_ingest_reports_each_file_and_fails_the_exit_status(cli_env, tmp_path, capsys):
    (tmp_path / "good.md").write_text("# Bees\n\nBees make honey from nectar.\n")
    (tmp_path / "empty.txt").write_bytes(b"")
    assert main(["ingest", str(tmp_path)]) == 1  # one file failed ...
    out = capsys.readouterr().out
    assert "new       good.md" in out and "failed    empty.txt" in out and "empty" in out
    assert "1 new, 0 unchanged, 0 replaced, 1 failed" in out
    assert [d.source_name for d in cli_env.documents()] == ["good.md"]  # ... and the other is stored

    assert main(["ingest", str(tmp_path / "good.md"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["unchanged"] == 1 and summary["embedded"] == 0


def test_docs_search_delete_and_db(cli_env, tmp_path, capsys):
    (tmp_path / "owls.txt").write_text("Owls hunt mice at night with silent flight.")
    assert main(["ingest", str(tmp_path), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["docs", "--json"]) == 0
    [doc] = json.loads(capsys.readouterr().out)
    assert doc["source_name"] == "owls.txt" and doc["chunk_count"] == 1

    assert main(["search", "silent night hunters", "--mode", "hybrid", "--json"]) == 0
    trace = json.loads(capsys.readouterr().out)
    assert trace["candidates"][0]["source_name"] == "owls.txt" and trace["candidates"][0]["kept"]

    assert main(["db", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["embedded"] and status["pgvector_version"] == "0.8.5" and status["documents"] >= 1

    assert main(["delete", str(doc["id"])]) == 0
    assert cli_env.documents() == []


def test_errors_become_one_readable_line(cli_env, capsys):
    assert main(["search", "anything", "--collection", "no-such-collection"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: collection 'no-such-collection' does not exist") and "Traceback" not in err


def test_every_command_is_documented_in_the_readme():
    readme = open("README.md", encoding="utf-8").read()
    commands = build_parser()._subparsers._group_actions[0].choices  # noqa: SLF001 - argparse has no public API
    missing = [name for name in commands if f"rag {name}" not in readme]
    assert not missing, f"commands missing from README: {missing}"
