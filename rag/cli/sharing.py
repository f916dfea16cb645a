"""Sharing commands: ``rag share``, ``rag unshare`` and ``rag members`` (who may use a collection).

They act as ``rag --user NAME`` (or ``RAG_USER``; default the local user ``local``), like every
command; only a collection's owner shares it.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from rag.cli.common import EXIT_FAILED, EXIT_OK, fmt, open_engine, print_json, print_table

if TYPE_CHECKING:
    from rag.db.access import MemberAccess


def cmd_share(args: argparse.Namespace) -> int:
    """Give a user read or write access to a collection the acting user owns; prints one line."""
    access: MemberAccess = "write" if args.write else "read"
    with open_engine(args) as engine:
        engine.share_collection(args.member, access, args.collection)
    print(f"{args.member} may now {'read and write' if args.write else 'read'} {args.collection!r}")
    return EXIT_OK


def cmd_unshare(args: argparse.Namespace) -> int:
    """Take a user's access to a collection away.

    Returns:
        0 when it had access, 1 when it had none (nothing changed).
    """
    with open_engine(args) as engine:
        removed = engine.unshare_collection(args.member, args.collection)
    print(f"{args.member} {'no longer has' if removed else 'had no'} access to {args.collection!r}")
    return EXIT_OK if removed else EXIT_FAILED


def cmd_members(args: argparse.Namespace) -> int:
    """List the owner and members of a collection (a table, or JSON lines with ``--json``)."""
    with open_engine(args) as engine:
        members = engine.collection_members(args.collection)
    if args.json:
        for member in members:
            print_json({"user": member.user, "access": member.access, "added_at": member.added_at})
    else:
        rows = [[m.user, m.access, fmt(m.added_at)] for m in members]
        print_table(["user", "access", "since"], rows, title=f"members of {engine.settings.collection!r}")
    return EXIT_OK


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``share``, ``unshare`` and ``members`` to the ``rag`` parser's subcommands."""
    p = subparsers.add_parser(
        "share", help="let a user read (--read) or also write (--write) your collection"
    )
    p.add_argument("collection", help="a collection you own")
    p.add_argument(
        "member", help="the user name (the e-mail of an OIDC sign-in, or the proxy's header value)"
    )
    level = p.add_mutually_exclusive_group(required=True)
    level.add_argument("--read", action="store_true", help="search, chat and browse")
    level.add_argument(
        "--write", action="store_true", help="also add, replace and delete documents, re-embed"
    )
    p.set_defaults(func=cmd_share)

    p = subparsers.add_parser("unshare", help="take a user's access to your collection away")
    p.add_argument("collection")
    p.add_argument("member")
    p.set_defaults(func=cmd_unshare)

    p = subparsers.add_parser("members", help="the owner and members of a collection")
    p.add_argument("collection", nargs="?", help="default RAG_COLLECTION or 'default'")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_members)
