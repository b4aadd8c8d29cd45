"""What the registry remembers between runs (the default, the folders used in place) and
the records it keeps per file (the webui's model hash), written atomically under one lock."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from app.library.paths import data_dir

_LOCK = threading.Lock()


@dataclass
class _State:
    default: str = ""
    folders: list[str] = field(default_factory=list)  # model libraries, scanned in place
    diffusers: list[str] = field(default_factory=list)  # diffusers folders added in place
    files: list[str] = field(default_factory=list)  # single model files opened in place


def models_dir() -> Path:
    path = data_dir() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _state_path() -> Path:
    return data_dir() / "models.json"


def _load_state() -> _State:
    try:
        raw = json.loads(_state_path().read_text(encoding="utf-8"))
        return _State(
            default=str(raw.get("default", "")),
            folders=[str(p) for p in raw.get("folders", [])],
            diffusers=[str(p) for p in raw.get("diffusers", [])],
            files=[str(p) for p in raw.get("files", [])],
        )
    except (OSError, ValueError, AttributeError):
        return _State()


def _save_state(state: _State) -> None:
    path = _state_path()
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(asdict(state), indent=2), encoding="utf-8")
    os.replace(tmp, path)


def _folder_size(path: Path) -> int:
    total = 0
    for p in path.rglob("*"):
        try:
            if p.is_file():
                total += p.stat().st_size  # follows HF cache symlinks to their blobs
        except OSError:
            pass
    return total


def cached_digest(path: str | Path, tag: str, compute: Callable[[Path], str]) -> str:
    """``compute(path)``, remembered in ``model-hashes.json`` by path, size and mtime (and
    ``tag``, one per kind of digest), so a multi-GB file is hashed once, not at every use."""
    p = Path(path)
    st = p.stat()
    key = f"{p.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    key = f"{tag}|{key}" if tag else key  # "Model hash" entries predate tags: keep their keys
    cache_path = data_dir() / "model-hashes.json"
    with _LOCK:
        try:
            cache = json.loads(cache_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            cache = {}
        if key in cache:
            return str(cache[key])
    digest = compute(p)
    with _LOCK:
        cache[key] = digest
        tmp = cache_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(cache), encoding="utf-8")
        os.replace(tmp, cache_path)
    return digest


def model_hash(path: str | Path) -> str:
    """A1111's "Model hash" (first 10 hex digits of the file's SHA-256), cached by size+mtime
    so a 2-7 GB checkpoint is hashed once, not at every load."""
    from app.models.safeload import file_sha256

    return cached_digest(path, "", lambda p: file_sha256(p)[:10])
