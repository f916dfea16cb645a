"""Folder sync (``rag sync DIR --collection C``): make a collection follow a server-side folder, by content hash.

Each file under the folder (recursively, hidden files skipped: :func:`rag.loaders.iter_files`) is
named by its path relative to the folder (``notes/a.md``), which becomes its document's source name.
A file is enqueued as a background job (:meth:`rag.engine.Engine.enqueue_files`) when no document or
unfinished job of the collection has that name with the same sha256 (new or changed file; a changed
file's job replaces the older version, as an upload does); the documents whose file is gone are deleted
at once. The collection should be used for this folder only: a document of the collection that is not
under the folder (e.g. uploaded by hand) counts as gone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rag.errors import ConfigError
from rag.loaders import iter_files
from rag.loaders.text import sha256_hex

if TYPE_CHECKING:
    from rag.db.jobs import Job
    from rag.engine import Engine

SYNC_MAX_FILES = 100_000
"""Most files one sync walks (a guard against pointing it at ``/``)."""
ENQUEUE_BATCH_FILES = 32
"""Files read before they are enqueued, so a sync holds at most this many files' bytes."""


@dataclass(frozen=True)
class SyncReport:
    """What one folder sync did.

    Attributes:
        enqueued: Jobs queued for new or changed files. unchanged: Source names already stored (same sha256).
        removed: Source names whose documents were deleted (their file is gone). skipped: ``(name, reason)``
            of files that were not enqueued (unreadable, too large, symbolic link).
    """

    enqueued: tuple[Job, ...] = ()
    unchanged: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    skipped: tuple[tuple[str, str], ...] = field(default=())


def sync_folder(engine: Engine, directory: Path, collection: str) -> SyncReport:
    """Enqueue new and changed files of ``directory`` and delete documents whose files are gone.

    Reads each file whole (one at a time, at most ``RAG_MAX_FILE_MB``), so memory stays one file.

    Raises:
        ConfigError: ``directory`` is not a folder, or holds more than :data:`SYNC_MAX_FILES` files.
        AccessDenied: the collection is shared with the acting user read-only.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ConfigError(f"{directory} is not a folder: give the folder to sync")
    stored = engine.document_hashes(collection)
    queued = engine.open_job_hashes(collection)
    max_bytes = engine.settings.max_file_bytes
    seen: set[str] = set()
    to_enqueue: list[tuple[str, bytes]] = []
    unchanged: list[str] = []
    skipped: list[tuple[str, str]] = []
    jobs: list[Job] = []
    for count, path in enumerate(iter_files([directory]), start=1):
        if count > SYNC_MAX_FILES:
            raise ConfigError(f"{directory} holds more than {SYNC_MAX_FILES} files: sync a smaller folder")
        name = path.relative_to(directory).as_posix()
        seen.add(name)
        if path.is_symlink() or not path.is_file():
            skipped.append((name, "not a regular file"))
            continue
        size = path.stat().st_size
        if size > max_bytes:
            skipped.append((name, f"larger than RAG_MAX_FILE_MB ({size} bytes)"))
            continue
        data = path.read_bytes()
        digest = sha256_hex(data)  # the same digest as a stored document's content_sha256
        if stored.get(name) == digest or queued.get(name) == digest:
            unchanged.append(name)
            continue
        to_enqueue.append((name, data))
        if len(to_enqueue) >= ENQUEUE_BATCH_FILES:  # bounded memory: enqueue as we go
            jobs.extend(engine.enqueue_files(to_enqueue, collection))
            to_enqueue = []
    if to_enqueue:
        jobs.extend(engine.enqueue_files(to_enqueue, collection))
    gone = sorted(name for name in stored if name not in seen)
    if gone:
        engine.delete_sources(gone, collection)
    return SyncReport(
        enqueued=tuple(jobs), unchanged=tuple(unchanged), removed=tuple(gone), skipped=tuple(skipped)
    )
