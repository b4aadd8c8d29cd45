"""Copying pictures from elsewhere into the gallery, and finding ones already there.

A mixin of `Gallery` (it uses the gallery's lock, connection and atomic write), kept apart
so the store's module stays about saving, browsing and reconciling.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image, ImageOps

from app.errors import LibraryError
from app.library import pngio
from app.library.gallery_index import (
    _ITEM_COLUMNS,
    GalleryItem,
    _file_sha256,
    _FileInfo,
    _seed_of,
    _sha256,
)
from app.library.infotext import parse_infotext

_IMPORTABLE = {"PNG", "JPEG", "MPO", "WEBP"}


class GalleryImport:
    root: Path
    _lock: threading.RLock
    _conn: sqlite3.Connection

    if TYPE_CHECKING:

        def reconcile(self) -> tuple[int, int]: ...
        def get(self, id: int) -> GalleryItem | None: ...  # noqa: A002
        def _item(self, row: tuple) -> GalleryItem: ...
        def _write_new(self, data: bytes, stem: str, info: _FileInfo) -> GalleryItem: ...

    def import_file(self, path: Path) -> GalleryItem:
        """Copy a PNG, JPEG or WebP into the gallery as PNG, keeping its parameters.

        A file whose content is already in the gallery returns the existing item.
        """
        src = Path(path)
        try:
            data = src.read_bytes()
            with Image.open(src) as probe:
                kind = probe.format
        except FileNotFoundError as exc:
            raise LibraryError(f"{src} does not exist; check the path.") from exc
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            raise LibraryError(
                f"{src.name} could not be read as an image; import a PNG, JPEG or WebP file."
            ) from exc
        if kind not in _IMPORTABLE:
            raise LibraryError(
                f"{src.name} is a {kind} image; import a PNG, JPEG or WebP file instead."
            )
        if src.resolve().parent == self.root.resolve():
            self.reconcile()  # already in the folder: index it where it is
            found = self._find_by_name(src.name)
            if found is not None:
                return found
        source_sha = _sha256(data)
        existing = self._find_duplicate(source_sha, len(data))
        if existing is not None:
            return existing

        size, texts = pngio.read_texts(src)
        parameters = pngio.parameters_from_texts(texts, size) or ""
        seed = _seed_of(parse_infotext(parameters).params)
        stem = str(seed) if seed is not None else src.stem
        if kind == "PNG" and (pngio.PARAMETERS_KEY in texts or not parameters):
            # Already in our format (or nothing to add): keep the file byte for byte.
            out, width, height = data, size[0], size[1]
        else:
            try:
                with Image.open(src) as image:
                    image.load()
                    upright = ImageOps.exif_transpose(image)
                    width, height = upright.size
                    # Keep other apps' chunks (ComfyUI's workflow) next to ours.
                    extra = {k: v for k, v in texts.items() if k != pngio.PARAMETERS_KEY}
                    out = pngio.encode_png(upright, parameters, extra if kind == "PNG" else None)
            except (OSError, ValueError) as exc:
                raise LibraryError(
                    f"{src.name} could not be converted to PNG ({exc}); the file may be damaged."
                ) from exc
        info = _FileInfo(
            parameters, width, height, seed=seed, sha256=_sha256(out), source_sha256=source_sha
        )
        return self._write_new(out, stem, info)

    def _find_by_name(self, name: str) -> GalleryItem | None:
        with self._lock:
            row = self._conn.execute(
                f"SELECT {_ITEM_COLUMNS} FROM images WHERE name = ?", (name,)
            ).fetchone()
        return self._item(row) if row else None

    def _find_duplicate(self, sha: str, size: int) -> GalleryItem | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT id FROM images WHERE sha256 = ? OR source_sha256 = ? LIMIT 1", (sha, sha)
            ).fetchone()
            if row:
                return self.get(row[0])
            # Rows indexed by reconcile have no hash yet; only same-size files can match.
            candidates = self._conn.execute(
                "SELECT id, name FROM images WHERE sha256 IS NULL AND size = ?", (size,)
            ).fetchall()
            for id_, name in candidates:
                try:
                    file_sha = _file_sha256(self.root / name)
                except OSError:
                    continue
                with self._conn:
                    self._conn.execute("UPDATE images SET sha256 = ? WHERE id = ?", (file_sha, id_))
                if file_sha == sha:
                    return self.get(id_)
        return None
