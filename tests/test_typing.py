"""mypy on ``rag/`` with the settings in pyproject.toml ``[tool.mypy]``: no errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from mypy import api

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_mypy_reports_no_errors_on_the_engine() -> None:
    stdout, stderr, status = api.run(["--config-file", str(ROOT / "pyproject.toml"), str(ROOT / "rag")])
    assert status == 0, stdout + stderr
