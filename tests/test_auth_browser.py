"""Two users end to end: `streamlit run app.py` with RAG_AUTH=trusted-header, driven by headless Chromium.

Each browser context sends its own ``X-Forwarded-User`` header, as an authenticating proxy would.
Alice's documents and conversation stay hers until she shares the collection on the Corpus page;
a request without the header gets the sign-in message. Screenshots go to the test's temporary
directory (the sharing one also to docs/screenshots/sharing.png).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    ROOT,
    SCREENSHOTS,
    STEP_TIMEOUT_MS,
    free_port,
    open_page,
    stop_server,
    wait_idle,
    wait_until_served,
)

from rag import Engine, Settings

pytestmark = pytest.mark.browser

ALICE = "alice@example.com"
BOB = "bob@example.com"
BEES = b"Honey bees collect nectar and turn it into honey inside the hive during the summer."
WASPS = b"Wasps build paper nests from chewed wood fibre in early spring."
MOCK = "Bees make honey [1]."


@pytest.fixture(scope="module")
def seeded_server(tmp_path_factory: pytest.TempPathFactory, embedder) -> Iterator[tuple[str, Engine]]:
    """A served app in trusted-header mode over a database where Alice owns ``default``, Bob ``bob-notes``."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed: pip install playwright")
    data_dir = tmp_path_factory.mktemp("auth-browser-data")
    engine = Engine(Settings(data_dir=data_dir, reranker_model="", chunk_size=128, chunk_overlap=0))
    engine._embedder = embedder
    engine.for_user(ALICE).ingest_files([("bees.txt", BEES)], "default")
    engine.for_user(BOB).ingest_files([("wasps.txt", WASPS)], "bob-notes")

    port = free_port()
    log_path = data_dir / "streamlit.log"
    env = {
        **os.environ,
        "RAG_AUTH": "trusted-header",
        "RAG_DATA_DIR": str(data_dir),
        "RAG_LLM_MOCK_RESPONSE": MOCK,
        "RAG_RERANKER_MODEL": "",
        "RAG_CHUNK_SIZE": "128",
        "RAG_CHUNK_OVERLAP": "0",
        "RAG_ABSTAIN_THRESHOLD": "0.1",
        "HF_HUB_OFFLINE": "1",
    }
    env.pop("DATABASE_URL", None)
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://localhost:{port}"
    try:
        wait_until_served(url, process, log_path)
        yield url, engine
    finally:
        engine.close()
        stop_server(process, data_dir / "pgdata")


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=STEP_TIMEOUT_MS)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def signed_in_page(browser, url: str, user: str | None):
    """A page of a new browser context whose every request carries ``X-Forwarded-User: user``."""
    headers = {"X-Forwarded-User": user} if user else {}
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, extra_http_headers=headers)
    page = context.new_page()
    page.set_default_timeout(STEP_TIMEOUT_MS)
    page.goto(url)
    wait_idle(page)
    return page


def test_two_users_through_a_trusted_proxy_header(seeded_server, browser, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    url, engine = seeded_server
    anonymous = signed_in_page(browser, url, None)
    expect(anonymous.get_by_text("Not signed in")).to_be_visible()
    expect(anonymous.get_by_text("X-Forwarded-User")).to_be_visible()
    anonymous.screenshot(path=str(tmp_path / "anonymous.png"))

    alice = signed_in_page(browser, url, ALICE)
    expect(alice.get_by_text(f"Signed in as {ALICE}")).to_be_visible()
    open_page(alice, "Corpus")
    expect(alice.get_by_text("1 document in")).to_be_visible()
    open_page(alice, "Chat")
    alice.locator('[data-testid="stChatInputTextArea"]').fill("What do bees make?")
    alice.keyboard.press("Enter")
    expect(alice.locator('[data-testid="stChatMessage"]').nth(1)).to_contain_text("Bees make honey")
    wait_idle(alice)
    assert [c.title for c in engine.for_user(ALICE).conversations()] != []

    bob = signed_in_page(browser, url, BOB)
    expect(bob.get_by_text(f"Signed in as {BOB}")).to_be_visible()
    open_page(bob, "Corpus")
    # Bob's default is his own collection with documents; Alice's "default" is not his to see.
    expect(bob.get_by_text("1 document in")).to_be_visible()
    expect(bob.get_by_text("bob-notes").first).to_be_visible()
    expect(bob.get_by_text("bees.txt")).to_have_count(0)
    assert engine.for_user(BOB).conversations() == []
    bob.screenshot(path=str(tmp_path / "bob-corpus.png"))

    # Alice shares "default" with Bob, read-only, from the Corpus page.
    open_page(alice, "Corpus")
    alice.get_by_text("Sharing: 0 member(s)").click()
    alice.get_by_label("Share with (user name or e-mail)").fill(BOB)
    alice.get_by_role("button", name="Share").click()
    wait_idle(alice)
    expect(alice.get_by_text("Sharing: 1 member(s)")).to_be_visible()
    alice.get_by_text("Sharing: 1 member(s)").click()
    expect(alice.get_by_text("· read")).to_be_visible()
    expect(alice.get_by_label("Share with (user name or e-mail)")).to_be_visible()
    alice.wait_for_timeout(500)  # the expander's opening animation
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    alice.screenshot(path=str(SCREENSHOTS / "sharing.png"))
    assert engine.for_user(BOB).collection("default").access == "read"

    bob.goto(f"{url}/corpus?collection=default")  # a new session that opens Alice's collection
    wait_idle(bob)
    expect(bob.get_by_text("1 document in")).to_be_visible()
    expect(bob.get_by_text(f"Shared with you by {ALICE}")).to_be_visible()
    assert engine.for_user(BOB).conversations() == []  # sharing a collection shares no conversation
    bob.screenshot(path=str(tmp_path / "bob-shared.png"))
