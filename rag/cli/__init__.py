"""The ``rag`` command line: corpus commands, search, ask, evaluation and models.

Each command group lives in its own module (:mod:`rag.cli.corpus`, :mod:`rag.cli.sharing`,
:mod:`rag.cli.search`, :mod:`rag.cli.ask`, :mod:`rag.cli.evaluate`, :mod:`rag.cli.models`) with a ``register(subparsers)`` function that adds its
commands to the parser handed in; what they share is in :mod:`rag.cli.common`. None of them imports
this module back. Heavy libraries (torch, sentence-transformers, LiteLLM, pandas, tqdm, rich,
ir-measures) are imported inside the command that needs them, so ``rag --help`` is fast.

Library errors (``rag.errors.RagError``) become one readable line on stderr and exit status 2; the
library itself never prints (STYLE.md practice 9).
"""

from __future__ import annotations

import argparse
import signal
from collections.abc import Sequence

from rag.cli import ask, corpus, evaluate, jobs, models, search, sharing
from rag.cli.common import quiet_libraries, run_command

# In the order of ``rag --help``: ingest, docs, delete, reembed, db, share, unshare, members, search,
# ask, eval, models.
COMMAND_MODULES = (corpus, jobs, sharing, search, ask, evaluate, models)


def build_parser() -> argparse.ArgumentParser:
    """Build the ``rag`` argument parser with every command (each documented in its ``--help``).

    Returns:
        The parser; its parsed arguments carry the command function as ``func``.
    """
    parser = argparse.ArgumentParser(prog="rag", description="Chat with your documents: engine commands.")
    parser.add_argument(
        "--user",
        help="act as this user: see and change only its conversations, runs and the collections it owns "
        "or that are shared with it (default RAG_USER, else the local user 'local')",
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rag`` console script: parse ``argv`` and run the command.

    Prints what the command prints; usage errors are printed by argparse (which exits with status 2).

    Args:
        argv: Arguments without the program name (default ``sys.argv[1:]``).

    Returns:
        The exit status: 0 on success, 1 when part of the work failed (e.g. a file in ``rag ingest``),
        2 after an error (``error: ...`` on stderr), 130 when interrupted.
    """
    args = build_parser().parse_args(argv)
    quiet_libraries()
    status = run_command(args.func, args)
    if argv is None:
        # The command is over (Ctrl-C during it gave status 130). What is left is the exit cleanup
        # (the embedded server's users list, its stop when this was the last user): a Ctrl-C there
        # would only interrupt it with a traceback, so it runs to its end (a few seconds at most).
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    return status
