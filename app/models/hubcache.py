"""The local side of the Hugging Face cache: what is installed, answered offline, and the few
writes a download makes there (blobs, snapshot links, refs).

The cache is the standard one other tools share (``HF_HUB_CACHE``, else ``HF_HOME/hub``):
``models--org--name/{blobs,snapshots/<commit>,refs/<branch>}``. Easel adds one small file per
repo, ``.easel-verified.json``, recording which snapshots it downloaded completely and checked,
and which blobs' SHA-256 already matched (keyed by size and mtime, so an unchanged multi-GB blob
is hashed once, not on every start). huggingface_hub's cache scanner ignores extra files there.

Environment variables are read at call time, not import time, so tests and the settings page
can point the cache elsewhere without re-importing huggingface_hub.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

MARKER_NAME = ".easel-verified.json"
_MARKER_VERSION = 1
_marker_lock = threading.Lock()

_TRUE = {"1", "ON", "YES", "TRUE"}


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache folder, honouring HF_HUB_CACHE, HUGGINGFACE_HUB_CACHE, HF_HOME."""
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            return Path(os.path.expandvars(os.path.expanduser(os.environ[var])))
    home = os.environ.get("HF_HOME")
    if not home:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        home = os.path.join(xdg, "huggingface")
    return Path(os.path.expandvars(os.path.expanduser(home))) / "hub"


def offline_mode() -> bool:
    """True when the user asked for no network (HF_HUB_OFFLINE=1 or TRANSFORMERS_OFFLINE=1)."""
    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return value.upper() in _TRUE


def repo_folder(repo_id: str, cache_dir: Path | None = None) -> Path:
    """The cache folder of a model repo (``models--org--name``), whether or not it exists."""
    return (cache_dir or hub_cache_dir()) / ("models--" + repo_id.replace("/", "--"))


def read_ref(repo_id: str, revision: str = "main", cache_dir: Path | None = None) -> str | None:
    """The commit a branch or tag pointed to when last downloaded; a commit hash maps to itself."""
    if len(revision) == 40 and all(c in "0123456789abcdef" for c in revision):
        return revision
    ref = repo_folder(repo_id, cache_dir) / "refs" / revision
    try:
        commit = ref.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return commit or None


def patterns_key(
    allow_patterns: Iterable[str] | None, ignore_patterns: Iterable[str] | None = None
) -> str:
    """A stable key for a file selection: one repo can be installed as a full model and, apart,
    as config files only (family configs), and the two must not be mistaken for each other."""
    allow = sorted(allow_patterns) if allow_patterns is not None else ["*"]
    ignore = sorted(ignore_patterns or ())
    return "allow=" + "|".join(allow) + ";ignore=" + "|".join(ignore)


# -- the marker file ------------------------------------------------------------------------


def _marker_path(repo_id: str, cache_dir: Path | None) -> Path:
    return repo_folder(repo_id, cache_dir) / MARKER_NAME


def read_marker(repo_id: str, cache_dir: Path | None = None) -> dict[str, Any]:
    try:
        data = json.loads(_marker_path(repo_id, cache_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {}
    if not isinstance(data, dict) or data.get("format_version") != _MARKER_VERSION:
        data = {}
    data.setdefault("format_version", _MARKER_VERSION)
    data.setdefault("installs", {})
    data.setdefault("blobs", {})
    return data


def _write_marker(repo_id: str, data: Mapping[str, Any], cache_dir: Path | None) -> None:
    path = _marker_path(repo_id, cache_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Atomic replace: a reader (another Easel window) never sees half a file.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".easel-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def update_marker(repo_id: str, change: Any, cache_dir: Path | None = None) -> None:
    """Read, let ``change(data)`` edit in place, write back (serialised within this process)."""
    with _marker_lock:
        data = read_marker(repo_id, cache_dir)
        change(data)
        _write_marker(repo_id, data, cache_dir)


def record_install(
    repo_id: str,
    commit: str,
    key: str,
    files: Mapping[str, int],
    cache_dir: Path | None = None,
) -> None:
    """Mark a snapshot complete and verified for one file selection (``files``: path -> size)."""

    def change(data: dict[str, Any]) -> None:
        data["installs"].setdefault(commit, {})[key] = {"files": dict(sorted(files.items()))}

    update_marker(repo_id, change, cache_dir)


def forget_install(repo_id: str, commit: str, cache_dir: Path | None = None) -> None:
    def change(data: dict[str, Any]) -> None:
        data["installs"].pop(commit, None)

    update_marker(repo_id, change, cache_dir)


# -- verified blobs -------------------------------------------------------------------------


def _blob_stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def blob_known_good(repo_id: str, blob: Path, digest: str, cache_dir: Path | None = None) -> bool:
    """True when this exact file (same path, size and mtime) already matched ``digest``."""
    stamp = _blob_stamp(blob)
    seen = read_marker(repo_id, cache_dir)["blobs"].get(digest)
    return (
        stamp is not None
        and isinstance(seen, dict)
        and seen.get("path") == str(blob)
        and (seen.get("size"), seen.get("mtime_ns")) == stamp
    )


def remember_blob(repo_id: str, blob: Path, digest: str, cache_dir: Path | None = None) -> None:
    stamp = _blob_stamp(blob)
    if stamp is None:
        return

    def change(data: dict[str, Any]) -> None:
        data["blobs"][digest] = {"path": str(blob), "size": stamp[0], "mtime_ns": stamp[1]}

    update_marker(repo_id, change, cache_dir)


def forget_blob(repo_id: str, digest: str, cache_dir: Path | None = None) -> None:
    def change(data: dict[str, Any]) -> None:
        data["blobs"].pop(digest, None)

    update_marker(repo_id, change, cache_dir)


def git_blob_sha1_hasher(size: int) -> Any:
    """A hasher giving git's blob id (what the Hub's tree lists as ``oid`` for non-LFS files)."""
    h = hashlib.sha1(usedforsecurity=False)
    h.update(b"blob %d\0" % size)
    return h


def hash_file(path: Path, hasher: Any, cancel: threading.Event | None = None) -> str:
    with path.open("rb") as f:
        while chunk := f.read(4 << 20):
            if cancel is not None and cancel.is_set():
                raise InterruptedError
            hasher.update(chunk)
    return hasher.hexdigest()


# -- cache layout: blobs, snapshot links, refs ------------------------------------------


def existing_blob(pointer: Path, blob: Path, size: int) -> Path | None:
    """The file already holding this repo file (through the snapshot link or the blob), if its
    size is right; any other snapshot entry for it is removed so it can be linked afresh."""
    for candidate in (pointer, blob):
        try:
            if candidate.stat().st_size == size:
                return Path(os.path.realpath(candidate))
        except OSError:
            continue
    if os.path.lexists(pointer):
        pointer.unlink()  # a dangling or wrong-size snapshot entry: replaced after the download
    return None


def partial_size(partial: Path, size: int) -> int:
    """Bytes of an interrupted download to resume from (0 when absent or impossible)."""
    try:
        n = partial.stat().st_size
    except OSError:
        return 0
    return n if n <= size else 0


def link_snapshot_file(blob: Path, pointer: Path, *, new_blob: bool) -> None:
    """Make ``snapshots/<commit>/<path>`` point at its blob, as huggingface_hub does."""
    if pointer.exists():
        return
    pointer.parent.mkdir(parents=True, exist_ok=True)
    if os.path.lexists(pointer):
        pointer.unlink()
    try:
        # huggingface_hub's own helper: relative symlinks, or a move/copy where the OS has none.
        from huggingface_hub.file_download import _create_symlink

        _create_symlink(str(blob), str(pointer), new_blob=new_blob)
    except ImportError:
        os.symlink(os.path.relpath(blob, pointer.parent), pointer)


def write_ref(storage: Path, revision: str, commit: str) -> None:
    ref = storage / "refs" / revision
    ref.parent.mkdir(parents=True, exist_ok=True)
    tmp = ref.with_name(f"{ref.name}.{os.getpid()}.tmp")
    tmp.write_text(commit, encoding="utf-8")
    os.replace(tmp, ref)


def discard(repo_id: str, digest: str, blob: Path, pointer: Path | None) -> None:
    """Delete a bad blob and its snapshot link, and forget that it was ever verified."""
    for path in (pointer, blob):
        if path is not None and os.path.lexists(path):
            with contextlib.suppress(OSError):
                path.unlink()
    forget_blob(repo_id, digest)


# -- installed snapshots --------------------------------------------------------------------


def installed_snapshot_for(
    repo_id: str,
    revision: str = "main",
    allow_patterns: Iterable[str] | None = None,
    ignore_patterns: Iterable[str] | None = None,
    cache_dir: Path | None = None,
) -> Path | None:
    """The snapshot folder when Easel downloaded and verified this selection completely.

    Local files only: refs/<revision>, the marker and a stat of each file. A partial download
    (missing file, wrong size, ``.incomplete`` blob) is never reported installed.
    """
    commit = read_ref(repo_id, revision, cache_dir)
    if commit is None:
        return None
    record = (
        read_marker(repo_id, cache_dir)["installs"]
        .get(commit, {})
        .get(patterns_key(allow_patterns, ignore_patterns))
    )
    if not isinstance(record, dict) or not record.get("files"):
        return None
    snapshot = repo_folder(repo_id, cache_dir) / "snapshots" / commit
    for rel, size in record["files"].items():
        try:
            if (snapshot / rel).stat().st_size != size:  # stat follows the blob symlink
                return None
        except OSError:
            return None
    return snapshot


def snapshot_with_configs(repo_id: str, revision: str = "main") -> Path | None:
    """A cached snapshot of a pipeline repo holding model_index.json and every component's config,
    however it got there (a full model download, or another tool's)."""
    commit = read_ref(repo_id, revision)
    if commit is None:
        return None
    snapshot = repo_folder(repo_id) / "snapshots" / commit
    try:
        index = json.loads((snapshot / "model_index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    for name, value in index.items():
        if name.startswith("_") or not isinstance(value, list) or value[0] is None:
            continue
        if name in ("safety_checker", "feature_extractor", "image_encoder"):
            continue  # loaded as None by Easel
        folder = snapshot / name
        if not any(
            (folder / cfg).is_file()
            for cfg in ("config.json", "scheduler_config.json", "tokenizer_config.json")
        ):
            return None
    return snapshot
