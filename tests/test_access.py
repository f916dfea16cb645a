"""Users and row-level security: two users against the real database, per table and through the Engine."""

from __future__ import annotations

import json
import uuid

import psycopg
import pytest
from psycopg import sql

from rag import LOCAL_USER, AccessDenied, ConfigError, NotFound
from rag.db.migrations import MIGRATIONS, migrate

BEES = "Honey bees collect nectar and turn it into honey inside the hive during the summer."


def _user(name: str) -> str:
    """A user name unique to this test (the session database is shared by every test)."""
    return f"{name}-{uuid.uuid4().hex[:8]}@example.com"


@pytest.fixture
def alice(engine):
    """The test's engine acting as a fresh user who owns one collection with one document."""
    view = engine.for_user(_user("alice"))
    view.ingest_files([("bees.txt", BEES.encode())], view.settings.collection)
    return view


@pytest.fixture
def bob(engine):
    return engine.for_user(_user("bob"))


def _rows(database, user: str, table: str, where: str, params: dict) -> int:
    with database.as_user(user).connection() as conn:
        query = sql.SQL("SELECT count(*) FROM {} WHERE ").format(sql.Identifier(table)) + sql.SQL(where)
        row = conn.execute(query, params).fetchone()
    return int(row[0])


def _all_rows(database, table: str, where: str, params: dict) -> int:
    """The same count on the connecting superuser's session, which row-level security does not filter."""
    with database.pool.connection() as conn:
        query = sql.SQL("SELECT count(*) FROM {} WHERE ").format(sql.Identifier(table)) + sql.SQL(where)
        return int(conn.execute(query, params).fetchone()[0])


@pytest.fixture
def alices_rows(alice, database):
    """Ids of one row of every table, all Alice's: her collection (shared with Carol), a turn, a run."""
    collection = alice.collection()
    alice.share_collection("carol@example.com", "read")
    conversation = alice.create_conversation("Bees", collection.name)
    list(alice.ask("What do bees make?", conversation_id=conversation.id, mock_response="Honey [1]."))
    run_id = alice.store_run(
        kind="retrieval", dataset="d", split="s", mode="hybrid", collection=collection.name, config={},
        metrics={}, per_query={},
    )  # fmt: skip
    (job,) = alice.enqueue_files([("ants.txt", b"Ants farm fungus.")], collection.name)
    alice.cancel_job(job.id)  # kept as a row; its input goes with the cancel, so a second, queued one
    (queued,) = alice.enqueue_files([("wasps.txt", b"Wasps build paper nests.")], collection.name)
    return {
        "collection_id": collection.id,
        "conversation_id": conversation.id,
        "run_id": run_id,
        "job_id": queued.id,
    }


TABLE_ROWS = [
    ("collections", "id = %(collection_id)s"),
    ("collection_members", "collection_id = %(collection_id)s"),
    ("documents", "collection_id = %(collection_id)s"),
    ("chunks", "collection_id = %(collection_id)s"),
    ("lexeme_stats", "collection_id = %(collection_id)s"),
    ("postings", "collection_id = %(collection_id)s"),
    ("conversations", "id = %(conversation_id)s"),
    ("messages", "conversation_id = %(conversation_id)s"),
    ("eval_runs", "id = %(run_id)s"),
    ("ingest_jobs", "id = %(job_id)s"),
    ("ingest_job_inputs", "job_id = %(job_id)s"),
]


@pytest.mark.parametrize(("table", "where"), TABLE_ROWS, ids=[t for t, _ in TABLE_ROWS])
def test_another_users_rows_are_invisible(table, where, alice, bob, alices_rows, database):
    stored = _all_rows(database, table, where, alices_rows)
    assert stored >= 1
    assert _rows(database, alice.user, table, where, alices_rows) == stored
    assert _rows(database, bob.user, table, where, alices_rows) == 0


def test_a_connection_without_a_user_sees_nothing(alice, alices_rows, database):
    with database.pool.connection() as conn:
        conn.execute("SET ROLE rag_app")  # the role, but no app.user: the policies match no row
        assert conn.execute("SELECT count(*) FROM chunks").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM conversations").fetchone() == (0,)
        conn.rollback()
        conn.execute("RESET ROLE")


def test_another_user_cannot_write_through_sql(alice, bob, alices_rows, database):
    params = alices_rows
    with database.as_user(bob.user).connection() as conn:
        for statement in (
            "DELETE FROM documents WHERE collection_id = %(collection_id)s",
            "UPDATE chunks SET text = 'x' WHERE collection_id = %(collection_id)s",
            "DELETE FROM messages WHERE conversation_id = %(conversation_id)s",
        ):
            assert conn.execute(statement, params).rowcount == 0, statement
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # WITH CHECK: not a collection of Bob's
            conn.execute(
                "INSERT INTO documents (collection_id, title, source_name, media_type, size_bytes, sha256) "
                "VALUES (%(collection_id)s, 't', 's', 'text/plain', 1, 'x')",
                params,
            )
    with database.as_user(bob.user).connection() as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("UPDATE collections SET owner = %(user)s", {"user": bob.user})  # no column privilege
    assert _all_rows(database, "documents", "collection_id = %(collection_id)s", params) == 1


def test_preferences_are_read_by_everyone_and_set_by_the_operator_only(engine, bob, database):
    engine.choose_llm("ollama/llama3.2")  # the local operator
    try:
        with database.as_user(bob.user).connection() as conn:
            assert conn.execute("SELECT value FROM preferences WHERE key = 'llm_model'").fetchone() == (
                "ollama/llama3.2",
            )
            assert conn.execute("DELETE FROM preferences").rowcount == 0
        with pytest.raises(AccessDenied, match="rag models use"):
            bob.choose_llm("openai/gpt-4o-mini")
    finally:
        engine.choose_llm(None)


def test_two_users_through_the_engine(alice, bob):
    name = alice.settings.collection
    assert name in alice.collections() and name not in bob.collections()
    assert [d.source_name for d in alice.documents(name)] == ["bees.txt"]
    assert bob.documents(name) == []
    with pytest.raises(NotFound):
        bob.search("bees", collection=name)
    with pytest.raises(NotFound):
        bob.delete_documents([alice.documents(name)[0].id], name)
    # The collection is created with the first stored document, so the refusal is that file's failure.
    (outcome,) = bob.ingest_files([("mine.txt", b"Bob's notes about wasps and their nests.")], name)
    assert outcome.failed and "another user's collection" in (outcome.results[0].error or "")
    assert alice.search("bees honey", collection=name).hits

    conversation = alice.create_conversation("Bees", name)
    list(alice.ask("What do bees make?", conversation_id=conversation.id, mock_response="Honey [1]."))
    assert [c.id for c in alice.conversations()] == [conversation.id]
    assert bob.conversations() == []
    with pytest.raises(NotFound):
        bob.messages(conversation.id)
    with pytest.raises(NotFound):
        bob.rename_conversation(conversation.id, "mine now")
    bob.delete_conversation(conversation.id)
    assert len(alice.messages(conversation.id)) == 2
    answer_id = alice.messages(conversation.id)[1].id
    with pytest.raises(NotFound):
        bob.message(answer_id)
    assert bob.status().documents == 0 and alice.status().documents == 1


def test_sharing_read_then_write_then_unshare(alice, bob):
    name = alice.settings.collection
    document_id = alice.documents(name)[0].id
    alice.share_collection(bob.user, "read")
    assert bob.collection(name).access == "read"
    assert [d.id for d in bob.documents(name)] == [document_id]
    assert bob.search("bees honey", collection=name).hits
    with pytest.raises(AccessDenied, match="read-only"):
        bob.delete_documents([document_id], name)
    with pytest.raises(AccessDenied, match="read-only"):
        bob.ingest_files([("wasps.txt", b"Wasps build paper nests.")], name)
    with pytest.raises(AccessDenied, match="read-only"):
        bob.reembed(name)
    with pytest.raises(AccessDenied, match="owner"):
        bob.share_collection(_user("eve"), "read", name)
    assert [(m.user, m.access) for m in bob.collection_members(name)] == [
        (alice.user, "owner"),
        (bob.user, "read"),
    ]

    alice.share_collection(bob.user, "write")
    [outcome] = bob.ingest_files([("wasps.txt", b"Wasps build paper nests from chewed wood fibre.")], name)
    assert outcome.summary == "new: 1"
    assert {d.source_name for d in alice.documents(name)} == {"bees.txt", "wasps.txt"}
    assert bob.delete_documents([document_id], name) == 1
    assert alice.collection(name).owner == alice.user  # a writer does not become the owner

    assert alice.unshare_collection(bob.user) is True
    assert alice.unshare_collection(bob.user) is False
    assert name not in bob.collections()
    assert bob.documents(name) == []
    with pytest.raises(NotFound):
        bob.collection(name)


def test_a_user_name_must_be_usable(engine):
    for bad in ("", "   ", "a\x00b", "line\nbreak", "x" * 321):
        with pytest.raises(ConfigError):
            engine.for_user(bad)
    engine.ensure_collection()
    with pytest.raises(ConfigError, match="owns"):
        engine.share_collection(LOCAL_USER, "read")  # the owner, with itself
    with pytest.raises(ConfigError, match="unknown"):
        engine.share_collection("x@example.com", "admin")  # type: ignore[arg-type]


def test_existing_rows_migrate_to_the_local_user(database):
    with database.pool.connection() as admin:
        admin.autocommit = True
        admin.execute("DROP DATABASE IF EXISTS mig_users")
        admin.execute("CREATE DATABASE mig_users")
        base = admin.info.dsn
    before = [m for m in MIGRATIONS if m.id < 6]
    with psycopg.connect(base.replace("dbname=postgres", "dbname=mig_users"), autocommit=True) as conn:
        migrate(conn, before)
        conn.execute("INSERT INTO collections (name) VALUES ('old')")
        conn.execute("INSERT INTO conversations (title) VALUES ('old chat')")
        migrate(conn)
        assert conn.execute("SELECT owner FROM collections").fetchall() == [(LOCAL_USER,)]
        assert conn.execute("SELECT owner FROM conversations").fetchall() == [(LOCAL_USER,)]
        conn.execute("SELECT set_config('role', 'rag_app', false), set_config('app.user', 'local', false)")
        assert conn.execute("SELECT count(*) FROM collections").fetchone() == (1,)
        conn.execute("SELECT set_config('app.user', 'someone-else', false)")
        assert conn.execute("SELECT count(*) FROM collections").fetchone() == (0,)


def test_cli_acts_as_user_and_shares(alice, bob, monkeypatch, capsys):
    from rag.cli import main

    monkeypatch.setenv("RAG_DATA_DIR", str(alice.db.data_dir))
    monkeypatch.setenv("RAG_RERANKER_MODEL", "")
    name = alice.settings.collection
    assert main(["--user", bob.user, "docs", "--collection", name, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["--user", bob.user, "share", name, bob.user, "--read"]) == 2
    assert "not shared with you" in capsys.readouterr().err  # Bob cannot even see it
    assert main(["--user", alice.user, "share", name, bob.user, "--write"]) == 0
    assert f"{bob.user} may now read and write" in capsys.readouterr().out
    monkeypatch.setenv("RAG_USER", bob.user)  # the environment's user when --user is not given
    assert main(["docs", "--collection", name, "--json"]) == 0
    assert [d["source_name"] for d in json.loads(capsys.readouterr().out)] == ["bees.txt"]
    assert main(["members", name, "--json"]) == 0
    members = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(m["user"], m["access"]) for m in members] == [(alice.user, "owner"), (bob.user, "write")]
    assert main(["--user", alice.user, "unshare", name, bob.user]) == 0
    assert main(["--user", alice.user, "unshare", name, bob.user]) == 1
    capsys.readouterr()
    assert main(["docs", "--collection", name, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_bm25_keeps_its_gin_index_under_row_level_security(database):
    with database.pool.connection() as conn:
        assert conn.execute("SELECT proleakproof FROM pg_proc WHERE proname = 'ts_match_vq'").fetchone() == (
            True,
        )
