"""Small fake HTTP servers for tests, bound to 127.0.0.1 on a free port, each in a thread.

* :class:`FakeHub` serves model repositories the way the Hugging Face Hub does for
  ``huggingface_hub.snapshot_download`` (huggingface_hub 2.4): ``GET /api/models/{repo}/revision/{rev}``
  (``id``, ``sha``, ``siblings``), ``GET /api/models/{repo}/tree/{rev}?recursive=...`` (files and folders,
  LFS metadata for weights), and ``HEAD``/``GET /{repo}/resolve/{rev}/{path}`` with the headers
  ``file_download.get_hf_file_metadata`` reads: ``X-Repo-Commit``, ``ETag`` (``X-Linked-Etag`` and
  ``X-Linked-Size`` for LFS files) and ``Content-Length``. Unknown repositories, revisions and files get
  404 with the Hub's ``X-Error-Code`` (``RepoNotFound``, ``RevisionNotFound``, ``EntryNotFound``).
* :class:`FakeOllama` serves ``GET /api/tags`` with a given body, status or delay.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

LFS_SUFFIXES = (".safetensors", ".bin", ".onnx", ".msgpack", ".h5")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (after this returns)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _QuietServer(ThreadingHTTPServer):
    """Does not print a traceback when a client hung up first (a test's timeout did that on purpose)."""

    def handle_error(self, request, client_address) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Server:
    """A ThreadingHTTPServer on 127.0.0.1 in a daemon thread; use as a context manager."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []
        self._httpd: ThreadingHTTPServer | None = None

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        raise NotImplementedError

    def __enter__(self):
        owner = self

        class Handler(BaseHTTPRequestHandler):
            # HTTP/1.0 (the default): one request per connection, so a stopped server answers nothing
            # more even to clients that keep connections alive.

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                owner.requests.append(("GET", self.path))
                owner.handle(self)

            def do_HEAD(self) -> None:  # noqa: N802
                owner.requests.append(("HEAD", self.path))
                owner.handle(self)

            def log_message(self, *args) -> None:  # keep test output clean
                pass

        self._httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"


def _send(handler, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
    handler.send_response(status)
    for key, value in (headers or {}).items():
        handler.send_header(key, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(body)


def _json(handler, data, status: int = 200, headers: dict[str, str] | None = None) -> None:
    _send(handler, status, json.dumps(data).encode(), {"Content-Type": "application/json", **(headers or {})})


class FakeHub(_Server):
    """Serves directories as Hub model repositories: ``FakeHub({"org/name": Path(...)})``."""

    def __init__(self, repos: dict[str, Path], *, slow: dict[str, float] | None = None) -> None:
        super().__init__()
        self.slow = slow or {}  # file -> seconds to wait before sending its content
        self.repos = {
            repo: {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
            for repo, root in repos.items()
        }
        self.shas = {repo: hashlib.sha1(repo.encode()).hexdigest() for repo in repos}

    def file_gets(self) -> list[str]:
        """Paths (in the repository) whose content was requested with GET."""
        gets = []
        for method, path in self.requests:
            parts = unquote(urlsplit(path).path).split("/resolve/", 1)
            if method == "GET" and len(parts) == 2:
                gets.append(parts[1].split("/", 1)[1])
        return gets

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        path = unquote(urlsplit(h.path).path)
        if path.startswith("/api/models/"):
            repo_and_rest = path[len("/api/models/") :].split("/")
            repo, kind, rest = "/".join(repo_and_rest[:2]), repo_and_rest[2:3], repo_and_rest[3:]
            if repo not in self.repos:
                return _json(h, {"error": "Repository not found"}, 404, {"X-Error-Code": "RepoNotFound"})
            if not rest or rest[0] not in ("main", self.shas[repo]):
                return _json(h, {"error": "Invalid rev id"}, 404, {"X-Error-Code": "RevisionNotFound"})
            if kind == ["revision"]:
                files = self.repos[repo]
                return _json(
                    h,
                    {
                        "id": repo,
                        "sha": self.shas[repo],
                        "private": False,
                        "siblings": [{"rfilename": f} for f in files],
                    },
                )
            if kind == ["tree"]:
                return _json(h, self._tree(repo))
        elif "/resolve/" in path:
            repo, rest = path.lstrip("/").split("/resolve/", 1)
            rev, _, filename = rest.partition("/")
            if repo not in self.repos:
                return _send(h, 404, b"", {"X-Error-Code": "RepoNotFound"})
            commit = {"X-Repo-Commit": self.shas[repo]}
            if rev not in ("main", self.shas[repo]):
                return _send(h, 404, b"", {"X-Error-Code": "RevisionNotFound"})
            if filename not in self.repos[repo]:
                return _send(h, 404, b"", {"X-Error-Code": "EntryNotFound", **commit})
            data = self.repos[repo][filename]
            etag = self._oid(filename, data)
            headers = {**commit, "ETag": f'"{etag}"', "Content-Type": "application/octet-stream"}
            if filename.endswith(LFS_SUFFIXES):
                headers.update({"X-Linked-Etag": f'"{etag}"', "X-Linked-Size": str(len(data))})
            if h.command == "GET" and filename in self.slow:
                time.sleep(self.slow[filename])
            return _send(h, 200, data, headers)
        _send(h, 404, b"not found")

    def _tree(self, repo: str) -> list[dict]:
        entries: list[dict] = []
        folders = sorted({str(Path(f).parent) for f in self.repos[repo] if "/" in f})
        for folder in folders:
            entries.append(
                {
                    "type": "directory",
                    "oid": hashlib.sha1(folder.encode()).hexdigest(),
                    "size": 0,
                    "path": folder,
                }
            )
        for name, data in self.repos[repo].items():
            entry = {"type": "file", "oid": hashlib.sha1(data).hexdigest(), "size": len(data), "path": name}
            if name.endswith(LFS_SUFFIXES):
                entry["lfs"] = {
                    "oid": hashlib.sha256(data).hexdigest(),
                    "size": len(data),
                    "pointerSize": 134,
                }
            entries.append(entry)
        return entries

    @staticmethod
    def _oid(filename: str, data: bytes) -> str:
        """The Hub's ETag: sha256 of the content for LFS files, the git blob sha1 otherwise."""
        if filename.endswith(LFS_SUFFIXES):
            return hashlib.sha256(data).hexdigest()
        return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class FakeOllama(_Server):
    """Answers ``GET /api/tags`` with ``body`` (bytes, or JSON-encoded), ``status``, after ``delay_s``."""

    def __init__(self, body: object = None, *, status: int = 200, delay_s: float = 0.0) -> None:
        super().__init__()
        self.body = (
            body
            if isinstance(body, bytes)
            else json.dumps(body if body is not None else {"models": []}).encode()
        )
        self.status = status
        self.delay_s = delay_s

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        if self.delay_s:
            time.sleep(self.delay_s)
        if urlsplit(h.path).path != "/api/tags":
            return _send(h, 404, b"404 page not found")
        _send(h, self.status, self.body, {"Content-Type": "application/json"})
