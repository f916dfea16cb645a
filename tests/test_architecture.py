"""The layering the README and docs/architecture.md describe, checked on the source tree.

- ``pages/``, ``ui/`` and ``app.py`` import the public API (``import rag`` / ``from rag import ...``) only.
- Only ``rag/db/`` issues SQL or touches the connection pool.
- ``rag/`` never imports streamlit.
- Every name in ``rag.__all__`` exists.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import rag

ROOT = Path(__file__).resolve().parents[1]
UI_FILES = sorted([ROOT / "app.py", *(ROOT / "pages").glob("*.py"), *(ROOT / "ui").glob("*.py")])
ENGINE_FILES = sorted((ROOT / "rag").rglob("*.py"))
DB_DIR = ROOT / "rag" / "db"
SQL_METHODS = {"execute", "executemany", "copy"}


def _imported_modules(path: Path) -> list[str]:
    modules = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.append(node.module)
    return modules


@pytest.mark.parametrize("path", UI_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_ui_imports_only_the_public_api(path: Path) -> None:
    deep = [m for m in _imported_modules(path) if m.startswith("rag.")]
    assert not deep, f"{path.relative_to(ROOT)} imports {deep}: import from `rag` instead"


@pytest.mark.parametrize("path", ENGINE_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_engine_never_imports_streamlit(path: Path) -> None:
    assert not [m for m in _imported_modules(path) if m.split(".")[0] == "streamlit"]


@pytest.mark.parametrize(
    "path", [p for p in ENGINE_FILES if DB_DIR not in p.parents], ids=lambda p: str(p.relative_to(ROOT))
)
def test_only_the_database_layer_runs_sql(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    calls = [
        node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in SQL_METHODS
    ]
    pool = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Attribute) and node.attr == "pool"]
    assert not calls and not pool, (
        f"{path.relative_to(ROOT)} runs SQL ({calls}) or uses the pool (lines {pool})"
    )


def test_public_api_names_exist() -> None:
    missing = [name for name in rag.__all__ if not hasattr(rag, name)]
    assert not missing
    assert len(set(rag.__all__)) == len(rag.__all__)
