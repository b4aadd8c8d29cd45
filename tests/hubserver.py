"""A stand-in for the Hugging Face Hub on 127.0.0.1, so the real huggingface_hub client and
Easel's downloader run against it with no network.

It speaks the part of the Hub protocol downloads use (see REFERENCE.md): model info per
revision, the recursive tree listing with LFS SHA-256 oids, HEAD/GET of ``resolve`` URLs with
``X-Repo-Commit``/``ETag``/``X-Linked-Etag``/``X-Linked-Size`` and ``Range``. Repos are built
from a folder (``*.safetensors`` and other weights count as LFS files) or from a dict of bytes.

Knobs for tests: drop the connection after N bytes of a file (once), ignore Range, serve wrong
bytes of the right size, stream slowly, fail with 401 GatedRepo / 429 Retry-After / 500 / any
status. Every request is recorded (method, path, Range header, status).

Standalone, for driving the UI by hand::

    python -m tests.hubserver FOLDER REPO_ID [--port 8765] [--slow 0.01]

then start Easel with ``HF_ENDPOINT`` set to the printed address and ``HF_HUB_DISABLE_XET=1``.
Test code uses the ``hub`` fixture at the bottom (with conftest's ``tiny_model_dir``).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

LFS_SUFFIXES = (".safetensors", ".bin", ".ckpt", ".pt", ".pth", ".onnx", ".msgpack", ".h5")
CHUNK = 64 * 1024


@dataclass
class HubFile:
    path: str
    data: bytes
    lfs: bool

    @property
    def size(self) -> int:
        return len(self.data)

    @cached_property
    def git_oid(self) -> str:
        return hashlib.sha1(b"blob %d\0" % self.size + self.data).hexdigest()

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def etag(self) -> str:
        return self.sha256 if self.lfs else self.git_oid

    def tree_entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "type": "file",
            "oid": self.git_oid,
            "size": self.size,
            "path": self.path,
        }
        if self.lfs:
            entry["lfs"] = {"oid": self.sha256, "size": self.size, "pointerSize": 134}
        return entry


@dataclass
class HubRepo:
    repo_id: str
    files: dict[str, HubFile]
    gated: bool = False  # metadata is public, file downloads answer 401 GatedRepo
    branches: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.branches.setdefault("main", self.sha)

    @cached_property
    def sha(self) -> str:
        h = hashlib.sha1(self.repo_id.encode())
        for path in sorted(self.files):
            h.update(f"{path}\0{self.files[path].etag}\n".encode())
        return h.hexdigest()

    @classmethod
    def from_files(
        cls, repo_id: str, files: Mapping[str, bytes], lfs_suffixes: tuple[str, ...] = LFS_SUFFIXES
    ) -> HubRepo:
        return cls(
            repo_id,
            {p: HubFile(p, bytes(d), p.endswith(lfs_suffixes)) for p, d in sorted(files.items())},
        )

    @classmethod
    def from_folder(
        cls, repo_id: str, folder: str | Path, lfs_suffixes: tuple[str, ...] = LFS_SUFFIXES
    ) -> HubRepo:
        root = Path(folder)
        files = {
            p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*"))
            if p.is_file() and ".cache" not in p.relative_to(root).parts
        }
        return cls.from_files(repo_id, files, lfs_suffixes)

    def resolve(self, revision: str) -> str | None:
        if revision in self.branches:
            return self.branches[revision]
        return revision if revision == self.sha else None


@dataclass
class RequestRecord:
    method: str
    path: str
    query: str
    range: str | None
    status: int = 0


@dataclass
class Failure:
    status: int
    error_code: str | None = None
    retry_after: int | None = None
    where: str = "all"  # "all", "api" or "resolve"
    times: int | None = None  # None: every matching request


class HubServer:
    """A threaded HTTP server on 127.0.0.1 (a free port) serving one or more HubRepo."""

    def __init__(self, repos: tuple[HubRepo, ...] | list[HubRepo] = (), port: int = 0) -> None:
        self.repos: dict[str, HubRepo] = {r.repo_id: r for r in repos}
        self.requests: list[RequestRecord] = []
        self.unknown: list[RequestRecord] = []
        self.sent_bytes: dict[str, int] = {}  # file path -> body bytes written, all requests
        self._lock = threading.Lock()
        self._port = port
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.reset_knobs()

    # -- knobs ----------------------------------------------------------------------------

    def reset_knobs(self) -> None:
        # file path -> close the connection when the body reaches this offset (once)
        self.drop_after: dict[str, int] = {}
        self.ignore_range = False
        self.corrupt: set[str] = set()  # file paths served with wrong bytes of the right size
        self.slow_delay = 0.0  # seconds slept after each 64 KiB chunk of a file body
        self.failure: Failure | None = None

    def fail_with(
        self,
        status: int,
        error_code: str | None = None,
        *,
        retry_after: int | None = None,
        where: str = "all",
        times: int | None = None,
    ) -> None:
        self.failure = Failure(status, error_code, retry_after, where, times)

    def add_repo(self, repo: HubRepo) -> HubRepo:
        self.repos[repo.repo_id] = repo
        return repo

    # -- what happened --------------------------------------------------------------------

    def record(self, rec: RequestRecord) -> None:
        with self._lock:
            self.requests.append(rec)

    def count_sent(self, path: str, n: int) -> None:
        with self._lock:
            self.sent_bytes[path] = self.sent_bytes.get(path, 0) + n

    def resolve_requests(
        self, method: str = "GET", filename: str | None = None
    ) -> list[RequestRecord]:
        """Recorded requests of ``resolve`` URLs, optionally for one repo file."""
        with self._lock:
            recs = list(self.requests)
        return [
            r
            for r in recs
            if r.method == method
            and "/resolve/" in r.path
            and (filename is None or r.path.endswith("/" + filename))
        ]

    def clear_log(self) -> None:
        with self._lock:
            self.requests.clear()
            self.unknown.clear()
            self.sent_bytes.clear()

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._httpd is not None, "start() the server first"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> HubServer:
        httpd = ThreadingHTTPServer(("127.0.0.1", self._port), _Handler)
        httpd.daemon_threads = True
        httpd.hub = self  # type: ignore[attr-defined]
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, args=(0.05,), name="hubserver", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def take_failure(self, kind: str) -> Failure | None:
        with self._lock:
            f = self.failure
            if f is None or f.where not in ("all", kind):
                return None
            if f.times is not None:
                f.times -= 1
                if f.times <= 0:
                    self.failure = None
            return f


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the Hub; every response has a length
    timeout = 30  # idle keep-alive connections end on their own
    server_version = "hubserver/1"

    @property
    def hub(self) -> HubServer:
        return self.server.hub  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # quiet; everything is in hub.requests

    def do_HEAD(self) -> None:  # noqa: N802
        self._dispatch(body=False)

    def do_GET(self) -> None:  # noqa: N802
        self._dispatch(body=True)

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        self._post_body = self.rfile.read(length) if length else b""
        self._dispatch(body=True)

    # -- routing --------------------------------------------------------------------------

    def _dispatch(self, body: bool) -> None:
        parts = urlsplit(self.path)
        self.rec = RequestRecord(self.command, parts.path, parts.query, self.headers.get("Range"))
        self.hub.record(self.rec)
        self.query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        path = parts.path
        try:
            if path.startswith("/api/models/"):
                self._api(path[len("/api/models/") :], body)
            elif "/resolve/" in path:
                self._resolve(path, body)
            else:
                self._unknown(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client went away (cancel): nothing to do

    def _unknown(self, body: bool) -> None:
        self.hub.unknown.append(self.rec)
        print(f"hubserver: unhandled {self.command} {self.path}", file=sys.stderr)
        self._error(404, None, "Not found", body)

    def _api(self, rest: str, body: bool) -> None:
        if (failure := self.hub.take_failure("api")) is not None:
            return self._fail(failure, body)
        for keyword in ("/revision/", "/tree/", "/paths-info/"):
            if keyword in rest:
                raw_repo, raw_tail = rest.split(keyword, 1)
                break
        else:
            raw_repo, raw_tail, keyword = rest.rstrip("/"), "main", "/revision/"
        repo = self._repo(unquote(raw_repo), body)
        if repo is None:
            return
        raw_rev, _, sub = raw_tail.partition("/")
        revision = unquote(raw_rev)
        sha = repo.resolve(revision)
        if sha is None:
            return self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}", body)
        if keyword == "/revision/":
            return self._json(self._model_info(repo, sha), body)
        if keyword == "/paths-info/":
            form = parse_qs(getattr(self, "_post_body", b"").decode())
            wanted = set(form.get("paths", []))
            return self._json([f.tree_entry() for p, f in repo.files.items() if p in wanted], body)
        recursive = self.query.get("recursive", "false").lower() in ("1", "true")
        self._json(self._tree(repo, unquote(sub).strip("/"), recursive), body)

    def _repo(self, repo_id: str, body: bool) -> HubRepo | None:
        repo = self.hub.repos.get(repo_id)
        if repo is None:
            self._error(404, "RepoNotFound", "Repository not found", body)
        return repo

    @staticmethod
    def _model_info(repo: HubRepo, sha: str) -> dict[str, Any]:
        return {
            "_id": sha[:24],
            "id": repo.repo_id,
            "modelId": repo.repo_id,
            "sha": sha,
            "private": False,
            "gated": "manual" if repo.gated else False,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "lastModified": "2024-01-01T00:00:00.000Z",
            "createdAt": "2024-01-01T00:00:00.000Z",
            "siblings": [{"rfilename": p} for p in repo.files],
        }

    @staticmethod
    def _tree(repo: HubRepo, prefix: str, recursive: bool) -> list[dict[str, Any]]:
        base = f"{prefix}/" if prefix else ""
        out: list[dict[str, Any]] = []
        folders: set[str] = set()
        for path, f in repo.files.items():
            if not path.startswith(base):
                continue
            rest = path[len(base) :].split("/")
            for depth in range(1, len(rest)):
                folders.add(base + "/".join(rest[:depth]))
                if not recursive:
                    break
            if recursive or len(rest) == 1:
                out.append(f.tree_entry())
        for folder in sorted(folders):
            if recursive or "/" not in folder[len(base) :]:
                oid = hashlib.sha1(folder.encode()).hexdigest()
                out.append({"type": "directory", "oid": oid, "size": 0, "path": folder})
        return out

    def _resolve(self, path: str, body: bool) -> None:
        raw_repo, raw_tail = path.lstrip("/").split("/resolve/", 1)
        repo = self._repo(unquote(raw_repo), body)
        if repo is None:
            return
        raw_rev, _, raw_file = raw_tail.partition("/")
        revision, filename = unquote(raw_rev), unquote(raw_file)
        sha = repo.resolve(revision)
        if sha is None:
            return self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}", body)
        f = repo.files.get(filename)
        if f is None:
            return self._error(404, "EntryNotFound", "Entry not found", body, commit=sha)
        if repo.gated:
            return self._error(401, "GatedRepo", "Access to this model is restricted", body)
        if (failure := self.hub.take_failure("resolve")) is not None:
            return self._fail(failure, body)
        self._send_file(f, sha, body)

    # -- responses ------------------------------------------------------------------------

    def _send_file(self, f: HubFile, sha: str, body: bool) -> None:
        hub = self.hub
        start, end = 0, f.size - 1
        status = 200
        wanted = self.headers.get("Range")
        if wanted and not hub.ignore_range and wanted.startswith("bytes="):
            first, _, last = wanted[6:].partition("-")
            start = int(first or 0)
            end = min(int(last), f.size - 1) if last else f.size - 1
            if start >= f.size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{f.size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                self.rec.status = 416
                return
            status = 206
        self.rec.status = status
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("X-Repo-Commit", sha)
        self.send_header("ETag", f'"{f.etag}"')
        if f.lfs:
            self.send_header("X-Linked-Etag", f'"{f.sha256}"')
            self.send_header("X-Linked-Size", str(f.size))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{f.size}")
        self.end_headers()
        if not body:
            return
        data = f.data
        if f.path in hub.corrupt:
            data = bytes(b ^ 0x5A for b in data)
        drop_at = hub.drop_after.get(f.path)
        pos = start
        while pos <= end:
            stop = min(pos + CHUNK, end + 1)
            if drop_at is not None and pos < drop_at < stop:
                stop = drop_at
            self.wfile.write(data[pos:stop])
            hub.count_sent(f.path, stop - pos)
            pos = stop
            if drop_at is not None and pos == drop_at:
                hub.drop_after.pop(f.path, None)  # once
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            if hub.slow_delay:
                self.wfile.flush()
                time.sleep(hub.slow_delay)

    def _json(self, payload: Any, body: bool, status: int = 200) -> None:
        data = json.dumps(payload).encode()
        self.rec.status = status
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)

    def _error(
        self,
        status: int,
        code: str | None,
        message: str,
        body: bool,
        *,
        commit: str | None = None,
        extra: Mapping[str, str] | None = None,
    ) -> None:
        data = json.dumps({"error": message}).encode()
        self.rec.status = status
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if code:
            self.send_header("X-Error-Code", code)
        self.send_header("X-Error-Message", message)
        if commit:
            self.send_header("X-Repo-Commit", commit)
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if body:
            self.wfile.write(data)

    def _fail(self, failure: Failure, body: bool) -> None:
        extra = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else {}
        message = {401: "Unauthorized", 429: "Too Many Requests"}.get(
            failure.status, "Server error"
        )
        self._error(failure.status, failure.error_code, message, body, extra=extra)


# -- helpers for tests --------------------------------------------------------------------


def random_bytes(n: int, seed: int) -> bytes:
    """Deterministic incompressible bytes (so nothing on the way can shrink them)."""
    out = bytearray()
    counter = 0
    while len(out) < n:
        out += hashlib.sha256(b"%d:%d" % (seed, counter)).digest()
        counter += 1
    return bytes(out[:n])


def use_hub(monkeypatch: Any, server: HubServer, hf_home: Path) -> None:
    """Point huggingface_hub and Easel at ``server`` with an empty cache under ``hf_home``.

    huggingface_hub reads its environment at import time, so the constants are patched too.
    """
    from huggingface_hub import constants

    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN", "HUGGINGFACE_HUB_CACHE"):
        monkeypatch.delenv(name, raising=False)
    env = {
        "HF_ENDPOINT": server.url,
        "HF_HOME": str(hf_home),
        "HF_HUB_CACHE": str(hf_home / "hub"),
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(constants, "ENDPOINT", server.url)
    monkeypatch.setattr(
        constants,
        "HUGGINGFACE_CO_URL_TEMPLATE",
        server.url + "/{repo_id}/resolve/{revision}/{filename}",
    )
    monkeypatch.setattr(constants, "HF_HOME", str(hf_home))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hf_home / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_IMPLICIT_TOKEN", True)


@contextlib.contextmanager
def running_hub(monkeypatch: Any, hf_home: Path) -> Iterator[HubServer]:
    """A started HubServer with no repos, huggingface_hub and Easel pointed at it (see use_hub)."""
    from huggingface_hub.utils import close_session

    server = HubServer().start()
    try:
        use_hub(monkeypatch, server, hf_home)
        yield server
    finally:
        server.stop()
        close_session()  # drop keep-alive connections to this server


try:
    import pytest
except ImportError:  # standalone use needs no pytest
    pytest = None  # type: ignore[assignment]

if pytest is not None:

    @pytest.fixture
    def hub(tmp_path: Path, monkeypatch: Any) -> Iterator[HubServer]:
        """A running HubServer with no repos; HF_ENDPOINT/HF_HOME point at it and a temp cache.

        Register with ``pytest_plugins = ["tests.hubserver"]`` in the root conftest, or wrap
        ``running_hub`` in a fixture of your own.
        """
        with running_hub(monkeypatch, tmp_path / "hf") as server:
            yield server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve a folder as a Hugging Face Hub repo.")
    parser.add_argument("folder", type=Path)
    parser.add_argument("repo_id")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--slow", type=float, default=0.0, help="seconds to sleep per 64 KiB")
    args = parser.parse_args(argv)
    server = HubServer([HubRepo.from_folder(args.repo_id, args.folder)], port=args.port).start()
    server.slow_delay = args.slow
    print(f"HF_ENDPOINT={server.url}", flush=True)
    print(f"serving {args.folder} as {args.repo_id}; Ctrl+C to stop", file=sys.stderr, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
