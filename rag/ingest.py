"""The ingestion pipeline: load -> dedup -> chunk -> embed (only what is new) -> store.

Documents are processed in batches: one lookup finds unchanged documents (same sha256 of the bytes)
and older versions (same source name); only new chunk texts are embedded (an equal chunk sha256 reuses
the stored vector, like simonw/llm ``embed_multi_with_metadata``); a batch is written in one
transaction (``rag.db.documents.write_documents``) on a background thread while the next batch is embedded,
so the database work overlaps the model work. When a batch write fails on bad data, its documents are
retried one per transaction so that one bad file never takes the others down. The rows of one CSV or
JSONL file are one unit: they are written in one transaction, all or none. When the database
is gone (:class:`~rag.errors.DatabaseError`) the ingest stops at once with that error, no retry.

Before a document is embedded it is claimed (:mod:`rag.db.claims`): a document another process is
ingesting at the same moment is skipped as "already ingested by another process", never embedded
twice. The collection is created with the first document stored, so a run that stores nothing
leaves no empty collection behind.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import psycopg

from rag.chunking import chunk_document
from rag.db import Database
from rag.db.claims import claim_documents, release_documents
from rag.db.collections import (
    Collection,
    check_text_search_config,
    ensure_collection,
    ensure_vector_index,
    find_collection,
)
from rag.db.documents import PreparedDocument, analyze, find_existing, write_documents
from rag.db.embeddings import reusable_embeddings
from rag.db.postings import refresh_impacts
from rag.embedding import Embedder
from rag.errors import DatabaseError, EmptyDocument, RagError
from rag.loaders import LoadOptions, iter_files, load_bytes, load_path
from rag.models import IngestResult, LoadedDocument

ANALYZE_AFTER_CHUNKS = 500
"""Chunks written by one ingest after which the planner statistics are refreshed (``ANALYZE``) and
the BM25 impacts recomputed if the average chunk length drifted (``rag.db.postings.refresh_impacts``).

Autovacuum analyzes a table only after 10% of it changed, and later; a fresh collection queried
before that can be planned as if empty.
"""

BATCH_ORIGINAL_BYTES = 64 * 1024 * 1024
"""Original file bytes (``LoadedDocument.original``) a pending batch may hold before it is written.

A batch is cut at :attr:`Ingestor.batch_chunks` chunks, but a folder of large PDFs with little text
would otherwise gather hundreds of files' bytes before that; with this bound the ingest holds at
most about two batches of originals (the one being written and the one being prepared) plus one
file, whatever the folder.
"""

Stage = Literal["parse", "chunk", "embed", "store"]


@dataclass(frozen=True)
class IngestProgress:
    """A progress event for UIs, always reported from the thread that iterates the ingest.

    Attributes:
        stage: ``parse``, ``chunk``, ``embed`` or ``store`` (a batch was handed to the writer).
        source_name: The file or document being worked on.
        documents_done: Documents finished so far (any status).
        chunks_done: Chunks stored so far.
        embedded: Chunks embedded so far.
        elapsed_s: Seconds since the ingest started.
        pages_done, pages_total: While a file's scanned pages are read by OCR (stage ``parse``): pages
            read so far and pages to read; both 0 otherwise.
    """

    stage: Stage
    source_name: str
    documents_done: int
    chunks_done: int
    embedded: int
    elapsed_s: float
    pages_done: int = 0
    pages_total: int = 0


ProgressCallback = Callable[[IngestProgress], None]

ANOTHER_PROCESS_NOTE = "already ingested by another process"
"""``IngestResult.note`` of a document that another process was ingesting at the same moment."""


class Ingestor:
    """Ingests documents into one collection.

    Args:
        db: Open database.
        embedder: The configured embedding model.
        collection: Collection name (created with ``text_search_config`` when its first document
            is stored).
        chunk_size, chunk_overlap: Chunking in embedding-model tokens (see ``rag.chunking``).
        load_options: Loader options (size limit, CSV mode).
        on_progress: Optional callback for progress events.
        batch_chunks: Chunks per embedding/write batch (256 keeps a batch well under a second of
            database work and gives ``encode`` full batches).
        text_search_config: PostgreSQL text-search configuration for a NEW collection.
        batch_original_bytes: Original file bytes a batch may hold before it is written
            (:data:`BATCH_ORIGINAL_BYTES`).

    Raises:
        ConfigError: invalid chunking parameters or collection name.
        DatabaseError: database unreachable.
    """

    def __init__(
        self,
        db: Database,
        embedder: Embedder,
        collection: str,
        *,
        chunk_size: int,
        chunk_overlap: int,
        load_options: LoadOptions | None = None,
        on_progress: ProgressCallback | None = None,
        batch_chunks: int = 256,
        text_search_config: str = "english",
        embedding_batch_size: int = 64,
        batch_original_bytes: int = BATCH_ORIGINAL_BYTES,
    ) -> None:
        self.db = db
        self.embedder = embedder
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap
        self.load_options = load_options or LoadOptions()
        self.on_progress = on_progress
        self.batch_chunks = batch_chunks
        self.embedding_batch_size = embedding_batch_size
        self.batch_original_bytes = batch_original_bytes
        with db.connection() as conn:
            self._collection: Collection | None = find_collection(conn, collection)
            if self._collection is None:
                check_text_search_config(conn, text_search_config)  # fail now, not at the first write
            ensure_vector_index(conn, embedder.name, embedder.dimension)
        self.collection_name = collection
        self.text_search_config = text_search_config
        self._claims: psycopg.Connection | None = None
        self._started = time.perf_counter()
        self.documents_done = 0
        self.chunks_done = 0
        self.embedded = 0

    def ingest_paths(self, paths: Iterable[Path]) -> Iterator[IngestResult]:
        """Ingest files and folders (recursively); yield one result per document or failed file."""
        return self.ingest_sources(
            (path.name, functools.partial(load_path, path, self._options_for(path.name)))
            for path in iter_files(paths)
        )

    def ingest_bytes(self, data: bytes, filename: str) -> list[IngestResult]:
        """Ingest one uploaded file's bytes; return its results (one per document, or one failure)."""
        options = self._options_for(filename)
        return list(self.ingest_sources([(filename, lambda: load_bytes(data, filename, options))]))

    def _options_for(self, name: str) -> LoadOptions:
        """The load options, reporting each OCR'd page of file ``name`` as ``parse`` progress."""
        if self.on_progress is None and self.load_options.on_page is None:
            return self.load_options
        outer = self.load_options.on_page

        def on_page(done: int, total: int) -> None:
            if outer is not None:
                outer(done, total)
            self._report("parse", name, pages=(done, total))

        return dataclasses.replace(self.load_options, on_page=on_page)

    def ingest_sources(
        self, sources: Iterable[tuple[str, Callable[[], Iterable[LoadedDocument]]]]
    ) -> Iterator[IngestResult]:
        """Ingest ``(name, loader)`` pairs; a loader error becomes one ``failed`` result for that name."""
        chunks_before = self.chunks_done
        pending: list[LoadedDocument] = []
        pending_keys: set[str] = set()
        pending_chunks_estimate = 0
        pending_original_bytes = 0
        in_flight: Future[list[IngestResult]] | None = None
        in_flight_keys: set[str] = set()
        with (
            self.db.dedicated_connection() as self._claims,
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="rag-writer") as writer,
        ):
            for name, loader in sources:
                self._report("parse", name)
                try:
                    documents = list(loader())
                except RagError as exc:
                    self.documents_done += 1
                    yield IngestResult(source_name=name, status="failed", error=str(exc))
                    continue
                except Exception as exc:  # a library failed in a way it does not document
                    self.documents_done += 1
                    yield IngestResult(
                        source_name=name, status="failed", error=f"could not read the file: {exc}"
                    )
                    continue
                if len(documents) > 1:  # the rows of one CSV or JSONL file: all stored or none
                    if pending:
                        in_flight, in_flight_keys, results = self._flush(
                            writer, pending, in_flight, in_flight_keys
                        )
                        yield from results
                        pending, pending_keys, pending_chunks_estimate = [], set(), 0
                        pending_original_bytes = 0
                    if in_flight is not None:
                        yield from in_flight.result()
                        in_flight, in_flight_keys = None, set()
                    yield from self._ingest_file(name, documents)
                    continue
                for document in documents:
                    keys = _dedup_keys(document)
                    # A second version of a document in the same batch must see the first one stored.
                    if (
                        keys & pending_keys
                        or pending_chunks_estimate >= self.batch_chunks
                        or pending_original_bytes >= self.batch_original_bytes
                    ):
                        in_flight, in_flight_keys, results = self._flush(
                            writer, pending, in_flight, in_flight_keys
                        )
                        yield from results
                        pending, pending_keys, pending_chunks_estimate = [], set(), 0
                        pending_original_bytes = 0
                    pending.append(document)
                    pending_original_bytes += len(document.original or b"")
                    pending_keys |= keys
                    pending_chunks_estimate += self._estimated_chunks(document)
            if pending:
                in_flight, in_flight_keys, results = self._flush(writer, pending, in_flight, in_flight_keys)
                yield from results
            if in_flight is not None:
                yield from in_flight.result()
        self._claims = None
        if self._collection is not None and self.chunks_done - chunks_before >= ANALYZE_AFTER_CHUNKS:
            with self.db.connection() as conn:
                refresh_impacts(conn, self._collection.id)
                analyze(conn)

    def _estimated_chunks(self, document: LoadedDocument) -> int:
        """A cheap upper-side guess of a document's chunk count (about 3 characters per token)."""
        return 1 + sum(len(section.text) for section in document.sections) // (self.chunk_size * 3)

    def _ingest_file(self, name: str, documents: Sequence[LoadedDocument]) -> list[IngestResult]:
        """Store the documents of one file (the rows of a CSV or JSONL file) together or not at all.

        The rows are claimed, chunked and embedded in batches as usual, but nothing is written until
        the last batch is ready; then every new row is written in ONE transaction, which also creates
        the collection if this is its first data. A row that fails (no text after chunking), a failed
        write, or a crash before the commit leave nothing of the file behind; the file is reported as
        one ``failed`` result naming the row. Rows repeated byte for byte within the file are stored
        once and reported ``unchanged``, as when they arrive in two uploads.

        Memory: the file's chunks and ``(n, d)`` float32 embeddings are held until the write, beside
        the loaded rows the loader already holds. The file-size (``RAG_MAX_FILE_MB``, 50 MiB) and row
        (:data:`~rag.loaders.guards.MAX_ROWS`, 100,000) limits bound them: chunk text of about the
        file's characters plus overlap, and 1,536 bytes of embedding per 384-d chunk (an estimate of
        ~150 MB for a 50 MiB file of short rows; not yet measured).

        Returns:
            One result per row, or one ``failed`` result for the whole file.

        Raises:
            DatabaseError: the database stopped answering.
        """
        assert self._claims is not None
        first_row: dict[str, str] = {}  # content sha256 -> source name of its first row
        unique: list[LoadedDocument] = []
        repeats: list[LoadedDocument] = []
        for document in documents:
            if document.content_sha256 in first_row:
                repeats.append(document)
            else:
                first_row[document.content_sha256] = document.source_name
                unique.append(document)
        # Claim every row now, not batch by batch: a second process ingesting the same file at the
        # same moment then skips it whole instead of storing the rows the first has not reached yet.
        held = claim_documents(self._claims, self.collection_name, list(first_row))
        done: list[IngestResult] = []
        prepared: list[PreparedDocument] = []
        try:
            batch: list[LoadedDocument] = []
            estimate = 0
            for position, document in enumerate(unique, start=1):
                batch.append(document)
                estimate += self._estimated_chunks(document)
                if estimate < self.batch_chunks and position < len(unique):
                    continue
                batch_done, batch_prepared = self._prepare(batch)
                done.extend(batch_done)
                prepared.extend(batch_prepared)
                failed = next((result for result in batch_done if result.status == "failed"), None)
                if failed is not None:
                    return self._file_failed(name, f"{failed.source_name}: {failed.error}")
                batch, estimate = [], 0
            ids: list[int] = []
            if prepared:
                self._report("store", name)
                try:
                    with self.db.connection() as conn, conn.transaction():
                        collection = self._collection or ensure_collection(
                            conn, self.collection_name, self.text_search_config
                        )
                        ids = write_documents(conn, collection, prepared, self.embedder.name)
                except (DatabaseError, RagError):
                    raise
                except Exception as exc:  # bad data, or a row another process stored meanwhile
                    return self._file_failed(name, f"could not store the file: {exc}")
                self._collection = collection
        finally:
            release_documents(
                self._claims, self.collection_name, [item.document.content_sha256 for item in prepared]
            )
            release_documents(self._claims, self.collection_name, held)
        results = [self._stored(item, doc_id) for item, doc_id in zip(prepared, ids, strict=True)] + done
        id_of = {result.source_name: result.document_id for result in results}
        results += [
            IngestResult(
                document.source_name,
                "unchanged",
                document_id=id_of.get(first_row[document.content_sha256]),
            )
            for document in repeats
        ]
        self.documents_done += len(results)
        return results

    def _file_failed(self, name: str, reason: str) -> list[IngestResult]:
        self.documents_done += 1
        return [IngestResult(name, "failed", error=f"{reason}; nothing from {name} was stored")]

    def _report(self, stage: Stage, source_name: str, pages: tuple[int, int] = (0, 0)) -> None:
        if self.on_progress is not None:
            self.on_progress(
                IngestProgress(
                    stage=stage,
                    source_name=source_name,
                    documents_done=self.documents_done,
                    chunks_done=self.chunks_done,
                    embedded=self.embedded,
                    elapsed_s=time.perf_counter() - self._started,
                    pages_done=pages[0],
                    pages_total=pages[1],
                )
            )

    def _prepare(
        self, documents: Sequence[LoadedDocument]
    ) -> tuple[list[IngestResult], list[PreparedDocument]]:
        """Claim, classify, chunk and embed a batch. Returns finished results and documents to write.

        Every document claimed here is either released before returning or handed, still claimed, to
        :meth:`_write`, which releases it after its transaction.
        """
        assert self._claims is not None
        claimed = claim_documents(self._claims, self.collection_name, [d.content_sha256 for d in documents])
        done: list[IngestResult] = []
        try:
            done, prepared = self._prepare_claimed(documents, claimed)
        except BaseException:
            release_documents(self._claims, self.collection_name, claimed)
            raise
        writing = {item.document.content_sha256 for item in prepared}
        release_documents(self._claims, self.collection_name, claimed - writing)
        return done, prepared

    def _prepare_claimed(
        self, documents: Sequence[LoadedDocument], claimed: set[str]
    ) -> tuple[list[IngestResult], list[PreparedDocument]]:
        by_sha: dict[str, int] = {}
        by_name: dict[str, tuple[int, str]] = {}
        with self.db.connection() as conn:
            if self._collection is None:  # another process may have created it since we started
                self._collection = find_collection(conn, self.collection_name)
            if self._collection is not None:
                by_sha, by_name = find_existing(conn, self._collection.id, documents)
        done: list[IngestResult] = []
        drafts = []
        for document in documents:
            if document.content_sha256 not in claimed:
                done.append(IngestResult(document.source_name, "unchanged", note=ANOTHER_PROCESS_NOTE))
                continue
            if document.content_sha256 in by_sha:
                done.append(
                    IngestResult(
                        document.source_name,
                        "unchanged",
                        document_id=by_sha[document.content_sha256],
                        pages_without_text=document.pages_without_text,
                    )
                )
                continue
            self._report("chunk", document.source_name)
            try:
                chunks = chunk_document(document, self.embedder, self.chunk_size, self.chunk_overlap)
                if not chunks:
                    raise EmptyDocument(f"{document.source_name}: no text found")
            except RagError as exc:
                done.append(IngestResult(document.source_name, "failed", error=str(exc)))
                continue
            previous = by_name.get(document.source_name)
            drafts.append((document, chunks, previous[0] if previous else None))
        if not drafts:
            return done, []
        self._report("embed", drafts[0][0].source_name)
        all_shas = [chunk.sha256 for _, chunks, _ in drafts for chunk in chunks]
        with self.db.connection() as conn:
            vectors = reusable_embeddings(conn, all_shas, self.embedder.name)
        missing: dict[str, str] = {}
        for _, chunks, _ in drafts:
            for chunk in chunks:
                if chunk.sha256 not in vectors:
                    missing.setdefault(chunk.sha256, chunk.embedding_input)
        if missing:
            new_vectors = self.embedder.embed(list(missing.values()), batch_size=self.embedding_batch_size)
            vectors.update(zip(missing.keys(), new_vectors, strict=True))
        prepared = []
        for document, chunks, replaces_id in drafts:
            embeddings = np.stack([vectors[chunk.sha256] for chunk in chunks]).astype(np.float32, copy=False)
            embedded_here = sum(1 for chunk in chunks if chunk.sha256 in missing)
            prepared.append(
                PreparedDocument(
                    document, chunks, embeddings, replaces_id=replaces_id, embedded=embedded_here
                )
            )
        self.embedded += len(missing)
        return done, prepared

    @property
    def existing_collection(self) -> Collection | None:
        """The target collection when it exists already (``None`` until the first document creates it)."""
        return self._collection

    def _target(self) -> Collection:
        """The collection, created now if this is its first document (main thread, before a write)."""
        if self._collection is None:
            with self.db.connection() as conn:
                self._collection = ensure_collection(conn, self.collection_name, self.text_search_config)
        return self._collection

    def _write(self, prepared: Sequence[PreparedDocument]) -> list[IngestResult]:
        """Write a batch in one transaction, then release its claims (writer thread).

        On a data error the documents are retried one per transaction; a lost database raises.

        Raises:
            DatabaseError: the database stopped answering (no retry: the ingest ends here).
        """
        assert self._collection is not None and self._claims is not None
        collection = self._collection
        try:
            try:
                with self.db.connection() as conn:
                    ids = write_documents(conn, collection, prepared, self.embedder.name)
                results = [self._stored(item, doc_id) for item, doc_id in zip(prepared, ids, strict=True)]
            except DatabaseError:
                raise
            except Exception:
                results = [self._write_alone(collection, item) for item in prepared]
        finally:
            release_documents(
                self._claims, self.collection_name, [item.document.content_sha256 for item in prepared]
            )
        self.documents_done += len(results)
        return results

    def _write_alone(self, collection: Collection, item: PreparedDocument) -> IngestResult:
        """Write one document in its own transaction; a data error becomes a ``failed`` result."""
        try:
            with self.db.connection() as conn:
                (doc_id,) = write_documents(conn, collection, [item], self.embedder.name)
        except DatabaseError:
            raise
        except psycopg.errors.UniqueViolation:
            # The same source name was stored by another process after our dedup lookup.
            return IngestResult(item.document.source_name, "unchanged", note=ANOTHER_PROCESS_NOTE)
        except Exception as exc:
            return IngestResult(
                item.document.source_name, "failed", error=f"could not store the document: {exc}"
            )
        return self._stored(item, doc_id)

    def _stored(self, item: PreparedDocument, document_id: int) -> IngestResult:
        self.chunks_done += len(item.chunks)
        return IngestResult(
            item.document.source_name,
            "replaced" if item.replaces_id is not None else "new",
            document_id=document_id,
            chunks=len(item.chunks),
            embedded=item.embedded,
            pages_without_text=item.document.pages_without_text,
        )

    def _flush(
        self,
        writer: ThreadPoolExecutor,
        pending: list[LoadedDocument],
        in_flight: Future[list[IngestResult]] | None,
        in_flight_keys: set[str],
    ) -> tuple[Future[list[IngestResult]] | None, set[str], list[IngestResult]]:
        """Prepare ``pending`` and hand its write to the writer thread.

        The previous batch's write runs while this batch is chunked and embedded; it is awaited first only
        when this batch names a document (source name or bytes) that is still being written, so dedup
        decisions always see committed data.

        Returns:
            ``(new in-flight future, its keys, results finished now)``.
        """
        results: list[IngestResult] = []
        keys = set().union(*(_dedup_keys(d) for d in pending))
        if in_flight is not None and keys & in_flight_keys:
            results.extend(in_flight.result())
            in_flight, in_flight_keys = None, set()
        done, prepared = self._prepare(pending)
        self.documents_done += len(done)
        results.extend(done)
        if in_flight is not None:
            results.extend(in_flight.result())
            in_flight, in_flight_keys = None, set()
        if prepared:
            self._target()
            self._report("store", prepared[0].document.source_name)
            in_flight = writer.submit(self._write, prepared)
            in_flight_keys = keys
        return in_flight, in_flight_keys, results


def _dedup_keys(document: LoadedDocument) -> set[str]:
    """Keys under which two documents collide: the same source name or the same bytes."""
    return {"name:" + document.source_name, "sha:" + document.content_sha256}
