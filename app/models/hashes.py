"""Short hashes the webui writes into the infotext for LoRAs and embeddings, cached.

Hashing a file once per size+mtime (in ``data_dir()/model-hashes.json``, the cache the
registry's "Model hash" uses too): a 150 MB LoRA costs a fraction of a second once, not at
every job.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path

from app.library.paths import data_dir

_LOCK = threading.Lock()


def _cached_digest(path: str | Path, tag: str, compute: Callable[[Path], str]) -> str:
    p = Path(path)
    st = p.stat()
    key = f"{tag}|{p.resolve()}|{st.st_size}|{st.st_mtime_ns}"
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


def network_hash(path: str | Path, metadata: dict[str, str] | None = None) -> str:
    """The short hash the webui writes for a LoRA in ``Lora hashes`` (first 12 hex digits):
    the file's own ``sshs_model_hash`` when it states one, else for .safetensors the "addnet"
    hash (SHA-256 of the bytes after the header), for other files the file's SHA-256."""
    from app.models.safeload import addnet_sha256, file_sha256

    stated = (metadata or {}).get("sshs_model_hash", "")
    if stated:
        return stated[:12]
    if Path(path).suffix.lower() == ".safetensors":
        return _cached_digest(path, "addnet", lambda p: addnet_sha256(p))[:12]
    return _cached_digest(path, "sha256", lambda p: file_sha256(p))[:12]


def embedding_hash(path: str | Path) -> str:
    """The short hash the webui writes for an embedding in ``TI hashes``: the first 12 hex
    digits of the file's SHA-256 (modules/textual_inversion: ``hashes.sha256``)."""
    from app.models.safeload import file_sha256

    return _cached_digest(path, "sha256", lambda p: file_sha256(p))[:12]
