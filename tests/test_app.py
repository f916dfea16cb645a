"""The Streamlit app, headless: every page through ``streamlit.testing.v1.AppTest``, plus the UI helpers.

The app gets the test Engine (session database, unique collection, packaged embedder, no reranker)
by replacing ``ui.state.engine_factory``; AppTest runs the script in this process, so the cached
Engine is the fixture's. Chat turns use LiteLLM's ``mock_response`` through the test-only
``RAG_LLM_MOCK_RESPONSE`` variable (see ``ui.state.MOCK_ENV``).
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

import pytest

from db_fixtures import database, engine, settings  # noqa: F401 - pytest fixtures
from rag import ABSTAIN_TEXT, Candidate, DatabaseError, LLMError, LoadOptions, NotFound

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
MOCK = "The warranty lasts two years [1]. Returns are accepted within 30 days [2]."
POLICY = (
    b"# Warranty\n\nThe warranty lasts two years from the date of purchase and covers manufacturing defects.\n\n"
    b"# Returns\n\nReturns are accepted within 30 days when the item is unused and in its original box.\n\n"
    b"# Shipping\n\nStandard shipping takes five business days; express shipping takes two.\n"
)


@pytest.fixture
def ui(monkeypatch: pytest.MonkeyPatch):
    """The ``ui`` package, importable from the repository root."""
    monkeypatch.syspath_prepend(str(ROOT))
    importlib.import_module("ui.state")
    return sys.modules["ui"]


@pytest.fixture
def served_engine(ui, engine, monkeypatch: pytest.MonkeyPatch):  # noqa: F811
    """The fixture Engine served by ``ui.state.get_engine`` and the LLM mocked."""
    # A fixed abstention threshold: these tests are about the UI, not the calibrated default.
    monkeypatch.setattr(engine, "settings", engine.settings.with_(abstain_threshold=0.3))
    monkeypatch.setattr(ui.state, "engine_factory", lambda: engine)
    monkeypatch.setenv("RAG_APP_WORKER", "0")  # tests run their worker themselves (tests/test_jobs.py)
    monkeypatch.setenv("RAG_LLM_MOCK_RESPONSE", MOCK)
    # The session database holds other tests' collections: open this test's one, as the last used.
    monkeypatch.setattr(engine, "default_collection", lambda: engine.settings.collection)
    ui.state.clear_engine()
    yield engine
    ui.state.clear_engine()
    engine.remember_collection(None)


@pytest.fixture
def app_engine(served_engine, monkeypatch: pytest.MonkeyPatch):
    """``served_engine`` with every AppTest run going through app.py, as in a served app.

    AppTest resets ``PagesManager.uses_pages_directory`` before each run, so because a ``pages/``
    folder exists each switched-to page would first run alone and be rerun through app.py by
    ``ui.state.require_app_shell`` (losing the widget interaction of that run). In a served app
    ``st.navigation`` turns that mode off once for the process (streamlit/commands/navigation.py);
    emulate that steady state.
    """
    from streamlit.runtime.pages_manager import PagesManager

    original = PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)
    return served_engine


@pytest.fixture
def seeded(app_engine):
    """The test collection holding one three-section Markdown policy."""
    results = app_engine.ingestor().ingest_bytes(POLICY, "policy.md")
    assert [r.status for r in results] == ["new"]
    return app_engine


def page(path: str | None = None, **query):
    """An AppTest of app.py that has run once and, if asked, switched to ``path`` and run again."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    if path:
        for key, value in query.items():
            at.query_params[key] = value
        at.switch_page(path).run()
        assert not at.exception, at.exception
    return at


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


# -- every page renders ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "title"),
    [
        (None, "Chat with your documents"),
        ("pages/upload.py", "Upload documents"),
        ("pages/corpus.py", "Corpus"),
        ("pages/inspector.py", "Inspector"),
        ("pages/settings.py", "Settings"),
    ],
)
def test_every_page_renders_on_an_empty_collection(app_engine, path, title):
    at = page(path)
    assert at.title[0].value == title
    assert not at.error
    sidebar = texts(at.sidebar.caption)
    assert "all-MiniLM-L6-v2" in sidebar
    [reranker] = at.sidebar.get("page_link")  # one short line linking to Settings, detail in its tooltip
    assert reranker.proto.label == "Reranker: off — disabled" and "RAG_RERANKER_MODEL" in reranker.proto.help
    assert "reranking" not in sidebar
    assert "PostgreSQL" in sidebar and "pgvector" in sidebar
    assert at.sidebar.selectbox(key="collection").value == app_engine.settings.collection


def test_a_page_run_alone_is_rerun_through_app_py(served_engine):
    # Streamlit's folder-based mode runs pages/upload.py alone (first request of a fresh server
    # for /upload); the page reruns itself through app.py, which draws the sidebar.
    at = page("pages/upload.py")
    assert at.title[0].value == "Upload documents"
    assert at.sidebar.selectbox(key="collection").value == served_engine.settings.collection
    assert "PostgreSQL" in texts(at.sidebar.caption)


def test_chat_page_without_documents_says_what_to_do(app_engine):
    at = page()
    assert "has no documents yet" in texts(at.info)
    assert at.chat_input(key="chat-input").proto.disabled


def test_engine_errors_are_messages_not_tracebacks(ui, monkeypatch):
    def broken():
        raise DatabaseError("cannot connect to PostgreSQL: connection refused")

    monkeypatch.setattr(ui.state, "engine_factory", broken)
    ui.state.clear_engine()
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=30).run()
    ui.state.clear_engine()
    assert not at.exception
    assert "The database is not available" in at.error[0].value
    assert "connection refused" in at.error[0].value


def test_secrets_become_environment_variables(app_engine, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("RAG_UI_TEST_SECRET", "from-env")  # restored by monkeypatch after the test
    at = AppTest.from_file(APP, default_timeout=30)
    at.secrets["RAG_UI_TEST_SECRET"] = "from-secrets"
    at.secrets["database"] = {"password": "nested values stay in st.secrets"}
    at.run()
    assert not at.exception, at.exception
    assert os.environ["RAG_UI_TEST_SECRET"] == "from-secrets"
    assert "password" not in os.environ


def test_describe_names_the_fix_for_each_error(ui):
    from ui.errors import describe

    assert describe(NotFound("collection 'x' does not exist"))[0] == "Nothing here yet"
    title, body = describe(LLMError("authentication failed for openai/gpt-4o-mini"))
    assert title == "The language model failed" and "secrets.toml" in body
    assert describe(ValueError("boom"))[0] == "Unexpected error (ValueError)"


# -- upload ---------------------------------------------------------------------------------------


def frame_with(at, column: str):
    """The first table on the page that has ``column``."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def test_upload_page_offers_ingest_at_once_explains_problems_inline_and_previews_on_demand(app_engine):
    at = page("pages/upload.py")
    at.file_uploader(key="upload-files").set_value(
        [
            ("policy.md", POLICY, "text/markdown"),
            ("empty.txt", b"", "text/plain"),
            ("notes.xyz", b"what is this", "application/octet-stream"),
            ("policy.md", POLICY.replace(b"two years", b"three years"), "text/markdown"),
        ]
    )
    at.number_input(key="upload-chunk-size").set_value(32)
    at.number_input(key="upload-overlap").set_value(0)
    at.run()
    assert not at.exception, at.exception
    # Nothing was parsed yet, the button is there, and every problem is written on the page.
    assert at.button(key="upload-go").label == "Ingest 2 file(s) into " + app_engine.settings.collection
    assert not at.button(key="upload-go").disabled
    errors = texts(at.error)
    assert "empty.txt: file is empty" in errors and "notes.xyz: '.xyz' files are not supported" in errors
    assert "ingested as policy (2).md" in texts(at.warning)
    batch = frame_with(at, "note")
    assert list(batch["file"]) == ["policy.md", "empty.txt", "notes.xyz", "policy (2).md"]
    assert list(batch["status"].str.split(":").str[0]) == [
        "ready",
        "cannot be ingested",
        "cannot be ingested",
        "ready",
    ]
    assert not any("tokens" in d.value.columns for d in at.dataframe)  # no preview until asked

    at.button(key="upload-preview").click().run()
    assert not at.exception, at.exception
    preview = frame_with(at, "tokens")
    assert list(preview.columns) == ["#", "pages", "section", "tokens", "text"]
    assert set(preview["section"]) == {"Warranty", "Returns", "Shipping"}
    assert (preview["tokens"] <= 32).all()

    at.toggle(key="upload-background").set_value(False)  # the inline mode, waited for
    at.button(key="upload-go").click().run()
    assert not at.exception, at.exception
    results = frame_with(at, "reason")
    by_file = dict(zip(results["file"], results["status"], strict=True))
    assert by_file == {
        "policy.md": "new",
        "policy (2).md": "new",
        "empty.txt": "failed",
        "notes.xyz": "failed",
    }
    assert "empty" in results.loc[results["file"] == "empty.txt", "reason"].iloc[0]
    assert sorted(d.source_name for d in app_engine.documents()) == ["policy (2).md", "policy.md"]
    assert {m.label: m.value for m in at.metric} == {
        "New": "2",
        "Unchanged": "0",
        "Replaced": "0",
        "Failed": "2",
    }
    statuses = list(frame_with(at, "note")["status"])
    assert statuses[0].startswith("new: 1 (") and statuses[2].startswith("cannot be ingested")
    assert "Done: 2 files into" in texts(at.success)


def test_upload_page_enqueues_at_once_and_the_jobs_panel_follows_the_worker(app_engine):
    from test_jobs import drain

    at = page("pages/upload.py")
    at.file_uploader(key="upload-files").set_value(
        [("policy.md", POLICY, "text/markdown"), ("bad.pdf", b"%PDF-1.4 not really", "application/pdf")]
    )
    at.run()
    at.button(key="upload-go").click().run()
    assert not at.exception, at.exception
    jobs = app_engine.jobs()
    target = jobs[0].collection
    assert sorted(j.source_name for j in jobs) == ["bad.pdf", "policy.md"]
    assert {j.stage for j in jobs} == {"queued"}  # returned at once: nothing ingested in the script run
    assert "0 of 2 files done" in [p.proto.text for p in at.get("progress")][0]
    assert {b.label for b in at.button if b.key and b.key.startswith("job-cancel-")} == {"Cancel"}

    drain(app_engine)
    again = page("pages/upload.py")  # a reload (or a second browser): the same jobs, read from the database
    assert "1 of 1 file done" in [p.proto.text for p in again.get("progress")][0]
    assert "bad.pdf failed: bad.pdf cannot be read as a PDF" in texts(again.error)
    assert any(b.key and b.key.startswith("job-retry-") for b in again.button)
    assert list(frame_with(again, "outcome")["file"]) == ["policy.md"]
    assert "policy.md" in [d.source_name for d in app_engine.documents(target)]


def test_upload_progress_in_words(ui):
    from rag import FileProgress
    from ui.ingest import file_status, overall_text

    progress = FileProgress(
        "a.pdf",
        1,
        5,
        "embed",
        0.5,
        0,
        40,
        3.14,
        batch_fraction=0.3,
        batch_chunks=120,
        batch_elapsed_s=14.2,
        eta_s=33.1,
    )
    assert overall_text(progress) == "file 2 of 5 · 120 chunks stored · 14 s elapsed · about 33 s left"
    assert file_status(progress) == "embedding: 40 chunks embedded, 3.1 s"
    early = FileProgress("a.pdf", 0, 1, "parse", 0.0, 0, 0, 0.2, batch_elapsed_s=0.2)
    assert overall_text(early) == "file 1 of 1 · 0 chunks stored · 0 s elapsed"  # no guess this early
    assert file_status(early) == "reading: 0.2 s"
    scanning = FileProgress("s.pdf", 0, 1, "parse", 0.2, 0, 0, 9.04, pages_done=3, pages_total=12)
    assert file_status(scanning) == "reading: OCR page 3 of 12, 9.0 s"


def test_ocr_passages_are_marked_in_chips_and_the_chunk_table():
    from rag import ChunkInfo
    from rag.answer import Citation
    from ui.answers import chip_label
    from ui.tables import chunks_frame

    citation = Citation(2, 7, 1, "Annual report", "report.pdf", "p. 3", 3, 3, (), "Text.", from_ocr=True)
    assert chip_label(citation) == "[2] Annual report · p. 3 · OCR"
    assert chip_label(Citation(2, 7, 1, "Annual report", "report.pdf", "p. 3", 3, 3, (), "Text.")).endswith(
        "p. 3"
    )
    chunks = [
        ChunkInfo(1, 0, "typed", 1, 1, (), 3, 0, 5, "m"),
        ChunkInfo(2, 1, "scanned", 2, 2, (), 3, 7, 14, "m", from_ocr=True),
    ]
    assert list(chunks_frame(chunks)["OCR"]) == ["", "OCR"]
    assert "OCR" not in chunks_frame(chunks[:1]).columns  # no scans, no column


def test_every_loadable_media_type_has_a_short_name():
    from rag.loaders.text import MEDIA_TYPES
    from ui.tables import MEDIA_TYPE_NAMES

    assert set(MEDIA_TYPES.values()) <= MEDIA_TYPE_NAMES.keys()


def test_ingest_files_reports_progress_per_file_from_the_calling_thread(ui, engine):  # noqa: F811
    import threading

    from ui.ingest import results_frame

    events = []
    threads = set()

    def record(event):
        events.append(event)
        threads.add(threading.current_thread())

    outcomes = engine.ingest_files(
        [("bad.xyz", b"data"), ("policy.md", POLICY), ("policy-copy.md", POLICY)],
        engine.settings.collection,
        chunk_size=64,
        chunk_overlap=8,
        load_options=LoadOptions(),
        on_progress=record,
    )
    assert threads == {threading.current_thread()}  # a UI can draw every event directly
    assert [o.summary for o in outcomes] == ["failed: 1", "new: 1", "unchanged: 1"]
    assert outcomes[0].failed and "not supported" in outcomes[0].results[0].error
    stages = [(e.file, e.stage) for e in events if e.file == "policy.md"]
    assert [s for _, s in stages] == ["parse", "chunk", "embed", "store", "done"]
    done = [e for e in events if e.stage == "done" and e.file == "policy.md"][0]
    assert done.fraction == 1.0 and done.chunks == outcomes[1].results[0].chunks > 0
    frame = results_frame(outcomes)
    assert list(frame["status"]) == ["failed", "new", "unchanged"]


# -- chat -----------------------------------------------------------------------------------------


def test_chat_turn_streams_an_answer_with_citation_chips_and_stores_it(seeded):
    at = page()
    at.chat_input(key="chat-input").set_value("How long is the warranty?").run()
    assert not at.exception, at.exception
    assistant = at.chat_message[1]
    assert assistant.name == "assistant"
    assert "The warranty lasts two years [1]" in texts(assistant.markdown)
    html = "\n".join(h.proto.body for h in assistant.get("html"))
    assert "The warranty lasts two years from the date of purchase" in html
    labels = [block.proto.popover.label for block in assistant.get("popover")]
    assert labels == ["[1] Warranty", "[2] Warranty"]
    assert assistant.button(key=f"inspect-{_last_answer_id(seeded)}")

    (conversation,) = [c for c in seeded.conversations() if c.collection == seeded.settings.collection]
    assert conversation.title == "How long is the warranty?"
    stored = seeded.messages(conversation.id)
    assert [m.role for m in stored] == ["user", "assistant"]
    assert [c.number for c in stored[1].answer.citations] == [1, 2]
    assert at.sidebar.button(key=f"conversation-{conversation.id}").proto.type == "primary"

    at.run()  # a rerun redraws the conversation from PostgreSQL
    assert "The warranty lasts two years [1]" in texts(at.chat_message[1].markdown)


def test_abstention_looks_distinct_and_shows_closest_passages(seeded, monkeypatch):
    monkeypatch.setattr(seeded, "settings", seeded.settings.with_(abstain_threshold=0.99))
    at = page()
    at.chat_input(key="chat-input").set_value("What is the capital of Mongolia?").run()
    assert not at.exception, at.exception
    assistant = at.chat_message[1]
    assert assistant.warning[0].value == ABSTAIN_TEXT
    assert "below the 0.99 needed to answer, so the model was not asked" in texts(assistant.caption)
    assert assistant.expander[0].label == "Closest passages"
    assert assistant.status[0].label.startswith("Done in ")
    assert "Too little evidence" in texts(assistant.status[0].markdown)

    declined = _last_answer_id(seeded)
    at.button(key=f"answer-anyway-{declined}").click().run()
    assert not at.exception, at.exception
    anyway = at.chat_message[3]
    assert "Answered at your request although the evidence is weak" in anyway.info[0].value
    assert "The warranty lasts two years [1]" in texts(anyway.markdown)
    assert [c.role for c in seeded.messages(seeded.message(declined).conversation_id)] == [
        "user",
        "assistant",
        "user",
        "assistant",
    ]
    assert seeded.message(_last_answer_id(seeded)).answer.below_threshold


def test_an_answer_shows_its_stages_in_a_status_box(seeded):
    at = page()
    at.chat_input(key="chat-input").set_value("How long is the warranty?").run()
    assert not at.exception, at.exception
    [status] = at.chat_message[1].status
    assert status.state == "complete" and status.label.startswith("Done in ")
    steps = [m.value.split(" · ")[0] for m in status.markdown]
    assert steps[0] == "Searching your documents…" and steps[1] == "Found 3 passages"
    assert steps[2:] == [
        f"Writing the answer with `{seeded.settings.llm_model}`…",
        "Checking the answer against the passages…",
        status.label,
    ]


def test_reload_keeps_the_collection_and_the_conversation_through_the_url(seeded, monkeypatch):
    at = page()
    at.chat_input(key="chat-input").set_value("How long is the warranty?").run()
    conversation = at.session_state["conversation_id"]
    assert at.query_params["conversation"] == str(conversation)
    assert at.query_params["collection"] == seeded.settings.collection

    # A reload is a new session with the same URL; the engine's default would be another collection.
    # On the class: the pages get a per-user view of the engine, not this instance.
    monkeypatch.setattr(type(seeded), "default_collection", lambda self: "some-other-collection")
    from streamlit.testing.v1 import AppTest

    reloaded = AppTest.from_file(APP, default_timeout=30)
    reloaded.query_params["collection"] = seeded.settings.collection
    reloaded.query_params["conversation"] = str(conversation)
    reloaded.run()
    assert not reloaded.exception, reloaded.exception
    assert reloaded.sidebar.selectbox(key="collection").value == seeded.settings.collection
    assert "The warranty lasts two years [1]" in texts(reloaded.chat_message[1].markdown)
    assert reloaded.sidebar.button(key=f"conversation-{conversation}").proto.type == "primary"

    fresh = AppTest.from_file(APP, default_timeout=30).run()  # no URL: the engine's default
    assert fresh.sidebar.selectbox(key="collection").value == "some-other-collection"


def test_chat_does_not_offer_evaluation_collections_the_other_pages_do(seeded):
    evaluation = seeded.settings.collection + "-eval"
    seeded.ensure_collection(evaluation)
    seeded.mark_evaluation_collection(evaluation, "scifact")
    at = page()
    assert evaluation not in at.sidebar.selectbox(key="collection").options
    inspector = page("pages/inspector.py")
    picker = inspector.sidebar.selectbox(key="collection")
    assert f"{evaluation} · evaluation" in picker.options
    picker.set_value(evaluation).run()
    assert picker.value == evaluation
    inspector.switch_page("pages/chat.py").run()  # Chat falls back to a chat collection
    assert inspector.sidebar.selectbox(key="collection").value == seeded.settings.collection


def test_unverified_answer_shows_quoted_evidence_and_the_model_text_as_unverified(seeded, monkeypatch):
    monkeypatch.setenv("RAG_LLM_MOCK_RESPONSE", "Two years, I believe.")
    at = page()
    at.chat_input(key="chat-input").set_value("How long is the warranty?").run()
    assert not at.exception, at.exception
    assistant = at.chat_message[1]
    assert "could not be verified" in assistant.info[0].value
    assert "cites none of your documents" in assistant.info[0].value
    assert "warranty lasts two years" in texts(assistant.markdown)  # quoted from the passage
    assert assistant.expander[0].label == "The model's unverified answer"


def test_llm_failure_is_a_message_with_the_fix(ui, seeded, monkeypatch):
    monkeypatch.setattr(ui.state, "mock_response", lambda: RuntimeError("provider exploded"))
    at = page()
    at.chat_input(key="chat-input").set_value("How long is the warranty?").run()
    assert not at.exception, at.exception
    error = at.chat_message[1].error[0].value
    assert "The language model failed" in error and "RAG_LLM_MODEL" in error


def test_conversation_rename_and_delete(seeded):
    conversation = seeded.create_conversation("First", seeded.settings.collection)
    at = page()
    at.sidebar.button(key=f"conversation-{conversation.id}").click().run()
    at.text_input(key=f"rename-{conversation.id}").input("Warranty questions")
    at.button(key=f"rename-button-{conversation.id}").click().run()
    assert not at.exception, at.exception
    assert at.sidebar.button(key=f"conversation-{conversation.id}").label == "Warranty questions"
    at.button(key=f"delete-{conversation.id}").click().run()
    assert not at.exception, at.exception
    assert all(c.id != conversation.id for c in seeded.conversations())


def test_highlight_marks_the_quoted_span_and_escapes_html(ui):
    from ui.answers import highlight_html, quoted_spans

    answer = 'It says “lasts two  years from the date” [1] and "x" is ignored.'
    assert quoted_spans(answer) == ["lasts two  years from the date"]
    html = highlight_html(
        "The <b>warranty</b> lasts two\nyears from the date of purchase.", quoted_spans(answer)
    )
    assert (
        html == "The &lt;b&gt;warranty&lt;/b&gt; <mark>lasts two<br>years from the date</mark> of purchase."
    )


# -- corpus ---------------------------------------------------------------------------------------


def test_corpus_lists_documents_with_statistics_and_deletes_after_confirmation(seeded):
    at = page("pages/corpus.py")
    table = at.dataframe[0].value
    assert list(table["title"]) == ["Warranty"] and list(table["type"]) == ["Markdown"]
    assert int(table["chunks"].iloc[0]) > 0
    assert {m.label for m in at.metric} >= {"Documents", "Chunks", "Median chunk (tokens)"}

    at.text_input(key="corpus-search").input("nothing-matches").run()
    assert "matches" in texts(at.info)

    at.text_input(key="corpus-search").input("").run()
    at.session_state["corpus-confirm-delete"] = [int(table["id"].iloc[0])]
    at.run()
    assert "Delete 1 document(s)" in at.warning[0].value
    at.button(key="corpus-delete-confirm").click().run()
    assert not at.exception, at.exception
    assert seeded.documents() == []


def test_tables_show_documents_and_chunks(ui, seeded):
    from ui.tables import chunks_frame, documents_frame

    (document,) = seeded.documents()
    frame = documents_frame([document])
    assert frame.loc[0, "embedding model"] == "all-MiniLM-L6-v2" and frame.loc[0, "source"] == "policy.md"
    chunks = chunks_frame(seeded.chunks(document.id))
    assert list(chunks["section"]) == ["Warranty", "Returns", "Shipping"][: len(chunks)]
    assert chunks["tokens"].gt(0).all()


# -- inspector ------------------------------------------------------------------------------------


def test_inspector_runs_a_query_and_shows_every_stage(seeded):
    from ui.tables import CANDIDATE_COLUMNS

    at = page("pages/inspector.py")
    at.text_input(key="inspector-query").input("warranty years")
    at.button[-1].click().run()  # the form's Search button
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert tuple(table.columns) == CANDIDATE_COLUMNS
    assert table.loc[0, "title"] == "Warranty" and table.loc[0, "kept"] == "kept"
    assert table["lexical rank"].notna().any() and table["vector rank"].notna().any()
    assert any("Latency by stage" in m.value for m in at.markdown)
    assert any("warranty years" in c.value for c in at.code)  # the prompt that would be sent


def test_inspector_compares_two_parameter_sets(seeded):
    at = page("pages/inspector.py")
    at.toggle(key="inspector-compare").set_value(True).run()
    at.text_input(key="inspector-query").input("shipping days")
    at.number_input(key="a-k").set_value(1)
    at.selectbox(key="b-mode").set_value("vector")
    at.number_input(key="b-k").set_value(3)
    at.button[-1].click().run()
    assert not at.exception, at.exception
    top_a, top_b = at.dataframe[0].value, at.dataframe[1].value
    assert len(top_a) == 1 and len(top_b) == 3
    diff = at.dataframe[2].value
    assert set(diff["change"]) == {"entered B"} and len(diff) == 2


def test_inspector_opens_a_stored_answer(seeded):
    conversation = seeded.create_conversation("t", seeded.settings.collection)
    stream = seeded.ask("How long is the warranty?", conversation_id=conversation.id, mock_response=MOCK)
    list(stream)
    at = page("pages/inspector.py", message=str(stream.answer.message_id))
    assert at.subheader[0].value == f"Stored answer #{stream.answer.message_id}"
    assert at.dataframe[0].value.loc[0, "title"] == "Warranty"
    assert at.text_input(key="inspector-query").value == "How long is the warranty?"
    assert any("Source [1]" in c.value or "warranty" in c.value.lower() for c in at.code)
    captions = [c.value for c in at.caption]
    assert any(c.startswith("Verified: every sentence") for c in captions), captions
    assert any(c.startswith("Answer or decline: similarity") for c in captions), captions


def test_inspector_explains_a_missing_answer(seeded):
    at = page("pages/inspector.py", message="999999")
    assert "no stored answer '999999'" in at.warning[0].value
    assert not at.error


def test_latency_frame_keeps_pipeline_order_and_shows_unaccounted_time(ui):
    from ui.tables import timings_frame

    frame = timings_frame({"total": 100.0, "vector": 10.0, "query_embedding": 20.0, "generation": 30.0})
    assert list(frame["stage"]) == ["query_embedding", "vector", "generation", "other"]
    assert frame["ms"].sum() == pytest.approx(100.0)
    assert list(timings_frame({"lexical": 1.5})["stage"]) == ["lexical"]


def test_text_helpers(ui):
    from ui.text import human_size, plural

    assert [plural(1, "document"), plural(2, "document")] == ["1 document", "2 documents"]
    assert [human_size(512), human_size(1946), human_size(5 * 1024**2)] == ["512 B", "1.9 KiB", "5.0 MiB"]


def test_candidate_table_movement_and_top_k_diff(ui):
    from ui.tables import candidates_frame, compare_top_k, fused_ranks

    def cand(cid, rrf, final, kept):
        return Candidate(
            chunk_id=cid,
            document_id=1,
            title="d",
            source_name="d.md",
            external_id=None,
            media_type="text/markdown",
            text="t",
            page_start=None,
            page_end=None,
            heading_path=(),
            rrf_score=rrf,
            final_rank=final,
            kept=kept,
        )

    reranked = [cand(3, 0.01, 1, True), cand(1, 0.03, 2, True), cand(2, 0.02, None, False)]
    assert fused_ranks(reranked) == {1: 1, 2: 2, 3: 3}
    frame = candidates_frame(reranked)
    assert list(frame["moved"]) == ["▲ 2", "▼ 1", ""]
    assert list(frame["kept"]) == ["kept", "kept", "cut"]
    diff = compare_top_k(reranked, [cand(2, 0.02, 1, True), cand(3, 0.01, 2, True)])
    assert [c.chunk_id for c in diff.entered] == [2] and [c.chunk_id for c in diff.left] == [1]
    assert diff.stayed == 1


def _last_answer_id(eng) -> int:
    conversations = [c for c in eng.conversations() if c.collection == eng.settings.collection]
    return eng.messages(conversations[0].id)[-1].id
