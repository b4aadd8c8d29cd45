"""Short hashes the webui writes into the infotext for LoRAs and embeddings, cached.

Hashing a file once per size+mtime (in ``data_dir()/model-hashes.json``, the cache the
registry's "Model hash" uses too): a 150 MB LoRA costs a fraction of a second once, not at
every job.
"""

from __future__ import annotations

from pathlib import Path

from app.models.store import cached_digest


def network_hash(path: str | Path, metadata: dict[str, str] | None = None) -> str:
    """The short hash the webui writes for a LoRA in ``Lora hashes`` (first 12 hex digits):
    the file's own ``sshs_model_hash`` when it states one, else for .safetensors the "addnet"
    hash (SHA-256 of the bytes after the header), for other files the file's SHA-256."""
    from app.models.safeload import addnet_sha256, file_sha256

    stated = (metadata or {}).get("sshs_model_hash", "")
    if stated:
        return stated[:12]
    if Path(path).suffix.lower() == ".safetensors":
        return cached_digest(path, "addnet", lambda p: addnet_sha256(p))[:12]
    return cached_digest(path, "sha256", lambda p: file_sha256(p))[:12]


def embedding_hash(path: str | Path) -> str:
    """The short hash the webui writes for an embedding in ``TI hashes``: the first 12 hex
    digits of the file's SHA-256 (modules/textual_inversion: ``hashes.sha256``)."""
    from app.models.safeload import file_sha256

    return cached_digest(path, "sha256", lambda p: file_sha256(p))[:12]
