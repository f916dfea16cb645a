"""Issue 12's probes as tests: hostile files, hostile strings, and faults that must end cleanly.

Loader limits run without a database; the rest use the session's embedded PostgreSQL, or a real
subprocess (a fresh data directory each) where the probe is about processes: a client killed with
SIGKILL, four first starts at once, the database dying in the middle of an ingest, two ingests of
one file at once. The memory figures of the bombs are measured by ``benchmarks/loader_bombs.py``.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.errors import ConfigError, CorruptDocument, InputLimitExceeded, LLMError, LoaderError
from rag.loaders import LoadOptions, guards, load_bytes, load_path

ROOT = Path(__file__).resolve().parents[1]
MIB = 1024 * 1024
# Liveness bounds, not speed measurements: a process that has not ended by then hangs.
PROCESS_DEADLINE_S = 600


def _docx(document_xml: bytes, extra: dict[str, bytes] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", document_xml)
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


# --- bounded inputs ------------------------------------------------------------------------------


def test_docx_zip_bomb_is_refused_from_its_declared_sizes() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        with archive.open("word/document.xml", "w", force_zip64=True) as stream:
            block = b"<w:p/>" * (MIB // 6)
            for _ in range(guards.MAX_UNZIPPED_BYTES // len(block) + 8):
                stream.write(block)
    data = buffer.getvalue()
    assert len(data) < 2 * MIB  # a small file ...
    with pytest.raises(InputLimitExceeded, match="decompressed bytes, above the limit"):
        list(load_bytes(data, "bomb.docx"))  # ... refused before python-docx inflates it


def test_docx_with_too_many_members_is_refused() -> None:
    members = {f"customXml/item{i}.bin": b"" for i in range(guards.MAX_ZIP_MEMBERS + 1)}
    with pytest.raises(InputLimitExceeded, match="zip members"):
        list(load_bytes(_docx(b"<w:document/>", members), "members.docx"))


def test_docx_with_too_many_xml_tags_is_refused() -> None:
    xml = b"<w:document><w:body>" + b"<a/>" * (guards.MAX_XML_ELEMENTS + 1) + b"</w:body></w:document>"
    with pytest.raises(InputLimitExceeded, match="XML tags"):
        list(load_bytes(_docx(xml), "tags.docx"))


def test_docx_declaring_a_dtd_is_refused() -> None:
    xml = b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaa">]><w:document>&a;</w:document>'
    with pytest.raises(CorruptDocument, match="declares a DTD"):
        list(load_bytes(_docx(xml), "dtd.docx"))


@pytest.mark.parametrize("name", ["deck.pptx", "sheet.xlsx", "sheet.ods", "book.epub"])
def test_office_and_epub_zip_bombs_are_refused_from_their_declared_sizes(name: str) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        with archive.open("content.xml", "w", force_zip64=True) as stream:
            block = b" " * MIB
            for _ in range(guards.MAX_UNZIPPED_BYTES // len(block) + 8):
                stream.write(block)
    with pytest.raises(InputLimitExceeded, match="decompressed bytes, above the limit"):
        list(load_bytes(buffer.getvalue(), name))


def test_pptx_declaring_a_dtd_is_refused() -> None:
    xml = b'<?xml version="1.0"?><!DOCTYPE p [<!ENTITY a "aaaa">]><p:presentation>&a;</p:presentation>'
    with pytest.raises(CorruptDocument, match="declares a DTD or entities, which PPTX files never need"):
        list(load_bytes(_docx(xml), "dtd.pptx"))


def test_spreadsheet_tag_limit_is_higher_but_bounded() -> None:
    cells = b"<c><v>1</v></c>" * (guards.MAX_SHEET_XML_ELEMENTS // 4 + 1)
    with pytest.raises(InputLimitExceeded, match="XML tags"):
        list(load_bytes(_docx(b"<worksheet><sheetData>" + cells + b"</sheetData></worksheet>"), "tags.xlsx"))


def test_html_tag_bomb_is_refused_before_parsing() -> None:
    data = b"<html><body>" + b"<b></b>" * (guards.MAX_HTML_ELEMENTS // 2 + 1) + b"</body></html>"
    with pytest.raises(InputLimitExceeded, match="HTML tags"):
        list(load_bytes(data, "bomb.html"))


def _csv(rows: int) -> bytes:
    return b"id,text\n" + b"".join(b"%d,row number %d\n" % (i, i) for i in range(rows))


def test_long_csv_in_file_mode_is_refused_with_the_fix() -> None:
    data = _csv(guards.MAX_CSV_FILE_MODE_ROWS + 1)
    with pytest.raises(InputLimitExceeded, match="rows mode") as info:
        list(load_bytes(data, "long.csv"))
    assert f"{guards.MAX_CSV_FILE_MODE_ROWS:,}" in str(info.value)
    # The same table in rows mode is accepted: one document per row.
    documents = list(load_bytes(data, "long.csv", LoadOptions(csv_mode="rows")))
    assert len(documents) == guards.MAX_CSV_FILE_MODE_ROWS + 1


def test_csv_with_too_many_columns_is_refused() -> None:
    header = ",".join(f"c{i}" for i in range(guards.MAX_CSV_COLUMNS + 1)).encode()
    with pytest.raises(InputLimitExceeded, match="columns"):
        list(load_bytes(header + b"\n" + b"x," * guards.MAX_CSV_COLUMNS + b"x\n", "wide.csv"))


def test_jsonl_with_too_many_lines_is_refused() -> None:
    data = b'{"_id": "1", "text": "t"}\n' * (guards.MAX_ROWS + 1)
    with pytest.raises(InputLimitExceeded, match="lines"):
        list(load_bytes(data, "many.jsonl"))


def test_aes_pdf_with_an_empty_user_password_is_read() -> None:
    from pypdf import PdfReader, PdfWriter

    from helpers import make_pdf

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf(["The warranty lasts two years."]))))
    writer.encrypt(user_password="", owner_password="owner", algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    [document] = load_bytes(out.getvalue(), "aes.pdf")
    assert "warranty lasts two years" in document.sections[0].text


def test_whitespace_free_tokens_give_chunks_bounded_in_characters(embedder) -> None:
    import base64
    import random

    from rag.chunking import MAX_CHARS_PER_TOKEN, chunk_document

    # One 32,120-character "word" (random base64: not periodic, so every passage is found once).
    blob = base64.b64encode(random.Random(12).randbytes(24_090)).decode()[:32_120]
    [document] = load_bytes(f"Intro line.\n\n{blob}\n".encode(), "blob.txt")
    chunks = chunk_document(document, embedder, 256, 0)
    assert "".join(c.text for c in chunks).replace("Intro line.", "") == blob
    assert max(len(c.text) for c in chunks) <= 256 * MAX_CHARS_PER_TOKEN


def test_nul_and_control_characters_in_jsonl_fields_are_cleaned() -> None:
    data = (
        b'{"_id": "a\\u0000b", "title": "T\\u0000itle\\u001b[31m", "text": "body\\u0000 text", '
        b'"metadata": {"k\\u0000": "v\\u0000"}}\n'
        b'{"_id": "ok", "text": "second line"}\n'
    )
    first, second = load_bytes(data, "nul.jsonl")
    assert (first.external_id, first.title, first.source_name) == ("ab", "Title[31m", "nul.jsonl#ab")
    assert first.sections[0].text == "body text"
    assert first.metadata == {"k": "v"}
    assert second.external_id == "ok"


def test_a_symlink_is_refused_with_the_reason(tmp_path: Path) -> None:
    target = tmp_path / "real.txt"
    target.write_text("real text")
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    with pytest.raises(LoaderError, match="symbolic link"):
        list(load_path(link))


# --- hostile strings and failures, on the session database -----------------------------------------


def test_nul_in_a_jsonl_id_stores_every_line(engine) -> None:
    data = b'{"_id": "x\\u0000y", "title": "t\\u0000", "text": "first"}\n{"_id": "z", "text": "second"}\n'
    results = engine.ingestor().ingest_bytes(data, "nul.jsonl")
    assert [r.status for r in results] == ["new", "new"]
    assert sorted(d.source_name for d in engine.documents()) == ["nul.jsonl#xy", "nul.jsonl#z"]


def test_a_failed_ingest_does_not_create_the_collection(engine) -> None:
    name = engine.settings.collection + "-never"
    [result] = engine.ingestor(name).ingest_bytes(b"", "empty.txt")
    assert result.status == "failed"
    assert name not in engine.collections()


def test_nul_in_a_query_and_a_collection_name(engine) -> None:
    engine.ingestor().ingest_bytes(b"The warranty lasts two years.", "w.txt")
    trace = engine.search("warranty\x00 two years")
    assert trace.hits and "warranty" in trace.hits[0].text
    with pytest.raises(ConfigError, match="control characters"):
        engine.collection("bad\x00name")
    with pytest.raises(ConfigError, match="control characters"):
        engine.ingestor("bad\x00name")


def test_a_document_claimed_by_another_process_is_not_embedded(engine, database) -> None:
    from rag.db.claims import claim_documents
    from rag.loaders.text import sha256_hex

    data = b"A document another process is ingesting right now."
    with database.dedicated_connection() as other:  # the other process's session
        assert claim_documents(other, engine.settings.collection, [sha256_hex(data)])
        [result] = engine.ingestor().ingest_bytes(data, "same.txt")
        assert (result.status, result.note, result.embedded) == (
            "unchanged",
            "already ingested by another process",
            0,
        )
    [result] = engine.ingestor().ingest_bytes(data, "same.txt")  # claim released: stored now
    assert result.status == "new"


@pytest.mark.parametrize("failure", ["AuthenticationError", "APIConnectionError"])
def test_the_question_is_stored_when_the_llm_fails(engine, failure: str) -> None:
    import litellm

    engine.ingestor().ingest_bytes(b"The warranty lasts two years from purchase.", "w.txt")
    exc = getattr(litellm, failure)(message="no", llm_provider="openai", model="gpt-4o-mini")
    conversation = engine.create_conversation("t", engine.settings.collection)
    stream = engine.ask("How long is the warranty?", conversation_id=conversation.id, mock_response=exc)
    with pytest.raises(LLMError):
        list(stream)
    messages = engine.messages(conversation.id)
    assert [m.role for m in messages] == ["user", "assistant"]
    assert messages[0].content == "How long is the warranty?"
    assert messages[1].content.startswith("No answer: the language model failed.")
    assert messages[1].answer is None


# --- processes ------------------------------------------------------------------------------------


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A fresh data directory outside pytest's tree (the server runs as another user under root)."""
    path = Path(tempfile.mkdtemp(prefix="rag-hostile-"))
    yield path
    _stop_server(path / "pgdata")
    shutil.rmtree(path, ignore_errors=True)


def _stop_server(pgdata: Path) -> None:
    pid_file = pgdata / "postmaster.pid"
    if pid_file.exists():
        try:
            os.kill(int(pid_file.read_text().split()[0]), signal.SIGQUIT)
        except (ProcessLookupError, ValueError):
            pass


def _env(data_dir: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "RAG_DATA_DIR": str(data_dir),
        "HF_HUB_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",  # each result line arrives as it is printed
    }
    env.pop("DATABASE_URL", None)
    return env


_OPEN_AND_CLOSE = (
    "import sys; from pathlib import Path; from rag.config import Settings; from rag.db import Database\n"
    "db = Database.open(Settings(data_dir=Path(sys.argv[1]), database_url=None)); db.close()\n"
)


def test_four_first_starts_at_once_on_a_fresh_data_dir(data_dir: Path) -> None:
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _OPEN_AND_CLOSE, str(data_dir)],
            env=_env(data_dir),
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    errors = [p.communicate(timeout=PROCESS_DEADLINE_S)[1] for p in processes]
    assert [p.returncode for p in processes] == [0, 0, 0, 0], errors


def test_the_server_stops_after_a_client_was_killed(data_dir: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", _OPEN_AND_CLOSE.replace("db.close()", "print('up', flush=True); input()")]
        + [str(data_dir)],
        env=_env(data_dir),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "up"
    pids = json.loads((data_dir / "pgdata" / ".handle_pids.json").read_text())
    assert holder.pid in pids
    holder.kill()  # SIGKILL: its atexit hook never runs, its PID stays listed
    holder.wait()
    later = subprocess.run(
        [sys.executable, "-c", _OPEN_AND_CLOSE, str(data_dir)],
        env=_env(data_dir),
        capture_output=True,
        text=True,
        timeout=PROCESS_DEADLINE_S,
    )
    assert later.returncode == 0, later.stderr
    # The later process was the last live user: it stopped the server on exit.
    assert not (data_dir / "pgdata" / "postmaster.pid").exists()
    assert json.loads((data_dir / "pgdata" / ".handle_pids.json").read_text()) == []


def _corpus(folder: Path, files: int) -> Path:
    folder.mkdir()
    for number in range(files):
        (folder / f"note-{number:03}.txt").write_text(
            f"Note {number}. " + " ".join(f"The grinder part {number}-{i} needs cleaning." for i in range(40))
        )
    return folder


def _wait_for_ingest_connections(pgdata: Path, process: subprocess.Popen) -> None:
    """Return once the ingest holds its pooled and its claims connection: it is under way."""
    import psycopg

    deadline = time.monotonic() + PROCESS_DEADLINE_S
    while time.monotonic() < deadline and process.poll() is None:
        try:
            socket_dir = (pgdata / "postmaster.pid").read_text().splitlines()[4]
            with psycopg.connect(
                f"postgresql://postgres:@/postgres?host={socket_dir}", connect_timeout=5
            ) as conn:
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
                    "AND pid <> pg_backend_pid()"
                ).fetchone()
            if row is not None and row[0] >= 2:
                return
        except (OSError, IndexError, psycopg.Error):
            pass
        time.sleep(0.5)
    pytest.fail(f"the ingest never connected: {process.communicate(timeout=30)}")


def _ingest(data_dir: Path, *paths: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "rag.cli", "ingest", *map(str, paths), "--collection", "hostile", "--json"],
        env=_env(data_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("interrupt", [False, True], ids=["database-gone", "database-gone-then-ctrl-c"])
def test_ingest_ends_cleanly_when_the_database_dies(data_dir: Path, tmp_path: Path, interrupt: bool) -> None:
    corpus = _corpus(tmp_path / "corpus", 200)
    process = _ingest(data_dir, corpus)
    _wait_for_ingest_connections(data_dir / "pgdata", process)
    _stop_server(data_dir / "pgdata")  # immediate shutdown: every connection is cut
    if interrupt:
        time.sleep(1.0)
        process.send_signal(signal.SIGINT)
    try:
        _, stderr = process.communicate(timeout=PROCESS_DEADLINE_S)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail("the ingest hung after the database died")
    assert "Traceback" not in stderr, stderr
    messages = [line for line in stderr.splitlines() if line.strip()]
    assert len(messages) == 1, stderr
    if interrupt and process.returncode == 130:
        assert messages == ["interrupted"]
    else:
        assert process.returncode == 2
        assert messages[0].startswith("error: ") and "PostgreSQL is running" in messages[0]


def test_two_ingests_of_one_file_embed_it_once(data_dir: Path, tmp_path: Path) -> None:
    big = tmp_path / "manual.txt"
    big.write_text(" ".join(f"Sentence {i} about the grinder burrs and their cleaning." for i in range(1500)))
    first, second = _ingest(data_dir, big), _ingest(data_dir, big)
    outputs = [p.communicate(timeout=PROCESS_DEADLINE_S) for p in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], outputs
    summaries = [json.loads(out.splitlines()[-1]) for out, _ in outputs]
    assert sorted(s["new"] for s in summaries) == [0, 1], outputs
    assert [s["failed"] for s in summaries] == [0, 0], outputs
    # The other one met the claim ("already ingested by another process") or came after the commit.
    assert sum(s["unchanged"] for s in summaries) == 1, outputs
    assert sum(s["embedded"] for s in summaries) == sum(s["chunks"] for s in summaries) > 0  # embedded once


def test_control_characters_in_file_names_are_printed_escaped(data_dir: Path, tmp_path: Path) -> None:
    weird = tmp_path / "red\x1b[31mname.txt"
    weird.write_text("Some text about grinders.")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "rag.cli",
            "ingest",
            str(weird),
            str(tmp_path / "missing\x07.md"),
            "--collection",
            "x",
        ],
        env=_env(data_dir),
        capture_output=True,
        text=True,
        timeout=PROCESS_DEADLINE_S,
    )
    assert "\x1b" not in done.stdout and "\x07" not in done.stdout, done.stdout
    assert "red[31mname.txt" in done.stdout  # stored without the control character
    assert "missing\\x07.md" in done.stdout  # a file that failed: its own name, escaped
