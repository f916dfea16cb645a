"""The cited source in the app (AppTest): a citation opens its page or section; hostile text stays text."""

from __future__ import annotations

import uuid

import pytest
from test_app import app_engine, page, served_engine, texts, ui  # noqa: F401 - pytest fixtures

from helpers import make_pdf

HOSTILE = (
    b"# Warranty <img src=x onerror=alert(1)>\n\n"
    b"Some text before the cited part of the warranty section.\n\n"
    b"The warranty lasts two years from the date of purchase <script>alert(1)</script> and covers "
    b"manufacturing defects ![leak](http://203.0.113.9/leak.png) [click](http://203.0.113.9/).\n"
)


def _ask(at, question: str = "How long is the warranty?"):
    at.chat_input(key="chat-input").set_value(question).run()
    assert not at.exception, at.exception
    return at


def _last_message_id(engine) -> int:
    (conversation,) = [c for c in engine.conversations() if c.collection == engine.settings.collection]
    return engine.messages(conversation.id)[-1].id


def _dialog_html(at) -> str:
    return "\n".join(h.proto.body for h in at.get("html"))


def test_a_markdown_citation_opens_its_section_with_everything_escaped(app_engine):  # noqa: F811
    (result,) = app_engine.ingestor().ingest_bytes(HOSTILE, "hostile.md")
    assert result.status == "new"
    at = _ask(page())
    message_id = _last_message_id(app_engine)
    at.button(key=f"source-{message_id}-1").click().run()
    assert not at.exception, at.exception
    body = _dialog_html(at)
    assert "<mark" in body and "two years from the date of purchase" in body
    # The document's markup is text: no tag of its own, no image or link that would load.
    assert "<script>" not in body and "<img" not in body and "&lt;script&gt;" in body
    assert "http://203.0.113.9/leak.png" in body and "src=" not in body.replace("src=x", "")
    trail = texts(at.markdown)
    assert "Warranty" in trail
    assert at.get("download_button"), "the original is offered for download"


def test_a_pdf_citation_opens_its_page_with_the_passage_highlighted(app_engine):  # noqa: F811
    pdf = make_pdf(
        [
            "Installing the grinder. Unpack it and place it on a level surface.",
            "Warranty and service. The warranty lasts two years from the date of purchase and covers defects.",
        ]
    )
    (result,) = app_engine.ingestor().ingest_bytes(pdf, "grinder.pdf")
    assert result.status == "new"
    at = _ask(page())
    message_id = _last_message_id(app_engine)
    at.button(key=f"source-{message_id}-1").click().run()
    assert not at.exception, at.exception
    images = at.get("image")
    assert len(images) == 2, "the excerpt around the passage and the whole page"
    assert images[0].proto.imgs[0].caption == "Page 2 of 2 · the cited passage is highlighted"
    assert all(img.proto.imgs[0].url.endswith(".png") for img in images)
    assert at.get("download_button")


def test_a_deleted_document_says_so_instead_of_failing(app_engine):  # noqa: F811
    (result,) = app_engine.ingestor().ingest_bytes(HOSTILE, "policy.md")
    at = _ask(page())
    message_id = _last_message_id(app_engine)
    app_engine.delete_documents([result.document_id])
    at.button(key=f"source-{message_id}-1").click().run()
    assert not at.exception, at.exception
    assert "no longer stored" in texts(at.warning)


# -- read-only members (issue 12) ---------------------------------------------------------------------


@pytest.mark.parametrize("access", ["read", "write"])
def test_a_read_only_member_sees_delete_and_reembed_disabled(app_engine, ui, monkeypatch, access):  # noqa: F811
    owner = app_engine.for_user(f"alice-{uuid.uuid4().hex[:8]}@example.com")
    member = f"bob-{uuid.uuid4().hex[:8]}@example.com"
    (result,) = owner.ingestor().ingest_bytes(HOSTILE, "policy.md")
    assert result.status == "new"
    owner.share_collection(member, access)
    monkeypatch.setattr(ui.auth, "current_user", lambda settings: member)

    at = page("pages/corpus.py")
    delete, reembed = at.button(key="corpus-delete"), at.button(key="corpus-reembed")
    locked = [c.value for c in at.caption if "read-only" in c.value]
    if access == "read":
        assert reembed.disabled and delete.disabled
        assert "read-only" in delete.help and owner.user in delete.help
        assert locked
    else:
        assert not reembed.disabled
        assert not locked and not delete.help
