"""The byte transfer of a model download: resumable, hashed as bytes arrive, verified.

``download.py`` is the public face (what to download, where it lands, family configs); this
module moves the bytes. huggingface_hub gives the commit, the tree listing (sizes and LFS
SHA-256) and the HTTP session; the loop is our own so that ``blobs/<etag>.incomplete``
survives a cancel or a crash and continues with a ``Range`` request next time.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from app import __version__
from app.errors import Cancelled, DownloadError
from app.models import hubcache

OFFLINE_MESSAGE = (
    "Easel can't reach the Hugging Face Hub — the computer seems to be offline. "
    "Installed models still work; connect and try again."
)
CANCELLED_MESSAGE = "Download cancelled; it will continue from where it stopped next time."

CONNECT_TIMEOUT_S = 5.0  # offline must be reported within seconds, not after minutes of retries
READ_TIMEOUT_S = 30.0
MAX_RESUMES = 3  # dropped connections resumed with Range within one call before giving up
_WEIGHTS = (".safetensors", ".bin", ".ckpt", ".pth", ".pt")
_EMIT_EVERY_S = 0.1
_SPEED_WINDOW_S = 5.0


@dataclass(frozen=True)
class DownloadProgress:
    done_bytes: int
    total_bytes: int
    speed_bps: float
    eta_s: float | None
    current_file: str
    phase: str = "download"  # "download", or "verify" while hashing files already on disk

    @property
    def fraction(self) -> float:
        return self.done_bytes / self.total_bytes if self.total_bytes else 1.0


ProgressCallback = Callable[[DownloadProgress], None]


@dataclass(frozen=True)
class _RemoteFile:
    path: str
    size: int
    blob_id: str  # git sha1, what the Hub serves as ETag for regular files
    sha256: str | None  # LFS files only, the Hub's X-Linked-Etag

    @property
    def etag(self) -> str:
        return self.sha256 or self.blob_id

    def hasher(self) -> Any:
        return hashlib.sha256() if self.sha256 else hubcache.git_blob_sha1_hasher(self.size)


class _Meter:
    """Bytes done / total, speed over a sliding window, throttled callbacks."""

    def __init__(self, total: int, done: int, callback: ProgressCallback | None) -> None:
        self.total, self.done, self.callback = total, done, callback
        self._samples: deque[tuple[float, int]] = deque()
        self._moved = 0  # bytes moved this session: speed ignores what was already on disk
        self._last_emit = 0.0
        self._speed = 0.0

    def add(self, n: int, current_file: str) -> None:
        self.done += n
        self._moved += n
        now = time.monotonic()
        self._samples.append((now, self._moved))
        while len(self._samples) > 2 and now - self._samples[0][0] > _SPEED_WINDOW_S:
            self._samples.popleft()
        if now - self._last_emit >= _EMIT_EVERY_S:
            self.emit(current_file)

    def rewind(self, n: int) -> None:
        self.done -= n  # bytes thrown away (a server that ignored Range); speed is unaffected

    def emit(self, current_file: str, phase: str = "download") -> None:
        self._last_emit = time.monotonic()
        if len(self._samples) >= 2:
            (t0, b0), (t1, b1) = self._samples[0], self._samples[-1]
            if t1 - t0 > 0.05:
                self._speed = (b1 - b0) / (t1 - t0)
        left = max(self.total - self.done, 0)
        eta = left / self._speed if self._speed > 0 else (0.0 if left == 0 else None)
        if self.callback is not None:
            self.callback(
                DownloadProgress(self.done, self.total, self._speed, eta, current_file, phase)
            )


def _download(
    repo_id: str,
    revision: str,
    allow: list[str] | None,
    ignore: list[str] | None,
    on_progress: ProgressCallback | None,
    cancel: threading.Event | None,
    endpoint: str | None,
    token: str | bool | None,
) -> Path:
    from huggingface_hub import constants
    from huggingface_hub.utils import build_hf_headers, filter_repo_objects, get_session

    cancel = cancel or threading.Event()
    base = (endpoint or os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")
    headers = build_hf_headers(token=token, library_name="easel", library_version=__version__)
    session = get_session()
    commit = _resolve_commit(session, base, repo_id, revision, headers)
    files = list(
        filter_repo_objects(
            _list_tree(session, base, repo_id, commit, headers),
            allow_patterns=allow,
            ignore_patterns=ignore,
            key=lambda f: f.path,
        )
    )
    # A weight file named exactly in the patterns must exist: without it the "installed"
    # model would be configs only. A glob matching nothing is fine (optional configs).
    listed = {f.path for f in files}
    absent = [p for p in allow or () if p.endswith(_WEIGHTS) and p not in listed and "*" not in p]
    if not files or absent:
        raise DownloadError(
            f"{repo_id} on the Hugging Face Hub no longer has "
            f"{absent[0] if absent else 'the files Easel needs'}; "
            "its layout may have changed — update Easel or pick another model."
        )

    cache_dir = hubcache.hub_cache_dir()
    storage = hubcache.repo_folder(repo_id, cache_dir)
    blobs, snapshot = storage / "blobs", storage / "snapshots" / commit
    blobs.mkdir(parents=True, exist_ok=True)

    present: dict[str, Path] = {}  # repo path -> the blob already on disk
    missing: list[_RemoteFile] = []
    partial_bytes = 0
    for f in files:
        blob = hubcache.existing_blob(snapshot / f.path, blobs / f.etag, f.size)
        if blob is not None:
            present[f.path] = blob
        else:
            missing.append(f)
            partial_bytes += hubcache.partial_size(blobs / f"{f.etag}.incomplete", f.size)
    need = sum(f.size for f in missing) - partial_bytes
    _check_disk_space(need, blobs)

    meter = _Meter(
        total=sum(f.size for f in files),
        done=sum(f.size for f in files if f.path in present) + partial_bytes,
        callback=on_progress,
    )
    meter.emit(files[0].path)
    for f in files:
        if f.path in present:
            _verify_existing(repo_id, f, present[f.path], snapshot / f.path, meter, cancel)
    locks = cache_dir / ".locks" / storage.name
    locks.mkdir(parents=True, exist_ok=True)
    for f in missing:
        if cancel.is_set():
            raise Cancelled(CANCELLED_MESSAGE)
        url = f"{base}/{repo_id}/resolve/{commit}/{quote(f.path)}"
        _fetch(session, url, headers, repo_id, f, blobs, locks, meter, cancel)

    for f in files:
        hubcache.link_snapshot_file(
            blobs / f.etag, snapshot / f.path, new_blob=f.path not in present
        )
    if revision != commit:
        hubcache.write_ref(storage, revision, commit)
    hubcache.record_install(
        repo_id, commit, hubcache.patterns_key(allow, ignore), {f.path: f.size for f in files}
    )
    meter.emit(files[-1].path)
    return snapshot


def _resolve_commit(session: Any, base: str, repo_id: str, revision: str, headers: dict) -> str:
    url = f"{base}/api/models/{repo_id}/revision/{quote(revision, safe='')}"
    data = _get(session, url, headers).json()
    commit = data.get("sha") if isinstance(data, dict) else None
    if not commit:
        raise DownloadError(f"The Hugging Face Hub gave no version for {repo_id}; try again later.")
    return str(commit)


def _list_tree(
    session: Any, base: str, repo_id: str, commit: str, headers: dict
) -> list[_RemoteFile]:
    url: str | None = f"{base}/api/models/{repo_id}/tree/{commit}"
    params: dict | None = {"recursive": "true", "expand": "false"}
    out: list[_RemoteFile] = []
    while url:
        response = _get(session, url, headers, params)
        for item in response.json():
            if item.get("type") != "file":
                continue
            lfs = item.get("lfs") or {}
            out.append(_RemoteFile(item["path"], int(item["size"]), item["oid"], lfs.get("oid")))
        url = response.links.get("next", {}).get("url")  # the Hub pages long listings
        params = None
    return out


def _get(session: Any, url: str, headers: dict, params: dict | None = None) -> Any:
    import httpx2
    from huggingface_hub.utils import hf_raise_for_status

    timeout = httpx2.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S)
    response = session.get(url, headers=headers, params=params, timeout=timeout)
    hf_raise_for_status(response)
    return response


def _verify_existing(
    repo_id: str,
    f: _RemoteFile,
    blob: Path,
    pointer: Path,
    meter: _Meter,
    cancel: threading.Event,
) -> None:
    if hubcache.blob_known_good(repo_id, blob, f.etag):
        return
    meter.emit(f.path, phase="verify")
    try:
        digest = hubcache.hash_file(blob, f.hasher(), cancel)
    except InterruptedError:
        raise Cancelled(CANCELLED_MESSAGE) from None
    if digest != f.etag:
        hubcache.discard(repo_id, f.etag, blob, pointer)
        raise _corrupted(repo_id, f)
    hubcache.remember_blob(repo_id, blob, f.etag)


class _Overflow(Exception):
    """The server sent more bytes than the tree listing says the file has."""


def _fetch(
    session: Any,
    url: str,
    headers: dict,
    repo_id: str,
    f: _RemoteFile,
    blobs: Path,
    locks: Path,
    meter: _Meter,
    cancel: threading.Event,
) -> None:
    import httpx2
    from huggingface_hub.utils import WeakFileLock, hf_raise_for_status

    blob, partial = blobs / f.etag, blobs / f"{f.etag}.incomplete"
    timeout = httpx2.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S)
    # The lock huggingface_hub itself takes for this blob: another tool fetching the same file
    # at the same moment waits instead of writing into the same .incomplete file.
    with WeakFileLock(locks / f"{f.etag}.lock"):
        if blob.exists():
            return
        hasher, pos = f.hasher(), hubcache.partial_size(partial, f.size)
        if pos:
            try:
                hubcache.hash_file(partial, hasher, cancel)  # seeds the hash of the resumed file
            except InterruptedError:
                raise Cancelled(CANCELLED_MESSAGE) from None
        drops = 0
        with open(partial, "r+b" if pos else "wb") as out:
            out.truncate(pos)
            out.seek(pos)
            while pos < f.size:
                request_headers = {**headers, "Accept-Encoding": "identity"}
                if pos:
                    request_headers["Range"] = f"bytes={pos}-"
                try:
                    with session.stream("GET", url, headers=request_headers, timeout=timeout) as r:
                        if r.status_code >= 400:
                            r.read()
                            hf_raise_for_status(r)
                        if pos and (r.status_code != 206 or _range_start(r) != pos):
                            # The server ignored Range: start the file over rather than append.
                            out.seek(0)
                            out.truncate()
                            meter.rewind(pos)
                            hasher, pos = f.hasher(), 0
                        for chunk in r.iter_bytes():
                            if cancel.is_set():
                                raise Cancelled(CANCELLED_MESSAGE)
                            if pos + len(chunk) > f.size:
                                raise _Overflow
                            _write(out, chunk, f.size - pos, blobs)
                            hasher.update(chunk)
                            pos += len(chunk)
                            drops = 0
                            meter.add(len(chunk), f.path)
                    if pos < f.size:
                        raise httpx2.RemoteProtocolError("the response ended early")
                except (httpx2.RemoteProtocolError, httpx2.ReadError, httpx2.ReadTimeout):
                    # A dropped connection: resume from the last byte written, a few times.
                    drops += 1
                    if drops > MAX_RESUMES:
                        raise
                    out.flush()
                    if cancel.wait(0.2 * drops):
                        raise Cancelled(CANCELLED_MESSAGE) from None
                except _Overflow:
                    break
        if pos != f.size or hasher.hexdigest() != f.etag:
            hubcache.discard(repo_id, f.etag, partial, None)
            raise _corrupted(repo_id, f)
        os.replace(partial, blob)
        hubcache.remember_blob(repo_id, blob, f.etag)


def _range_start(response: Any) -> int | None:
    value = response.headers.get("Content-Range", "")  # "bytes 100-199/200"
    try:
        return int(value.split()[1].split("-")[0])
    except (IndexError, ValueError):
        return None


def _write(out: Any, chunk: bytes, remaining: int, folder: Path) -> None:
    try:
        out.write(chunk)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise DownloadError(_disk_message(remaining, shutil.disk_usage(folder).free)) from exc
        raise


def _corrupted(repo_id: str, f: _RemoteFile) -> DownloadError:
    return DownloadError(
        f"{f.path} of {repo_id} was corrupted in transit (checksum mismatch); "
        "it has been deleted — download again."
    )


def _check_disk_space(need: int, folder: Path) -> None:
    free = shutil.disk_usage(folder).free
    if need > free:
        raise DownloadError(_disk_message(need, free))


def _disk_message(need: int, free: int) -> str:
    return (
        f"There is not enough disk space for this model: {_gb(need)} needed, "
        f"{_gb(free)} free — free some space and try again."
    )


def _gb(n: int) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 100e6 else f"{n / 1e6:.1f} MB"
