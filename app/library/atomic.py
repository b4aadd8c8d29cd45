"""Atomic file writes: temp file in the same folder, fsync, rename, fsync the folder.

A crash (even `kill -9`) or a full disk at any point leaves either the old file or the new
one under the real name, never a partial one; the temp file a dead writer leaves behind is
a dot-file that `remove_stale_temp_files` clears on the next start.
"""

from __future__ import annotations

import errno
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from app.errors import LibraryError


class WriteError(LibraryError):
    """A file could not be written; `cause` says why and what to do, as a clause."""

    def __init__(self, message: str, cause: str) -> None:
        super().__init__(message)
        self.cause = cause


def write_error(path: Path, exc: OSError) -> WriteError:
    folder = path.parent
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        return WriteError(
            f"The disk holding {folder} is full; free some space and save the image again.",
            f"the disk holding {folder} is full; free some space",
        )
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS) or isinstance(exc, PermissionError):
        return WriteError(
            f"Easel is not allowed to write to {folder}; check its permissions "
            "or choose another gallery folder.",
            f"Easel is not allowed to write to {folder}; check its permissions",
        )
    reason = exc.strerror or str(exc)
    return WriteError(
        f"Could not write {path.name} to {folder} ({reason}).",
        f"{path.name} could not be written to {folder} ({reason}); fix that",
    )


# A test seam: called at each step of a write ("partial" half-way through the bytes,
# "written", "synced", "renamed") so a test can kill the process at exactly that point.
save_hook: Callable[[str, Path], None] | None = None


def _step(name: str, path: Path) -> None:
    if save_hook is not None:
        save_hook(name, path)


_umask_lock = threading.Lock()


def current_umask() -> int:
    """The process umask. Linux reports it; elsewhere it is read by setting and restoring."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _umask_lock:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def _temp_prefix(path: Path) -> str:
    # The pid lets a later start tell a dead writer's leftover from a live writer's file.
    return f".{path.stem}.{os.getpid()}."


_TEMP_NAME = re.compile(r"^\..*\.(\d+)\.[A-Za-z0-9_]+\.tmp$")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # it exists but belongs to someone else
    return True


def remove_stale_temp_files(folder: Path, max_age: float = 3600.0) -> int:
    """Delete temp files left by writers that died mid-write; returns how many went.

    On POSIX a temp file is stale when the pid in its name is not running; elsewhere (or
    for a name without a pid) when it is older than `max_age` seconds.
    """
    removed = 0
    now = time.time()
    try:
        with os.scandir(folder) as it:
            entries = [e for e in it if e.name.startswith(".") and e.name.endswith(".tmp")]
    except OSError:
        return 0
    for entry in entries:
        match = _TEMP_NAME.match(entry.name)
        pid = int(match.group(1)) if match else None
        try:
            if pid is not None and os.name == "posix":
                if pid == os.getpid() or _pid_alive(pid):
                    continue
            elif now - entry.stat().st_mtime < max_age:
                continue
            os.unlink(entry.path)
            removed += 1
        except OSError:
            continue
    return removed


def atomic_write(path: Path, write: Callable[[BinaryIO], None]) -> Path:
    """Write a file through `write(f)` atomically; WriteError (a sentence) on failure."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=_temp_prefix(path), suffix=".tmp")
    except OSError as exc:
        raise write_error(path, exc) from exc
    tmp = Path(tmp_name)
    try:
        # mkstemp makes the file 0600; a saved picture gets the mode any new file would get
        # (0644 under the usual umask 022), so the user's group reads it like their others.
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            _step("written", tmp)
            os.fsync(f.fileno())
        _step("synced", tmp)
        os.replace(tmp, path)
    except BaseException as exc:
        # Never leave a temp file behind, whatever went wrong (including Ctrl+C).
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise write_error(path, exc) from exc
        raise
    fsync_dir(path.parent)
    _step("renamed", path)
    return path


def fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable on POSIX; Windows cannot open folders, and that is fine.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_bytes(data: bytes, path: Path) -> Path:
    """Write bytes atomically (temp file, fsync, rename); WriteError on failure."""

    def write(f: BinaryIO) -> None:
        half = len(data) // 2
        f.write(data[:half])
        if save_hook is not None:
            f.flush()
            _step("partial", path)
        f.write(data[half:])

    return atomic_write(Path(path), write)
