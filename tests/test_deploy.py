"""The deployment files parse and say what the issue asks for."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _compose_command() -> list[str] | None:
    if (
        shutil.which("docker")
        and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0
    ):
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def test_docker_compose_config_parses():
    command = _compose_command()
    if command is None:
        pytest.skip("no docker compose client on this machine")
    out = subprocess.run(
        [*command, "-f", str(ROOT / "docker-compose.yml"), "config", "--format", "json"]
        if command == ["docker", "compose"]
        else [*command, "-f", str(ROOT / "docker-compose.yml"), "config"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "POSTGRES_PASSWORD": "test-only"},
    ).stdout
    if command == ["docker", "compose"]:
        services = json.loads(out)["services"]
        assert services["db"]["image"].startswith("pgvector/pgvector:pg17")
        assert "db:5432" in services["app"]["environment"]["DATABASE_URL"]
    else:
        assert "pgvector/pgvector:pg17" in out and "db:5432" in out and "8501" in out
        assert "healthcheck" in out
    assert "worker" in out and "rag" in out  # the background-ingestion worker service


def test_compose_has_a_scalable_worker_service():
    import yaml

    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    worker = services["worker"]
    assert worker["command"][:2] == ["rag", "worker"]
    assert "db:5432" in worker["environment"]["DATABASE_URL"]
    assert "ports" not in worker and "container_name" not in worker  # so --scale worker=N works


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    command = "bash scripts/setup.sh --dev && .venv/bin/pytest"
    assert command in readme and command in ci


def test_compose_requires_a_password_and_publishes_on_localhost_only():
    command = _compose_command()
    if command is None:
        pytest.skip("no docker compose client on this machine")
    env = {key: value for key, value in os.environ.items() if key != "POSTGRES_PASSWORD"}
    refused = subprocess.run(
        [*command, "-f", str(ROOT / "docker-compose.yml"), "config"], capture_output=True, text=True, env=env
    )
    assert refused.returncode != 0 and "POSTGRES_PASSWORD" in refused.stderr
    out = subprocess.run(
        [*command, "-f", str(ROOT / "docker-compose.yml"), "config"],
        capture_output=True,
        text=True,
        check=True,
        env={**env, "POSTGRES_PASSWORD": "test-only"},
    ).stdout
    assert "127.0.0.1:8501:8501" in out
    assert out.count("healthcheck:") == 2  # db and app


def test_image_runs_unprivileged_and_never_copies_secrets():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "\nUSER rag\n" in dockerfile
    assert (
        "COPY .streamlit ./.streamlit" not in dockerfile
        and "secrets.toml" not in dockerfile.split("COPY")[-1]
    )
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert ".streamlit/secrets.toml" in ignored and "**/secrets.toml" in ignored
