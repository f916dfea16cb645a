"""``rag models``: the embedding model, the reranker and the LLM choices; test, choose, download.

``rag models`` lists, ``rag models test MODEL`` sends one short completion, ``rag models use MODEL``
remembers the installation's LLM (``--reset`` forgets it), ``rag models pull [NAME]`` downloads the
cross-encoder with a progress bar. The engine (torch, LiteLLM) is imported only when a command runs.
"""

from __future__ import annotations

import argparse
import os
import sys

from rag.cli.common import EXIT_FAILED, EXIT_OK, open_engine, print_json, print_table, usage_error


def reranker_line(engine) -> str:
    """One short line about the reranker, e.g. ``Reranker: on (cross-encoder/...)`` (no model load)."""
    available = engine.reranker_availability()
    name = engine.settings.reranker_model
    if available.present:
        return f"Reranker: on ({name})"
    if not name:
        return "Reranker: off (disabled: RAG_RERANKER_MODEL is empty)"
    return f"Reranker: off, not downloaded ({name}); fix: {available.fix}"


def cmd_models(args: argparse.Namespace) -> int:
    """Print the embedding model, the reranker status and the LLM choices with their readiness.

    Waits up to 1.5 s for an Ollama server at ``OLLAMA_API_BASE``. Key values are never printed, only
    the names of missing keys. With ``--json``, one JSON object instead.

    Returns:
        0; 2 (with ``error:`` on stderr) when the database cannot be opened.
    """
    with open_engine(args) as engine:
        catalog = engine.llm_choices()
        settings = engine.settings
        availability = engine.reranker_availability()
        line = reranker_line(engine)
    env_wins = bool(os.environ.get("RAG_LLM_MODEL"))
    if args.json:
        print_json(
            {
                "embedding_model": settings.embedding_model,
                "reranker": {
                    "name": settings.reranker_model,
                    "present": availability.present,
                    "message": availability.message,
                    "fix": availability.fix,
                },
                "llm_model": settings.llm_model,
                "llm_model_from_environment": env_wins,
                "ollama_status": catalog.ollama_status,
                "choices": [
                    {
                        "model": c.model,
                        "label": c.label,
                        "source": c.source,
                        "ready": c.ready,
                        "missing_keys": list(c.missing_keys),
                        "detail": c.detail,
                        "current": c.current,
                    }
                    for c in catalog.choices
                ],
                "notes": list(catalog.notes),
            }
        )
        return EXIT_OK
    print(f"Embedding model: {settings.embedding_model}")
    print(line)
    print(f"LLM: {settings.llm_model}" + (" (RAG_LLM_MODEL in the environment wins)" if env_wins else ""))
    print(catalog.ollama_status)
    rows = [[("*" if c.current else ""), c.model, c.label, _status(c)] for c in catalog.choices]
    print_table(["", "model", "name", "status"], rows, title="LLM choices (* = current)")
    for note in catalog.notes:
        print(f"note: {note}", file=sys.stderr)
    print("Choose one with `rag models use MODEL`; try it with `rag models test MODEL`.")
    return EXIT_OK


def _status(choice) -> str:
    """``ready``, ``missing KEY`` (names only), or why a local or Ollama model is not ready."""
    if choice.ready:
        return "ready"
    if choice.missing_keys:
        return "missing " + ", ".join(choice.missing_keys)
    return choice.detail


def cmd_models_test(args: argparse.Namespace) -> int:
    """Send one short completion to ``MODEL`` (default: the current LLM) and print the latency.

    Returns:
        0 when the model answered; 1 (the error on stderr) when it did not.
    """
    with open_engine(args) as engine:
        result = engine.test_llm(args.model, mock_response=os.environ.get("RAG_LLM_MOCK_RESPONSE") or None)
    if result.ok:
        print(f"{result.model}: ok in {result.latency_ms:.0f} ms, replied {result.reply!r}")
        return EXIT_OK
    print(f"{result.model}: failed after {result.latency_ms:.0f} ms: {result.error}", file=sys.stderr)
    return EXIT_FAILED


def cmd_models_use(args: argparse.Namespace) -> int:
    """Remember ``MODEL`` as this installation's LLM (the app and the CLI use it); ``--reset`` forgets it.

    Returns:
        0; 2 (with ``error:`` on stderr) without a model and without ``--reset``, or for an empty name.
    """
    if not args.reset and not args.model:
        return usage_error("give a model, e.g. `rag models use ollama_chat/llama3.2`, or --reset")
    if args.reset and args.model:
        return usage_error("give a model or --reset, not both")
    with open_engine(args) as engine:
        engine.choose_llm(None if args.reset else args.model)
        current = engine.settings.llm_model
    print(f"LLM: {current}" + (" (the stored choice was forgotten)" if args.reset else ""))
    if os.environ.get("RAG_LLM_MODEL"):
        print(
            "note: RAG_LLM_MODEL is set in the environment and wins over the stored choice", file=sys.stderr
        )
    return EXIT_OK


def cmd_models_pull(args: argparse.Namespace) -> int:
    """Download the reranker (``NAME`` or ``RAG_RERANKER_MODEL``) into the Hugging Face cache.

    A ``tqdm`` bar on stderr shows the bytes; a model already cached is not fetched again.

    Returns:
        0; 2 (one ``error:`` line on stderr) when the Hub cannot be reached, the repository is unknown
        or holds no CrossEncoder.
    """
    from rag.config import Settings
    from rag.engine import Engine

    settings = Settings.from_env()
    if args.name:
        settings = settings.with_(reranker_model=args.name)
    engine = Engine(settings)  # the download needs no database: nothing is opened
    result = engine.pull_reranker()
    if result.already_present:
        print(f"{result.name} is already in {result.path}")
    else:
        megabytes = result.downloaded_bytes / 1e6
        print(f"{result.name}: {megabytes:.1f} MB in {result.seconds:.1f} s to {result.path}")
    return EXIT_OK


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``models`` (with ``test``, ``use`` and ``pull``) to the ``rag`` parser's subcommands."""
    p = subparsers.add_parser(
        "models", help="embedding model, reranker and LLM choices; test, choose, download"
    )
    p.add_argument("--json", action="store_true", help="print everything as one JSON object")
    p.set_defaults(func=cmd_models)
    sub = p.add_subparsers(dest="models_command")

    test = sub.add_parser("test", help="send one short completion to a model and show the latency")
    test.add_argument("model", nargs="?", help="LiteLLM model string (default: the current LLM)")
    test.set_defaults(func=cmd_models_test)

    use = sub.add_parser("use", help="remember the LLM for this installation (app and CLI)")
    use.add_argument("model", nargs="?", help="LiteLLM model string, e.g. ollama_chat/llama3.2")
    use.add_argument("--reset", action="store_true", help="forget the stored choice")
    use.set_defaults(func=cmd_models_use)

    pull = sub.add_parser("pull", help="download the reranker (cross-encoder) with a progress bar")
    pull.add_argument("name", nargs="?", help="Hub model id (default RAG_RERANKER_MODEL)")
    pull.set_defaults(func=cmd_models_pull)
