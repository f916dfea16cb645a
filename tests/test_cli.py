"""The ``rag`` command line against the session database (same code path as a user's shell)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rag.cli import build_parser, main
from rag.cli.common import MODES

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "sentence_transformers", "transformers", "litellm", "pandas", "tqdm", "rich", "ir_measures")


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


def _commands(parser, prefix="rag"):
    """Every command path of a parser, e.g. ``rag docs`` and ``rag eval runs`` (argparse has no public API)."""
    if parser._subparsers is None:  # noqa: SLF001
        return
    for name, sub in parser._subparsers._group_actions[0].choices.items():  # noqa: SLF001
        yield f"{prefix} {name}"
        yield from _commands(sub, f"{prefix} {name}")


def test_every_command_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [command for command in _commands(build_parser()) if command not in readme]
    assert not missing, f"commands missing from README: {missing}"


@pytest.mark.parametrize("argv", [["--help"], ["docs", "--help"], ["eval", "answers", "--help"]])
def test_help_imports_no_heavy_library(argv):
    # A fresh interpreter: this test process has long imported everything.
    code = (
        "import contextlib, io, sys\n"
        "from rag.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        "        main(sys.argv[1:])\n"
        "    except SystemExit:\n"
        "        pass\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, env=env, check=True
    )
    assert done.stdout.strip() == "", f"rag {' '.join(argv)} imported {done.stdout.strip()}"


def test_command_modules_do_not_import_the_entry_module():
    for path in sorted((ROOT / "rag" / "cli").glob("*.py")):
        if path.name in ("__init__.py", "__main__.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                module = node.module or ""
                if node.level:  # relative: from . import x, from .common import y
                    module = "rag.cli" + (f".{module}" if module else "")
                names = [module]
                if module in ("rag", "rag.cli"):
                    names = [f"{module}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                # Only the shared helpers; no entry module, no other command module.
                assert not name.startswith("rag.cli") or name.startswith("rag.cli.common"), (
                    f"{path.name} imports {name}"
                )


def test_cli_modes_are_the_engines():
    from rag.retrieval import MODES as ENGINE_MODES

    assert MODES == ENGINE_MODES


def test_batch_search_reports_a_missing_queries_file(cli_env, tmp_path, capsys):
    status = main(["search", "--queries", str(tmp_path / "none.jsonl"), "--run", str(tmp_path / "r.trec")])
    assert status == 2
    err = capsys.readouterr().err
    assert err.startswith("error: BEIR queries not found") and "Traceback" not in err
