"""The gallery's thumbnail cache: one small file per picture and size, made once.

Keyed by the picture's path, size and mtime, so a changed file gets a new thumbnail and an
old one is simply never asked for again.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

from PIL import Image

from app.errors import LibraryError

_THUMB_QUALITY = 85


def thumb_key(path: Path, st: os.stat_result) -> str:
    raw = f"{path.resolve()}|{st.st_mtime_ns}|{st.st_size}"
    return hashlib.sha1(raw.encode("utf-8", "surrogatepass")).hexdigest()


def drop_thumbnails(folder: Path, path: Path) -> None:
    try:
        key = thumb_key(path, path.stat())
    except OSError:
        return
    for thumb in folder.glob(f"{key}-*"):
        thumb.unlink(missing_ok=True)


def make_thumbnail(folder: Path, path: Path, size: int = 256) -> Path:
    """The cached thumbnail of ``path`` in ``folder``, made now if it isn't there yet."""
    try:
        st = path.stat()
    except OSError as exc:
        raise LibraryError(
            f"{path.name} is missing from the gallery folder; it may have been moved."
        ) from exc
    stem = f"{thumb_key(path, st)}-{size}"
    for suffix in (".jpg", ".png"):
        cached = folder / f"{stem}{suffix}"
        if cached.exists():
            return cached
    try:
        with Image.open(path) as image:
            image.draft("RGB", (size, size))  # JPEG decodes at a reduced scale: cheap
            image.thumbnail((size, size), Image.Resampling.BICUBIC, reducing_gap=2.0)
            alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
            thumb = image.convert("RGBA" if alpha else "RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise LibraryError(
            f"{path.name} could not be read to make a thumbnail; the file may be damaged."
        ) from exc
    target = folder / f"{stem}{'.png' if alpha else '.jpg'}"
    # A cache: no fsync, but still a rename so a reader never sees half a thumbnail.
    tmp = folder / f".{stem}.{os.getpid()}.{threading.get_ident()}.tmp"
    try:
        if alpha:
            thumb.save(tmp, format="PNG", compress_level=1)
        else:
            thumb.save(tmp, format="JPEG", quality=_THUMB_QUALITY)
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise LibraryError(
            f"Could not write a thumbnail to {folder} ({exc.strerror or exc}); "
            "check the free space of the cache folder."
        ) from exc
    return target
