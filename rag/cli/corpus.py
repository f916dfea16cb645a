"""Corpus commands: ``rag ingest``, ``rag docs``, ``rag delete``, ``rag reembed`` and ``rag db``."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict
from pathlib import Path

from rag.cli.common import EXIT_FAILED, EXIT_OK, open_engine, print_json, print_table, printable, progress_bar


def cmd_ingest(args: argparse.Namespace) -> int:
    """Ingest files and folders (recursively) into a collection.

    Prints one line per new, replaced or failed document (unchanged ones too with ``--verbose``,
    none with ``--quiet``), then a summary line with counts and throughput, or the summary as JSON
    with ``--json``. A progress bar goes to stderr when it is a terminal.

    Returns:
        0 when every document went in, 1 when any failed (the others are stored).
    """
    from rag.loaders import LoadOptions
    from rag.models import pages_without_text_note

    if args.background:
        return ingest_background(args)

    counts = {"new": 0, "unchanged": 0, "replaced": 0, "failed": 0}
    chunks = embedded = 0
    with open_engine(args) as engine, progress_bar("ingest", unit="doc", quiet=args.quiet) as bar:
        options = LoadOptions(
            max_file_bytes=engine.settings.max_file_bytes,
            csv_mode=args.csv_mode,
            csv_title_column=args.csv_title_column,
            csv_text_columns=tuple(args.csv_text_columns.split(",")) if args.csv_text_columns else None,
        )
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
            if not args.quiet and (result.status != "unchanged" or args.verbose or result.note):
                line = f"{result.status:9} {result.source_name}"
                if result.status in ("new", "replaced"):
                    line += f"  ({result.chunks} chunks, {result.embedded} embedded)"
                if result.error or result.note:
                    line += f"  {result.error or result.note}"
                line = printable(line)
                if result.pages_without_text and result.status != "failed":
                    line += f"\n          {pages_without_text_note(result.pages_without_text)}"
                bar.write(line, file=sys.stdout)
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
        print_json(summary)
    else:
        print(
            f"{counts['new']} new, {counts['unchanged']} unchanged, {counts['replaced']} replaced, "
            f"{counts['failed']} failed; {chunks} chunks ({embedded} embedded) in {elapsed:.1f} s "
            f"= {summary['documents_per_s']} documents/s, {summary['chunks_per_s']} chunks/s"
        )
    return EXIT_FAILED if counts["failed"] else EXIT_OK


def cmd_docs(args: argparse.Namespace) -> int:
    """List the documents of a collection, optionally filtered by title or source name.

    Prints a table of the first ``--limit`` documents (id, title, source, type, pages, chunks, bytes,
    embedding models) and how many more there are, or every document as a JSON list with ``--json``.

    Returns:
        0.
    """
    with open_engine(args) as engine:
        docs = engine.documents(args.collection, search=args.search)
    if args.json:
        print_json([asdict(d) for d in docs])
        return EXIT_OK
    print_table(
        ["id", "title", "source", "type", "pages", "chunks", "bytes", "model"],
        [
            [
                str(d.id),
                d.title[:60],
                d.source_name[:40],
                d.media_type,
                str(d.page_count or ""),
                str(d.chunk_count),
                str(d.size_bytes),
                ",".join(d.embedding_models),
            ]
            for d in docs[: args.limit]
        ],
    )
    if len(docs) > args.limit:
        print(f"... {len(docs) - args.limit} more (use --limit)")
    return EXIT_OK


def cmd_delete(args: argparse.Namespace) -> int:
    """Delete documents (with their chunks) by id.

    Prints ``deleted N document(s)``.

    Returns:
        0 when every id given was deleted, 1 when some did not exist in the collection.
    """
    with open_engine(args) as engine:
        deleted = engine.delete_documents(args.ids, args.collection)
    print(f"deleted {deleted} document(s)")
    return EXIT_OK if deleted == len(set(args.ids)) else EXIT_FAILED


def cmd_reembed(args: argparse.Namespace) -> int:
    """Re-embed the chunks whose embedding model differs from the configured one.

    Prints one line: stale chunks, how many were embedded anew and how many reused by chunk hash.

    Returns:
        0.
    """
    with open_engine(args) as engine:
        report = engine.reembed(args.collection)
    print(
        f"{report.collection}: {report.stale_chunks} stale chunks; {report.embedded} embedded with "
        f"{report.model}, {report.reused} reused by chunk hash"
    )
    return EXIT_OK


def cmd_db(args: argparse.Namespace) -> int:
    """Show where the database is, its versions and its contents.

    Prints location, PostgreSQL and pgvector versions, counts (chunks per embedding model) and the
    applied migrations, or all of it as JSON with ``--json``.

    Returns:
        0.
    """
    with open_engine(args) as engine:
        status = engine.status()
    if args.json:
        print_json(asdict(status))
        return EXIT_OK
    print(f"database:   {status.location}")
    print(f"server:     PostgreSQL {status.server_version}, pgvector {status.pgvector_version}")
    print(
        f"contents:   {status.collections} collections, {status.documents} documents, {status.chunks} chunks"
    )
    for model, count in status.chunks_by_model.items():
        print(f"            {count} chunks embedded with {model}")
    print(f"migrations: {', '.join(status.migrations)}")
    return EXIT_OK


def ingest_background(args: argparse.Namespace) -> int:
    """``rag ingest --background``: enqueue the files (folders walked) and print one job per file."""
    from rag.loaders import iter_files

    load_options = {"csv_mode": args.csv_mode}
    if args.csv_title_column:
        load_options["csv_title_column"] = args.csv_title_column
    with open_engine(args) as engine:
        collection = args.collection or engine.settings.collection
        count = 0
        for path in iter_files([Path(p) for p in args.paths]):
            if (
                not path.is_file()
                or path.is_symlink()
                or path.stat().st_size > engine.settings.max_file_bytes
            ):
                print(f"skipped   {printable(str(path))}  (not a regular file, or above RAG_MAX_FILE_MB)")
                continue
            (job,) = engine.enqueue_files(
                [(path.name, path.read_bytes())],
                collection,
                chunk_size=args.chunk_size,
                chunk_overlap=args.chunk_overlap,
                load_options=load_options,
            )
            count += 1
            if not args.quiet:
                print(f"queued    {printable(job.source_name)}  (job {job.id})")
    print(
        f"{count} files queued into {collection!r}: run `rag worker` (or the app) to ingest them; `rag jobs` lists them"
    )
    return EXIT_OK


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``ingest``, ``docs``, ``delete``, ``reembed`` and ``db`` to the ``rag`` parser's subcommands."""
    p = subparsers.add_parser("ingest", help="ingest files and folders (recursive) into a collection")
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
    p.add_argument(
        "--background",
        action="store_true",
        help="queue the files as jobs for `rag worker` instead of ingesting here",
    )
    p.set_defaults(func=cmd_ingest)

    p = subparsers.add_parser("docs", help="list documents")
    p.add_argument("--collection")
    p.add_argument("--search", help="filter by title or source name")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_docs)

    p = subparsers.add_parser("delete", help="delete documents by id (see `rag docs`)")
    p.add_argument("ids", nargs="+", type=int)
    p.add_argument("--collection")
    p.set_defaults(func=cmd_delete)

    p = subparsers.add_parser("reembed", help="re-embed chunks made with another embedding model")
    p.add_argument("--collection")
    p.set_defaults(func=cmd_reembed)

    p = subparsers.add_parser("db", help="where the database is, versions and counts")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_db)
