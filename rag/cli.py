"""The ``rag`` command line: ingest, docs, delete, reembed, db, search (and ask / eval when present).

Library errors (``rag.errors.RagError``) become one readable line on stderr and exit status 2; the
library itself never prints (STYLE.md practice 9).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from rag.errors import RagError


def _engine(args: argparse.Namespace):
    from rag.config import Settings
    from rag.engine import Engine

    settings = Settings.from_env()
    if getattr(args, "collection", None):
        settings = settings.with_(collection=args.collection)
    return Engine(settings)


def cmd_ingest(args: argparse.Namespace) -> int:
    """Ingest files and folders; print one line per document; non-zero exit when any failed."""
    from tqdm import tqdm

    from rag.loaders import LoadOptions

    engine = _engine(args)
    options = LoadOptions(
        max_file_bytes=engine.settings.max_file_bytes,
        csv_mode=args.csv_mode,
        csv_title_column=args.csv_title_column,
        csv_text_columns=tuple(args.csv_text_columns.split(",")) if args.csv_text_columns else None,
    )
    counts = {"new": 0, "unchanged": 0, "replaced": 0, "failed": 0}
    chunks = embedded = 0
    bar = tqdm(desc="ingest", unit="doc", disable=args.quiet or not sys.stderr.isatty(), file=sys.stderr)
    try:
        ingestor = engine.ingestor(
            args.collection,
            load_options=options,
            chunk_size=args.chunk_size,
            chunk_overlap=args.chunk_overlap,
            text_search_config=args.text_search_config,
        )
        started = time.perf_counter()  # after the model and database are up: ingest time only
        for result in ingestor.ingest_paths([Path(p) for p in args.paths]):
            counts[result.status] += 1
            chunks += result.chunks
            embedded += result.embedded
            elapsed = max(time.perf_counter() - started, 1e-9)
            bar.update(1)
            bar.set_postfix_str(f"{chunks / elapsed:.0f} chunks/s")
            if not args.quiet and (result.status != "unchanged" or args.verbose):
                line = f"{result.status:9} {result.source_name}"
                if result.status in ("new", "replaced"):
                    line += f"  ({result.chunks} chunks, {result.embedded} embedded)"
                if result.error:
                    line += f"  {result.error}"
                bar.write(line, file=sys.stdout)
    finally:
        bar.close()
        engine.close()
    elapsed = time.perf_counter() - started
    documents = sum(counts.values())
    summary = {
        **counts,
        "documents": documents,
        "chunks": chunks,
        "embedded": embedded,
        "seconds": round(elapsed, 2),
        "documents_per_s": round(documents / elapsed, 1) if elapsed else None,
        "chunks_per_s": round(chunks / elapsed, 1) if elapsed else None,
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"{counts['new']} new, {counts['unchanged']} unchanged, {counts['replaced']} replaced, "
            f"{counts['failed']} failed; {chunks} chunks ({embedded} embedded) in {elapsed:.1f} s "
            f"= {summary['documents_per_s']} documents/s, {summary['chunks_per_s']} chunks/s"
        )
    return 1 if counts["failed"] else 0


def cmd_docs(args: argparse.Namespace) -> int:
    """List the documents of a collection."""
    engine = _engine(args)
    try:
        docs = engine.documents(args.collection, search=args.search)
    finally:
        engine.close()
    if args.json:
        print(json.dumps([asdict(d) for d in docs], default=str))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table("id", "title", "source", "type", "pages", "chunks", "bytes", "model")
    for d in docs[: args.limit]:
        table.add_row(
            str(d.id),
            d.title[:60],
            d.source_name[:40],
            d.media_type,
            str(d.page_count or ""),
            str(d.chunk_count),
            str(d.size_bytes),
            ",".join(d.embedding_models),
        )
    Console().print(table)
    if len(docs) > args.limit:
        print(f"... {len(docs) - args.limit} more (use --limit)")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    """Delete documents by id."""
    engine = _engine(args)
    try:
        deleted = engine.delete_documents(args.ids, args.collection)
    finally:
        engine.close()
    print(f"deleted {deleted} document(s)")
    return 0 if deleted == len(set(args.ids)) else 1


def cmd_reembed(args: argparse.Namespace) -> int:
    """Re-embed chunks whose model differs from the configured one."""
    engine = _engine(args)
    try:
        report = engine.reembed(args.collection)
    finally:
        engine.close()
    print(
        f"{report.collection}: {report.stale_chunks} stale chunks; {report.embedded} embedded with "
        f"{report.model}, {report.reused} reused by chunk hash"
    )
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    """Where the database is, versions and counts."""
    engine = _engine(args)
    try:
        status = engine.status()
    finally:
        engine.close()
    if args.json:
        print(json.dumps(asdict(status)))
        return 0
    print(f"database:   {status.location}")
    print(f"server:     PostgreSQL {status.server_version}, pgvector {status.pgvector_version}")
    print(
        f"contents:   {status.collections} collections, {status.documents} documents, {status.chunks} chunks"
    )
    for model, count in status.chunks_by_model.items():
        print(f"            {count} chunks embedded with {model}")
    print(f"migrations: {', '.join(status.migrations)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (every command documented in its help)."""
    parser = argparse.ArgumentParser(prog="rag", description="Chat with your documents: engine commands.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="ingest files and folders (recursive) into a collection")
    p.add_argument("paths", nargs="+", help="files or folders")
    p.add_argument("--collection", help="target collection (default RAG_COLLECTION or 'default')")
    p.add_argument("--chunk-size", type=int, help="max tokens per chunk (default RAG_CHUNK_SIZE)")
    p.add_argument("--chunk-overlap", type=int, help="tokens of overlap (default RAG_CHUNK_OVERLAP)")
    p.add_argument(
        "--text-search-config",
        default="english",
        help="PostgreSQL text-search configuration (stemming, stop words) of a NEW collection: english, "
        "german, french, simple, ... (default english)",
    )
    p.add_argument(
        "--csv-mode", choices=["file", "rows"], default="file", help="CSV: one document per file or per row"
    )
    p.add_argument("--csv-title-column", help="CSV rows mode: column with each row's title")
    p.add_argument(
        "--csv-text-columns", help="CSV rows mode: comma-separated text columns (default: all others)"
    )
    p.add_argument("--quiet", action="store_true", help="only the summary line")
    p.add_argument("--verbose", action="store_true", help="also list unchanged documents")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("docs", help="list documents")
    p.add_argument("--collection")
    p.add_argument("--search", help="filter by title or source name")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_docs)

    p = sub.add_parser("delete", help="delete documents by id (see `rag docs`)")
    p.add_argument("ids", nargs="+", type=int)
    p.add_argument("--collection")
    p.set_defaults(func=cmd_delete)

    p = sub.add_parser("reembed", help="re-embed chunks made with another embedding model")
    p.add_argument("--collection")
    p.set_defaults(func=cmd_reembed)

    p = sub.add_parser("db", help="where the database is, versions and counts")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_db)

    from rag import cli_ask, cli_eval, cli_search

    cli_search.add_commands(sub)
    cli_ask.add_commands(sub)
    cli_eval.add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rag`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except RagError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
