"""Favourites, kept in a small sidecar file next to the pictures as well as in the index.

Why a sidecar and not a PNG text chunk: starring a picture must not rewrite the user's
file (new bytes, new mtime and hash, slow for big pictures, impossible on read-only ones,
and no other tool reads such a chunk). Why not only the index: the index is a cache that
is rebuilt from the files, and a star is the user's own work. The sidecar lives in the
gallery folder (a dot-file, so the gallery skips it), travels with the pictures when the
folder is moved, and is the truth the index is synced from at every reconcile.
"""

from __future__ import annotations

import json
from pathlib import Path

from app.library.atomic import write_bytes

SIDECAR_NAME = ".easel-favourites.json"


def load_favourites(folder: Path) -> set[str]:
    """File names starred in `folder`; empty when the sidecar is missing or unreadable."""
    try:
        data = json.loads((folder / SIDECAR_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    names = data.get("favourites") if isinstance(data, dict) else None
    if not isinstance(names, list):
        return set()
    return {name for name in names if isinstance(name, str) and "/" not in name}


def save_favourites(folder: Path, names: set[str]) -> None:
    """Write the sidecar atomically (WriteError on failure)."""
    body = {"version": 1, "favourites": sorted(names)}
    text = json.dumps(body, ensure_ascii=False, indent=0)
    write_bytes(text.encode("utf-8"), folder / SIDECAR_NAME)
