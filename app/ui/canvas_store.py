"""Canvas work kept across restarts: the picture, its layers, the extension and the canvas's
own prompt fields, in the app's data folder until the user clears the canvas.

Layout of ``data_dir()/canvas``: one PNG per layer named ``<layer>-<generation>.png`` and a
``canvas.json`` manifest naming the files of the last complete save. Every file is written
atomically (temporary file, fsync, rename) and the manifest last, so a crash at any moment
leaves either the previous save or the new one, never a mixture; files no manifest names
are removed after the manifest is in place. A layer whose pixels did not change since the
last save (same QImage cache key) keeps its file, so a brush stroke re-encodes one layer.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QBuffer, QByteArray, QIODevice
from PySide6.QtGui import QImage

from app.library import paths

log = logging.getLogger(__name__)

MANIFEST = "canvas.json"
VERSION = 1
LAYERS = ("base", "paint", "mask", "control")
# Qt's PNG "quality" is zlib effort (0 smallest, 100 fastest): autosave favours speed.
_PNG_QUALITY = 80


def canvas_dir() -> Path:
    return paths.data_dir() / "canvas"


@dataclass
class SavedCanvas:
    base: QImage
    layers: dict[str, QImage]
    ext: tuple[int, int, int, int] = (0, 0, 0, 0)
    blank: bool = False
    fields: dict[str, Any] = field(default_factory=dict)


def _fsync_dir(folder: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    _fsync_dir(path.parent)


def _png_bytes(image: QImage) -> bytes:
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not image.save(buffer, "PNG", _PNG_QUALITY):
        raise OSError("the picture could not be encoded as PNG")
    buffer.close()
    return bytes(data.data())


class CanvasStore:
    """Saves and loads one canvas; ``folder`` defaults to the app's data folder."""

    def __init__(self, folder: Path | None = None) -> None:
        self._folder = folder
        self._written: dict[str, tuple[int, str]] = {}  # layer -> (cache key, file name)

    @property
    def folder(self) -> Path:
        return self._folder if self._folder is not None else canvas_dir()

    def save(
        self,
        layers: dict[str, QImage],
        ext: tuple[int, int, int, int],
        blank: bool,
        fields: dict[str, Any],
    ) -> None:
        """Write the canvas; an empty ``layers["base"]`` keeps only the fields. Raises OSError."""
        folder = self.folder
        folder.mkdir(parents=True, exist_ok=True)
        generation = uuid.uuid4().hex[:10]
        names: dict[str, str] = {}
        base = layers.get("base", QImage())
        if not base.isNull():
            for layer in LAYERS:
                image = layers.get(layer, QImage())
                if image.isNull():
                    continue
                key = image.cacheKey()
                known = self._written.get(layer)
                if known is not None and known[0] == key and (folder / known[1]).is_file():
                    names[layer] = known[1]
                    continue
                name = f"{layer}-{generation}.png"
                write_atomic(folder / name, _png_bytes(image))
                self._written[layer] = (key, name)
                names[layer] = name
        manifest = {
            "version": VERSION,
            "layers": names,
            "ext": list(ext),
            "blank": blank,
            "fields": fields,
        }
        write_atomic(folder / MANIFEST, json.dumps(manifest, indent=1).encode("utf-8"))
        self._remove_unnamed(set(names.values()))

    def load(self) -> SavedCanvas | None:
        """The last save, or None when there is none. Raises ValueError when it is unreadable."""
        path = self.folder / MANIFEST
        if not path.is_file():
            return None
        try:
            manifest = json.loads(path.read_text("utf-8"))
            names = dict(manifest.get("layers", {}))
            ext = tuple(int(v) for v in manifest.get("ext", (0, 0, 0, 0)))
            fields = manifest.get("fields", {})
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            raise ValueError(f"the saved canvas could not be read ({exc})") from exc
        if len(ext) != 4 or any(v < 0 for v in ext) or not isinstance(fields, dict):
            raise ValueError("the saved canvas has a broken manifest")
        images: dict[str, QImage] = {}
        for layer, name in names.items():
            if layer not in LAYERS or "/" in str(name) or "\\" in str(name):
                continue
            image = QImage(str(self.folder / str(name)))
            if image.isNull():
                raise ValueError(f"the saved layer {name} could not be read")
            images[layer] = image
            self._written[layer] = (image.cacheKey(), str(name))
        base = images.pop("base", QImage())
        return SavedCanvas(
            base=base,
            layers=images,
            ext=(ext[0], ext[1], ext[2], ext[3]),
            blank=bool(manifest.get("blank", False)),
            fields=fields,
        )

    def clear(self) -> None:
        """Remove every saved file (the user cleared the canvas)."""
        self._written.clear()
        folder = self.folder
        if not folder.is_dir():
            return
        for path in folder.iterdir():
            if path.is_file():
                with contextlib.suppress(OSError):
                    path.unlink()

    def _remove_unnamed(self, keep: set[str]) -> None:
        for path in self.folder.glob("*.png"):
            if path.name not in keep:
                with contextlib.suppress(OSError):
                    path.unlink()
        # The image cache keys survive only for files still on disk.
        self._written = {k: v for k, v in self._written.items() if v[1] in keep}
