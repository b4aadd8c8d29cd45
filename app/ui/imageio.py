"""Images in and out of Qt: PIL <-> QImage, the clipboard, drag-and-drop payloads.

Shared by the gallery and the canvas so both accept the same things: local PNG/JPEG/WebP
files (dragged from a file manager or copied in one) and raw image data (from a browser or
another paint app).
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image
from PySide6.QtCore import QMimeData, QUrl
from PySide6.QtGui import QBrush, QColor, QGuiApplication, QImage, QPainter, QPixmap

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp"})
FILE_DIALOG_FILTER = "Images (*.png *.jpg *.jpeg *.webp);;All files (*)"


def pil_to_qimage(image: Image.Image) -> QImage:
    """A deep copy, so the QImage owns its pixels and outlives the PIL image."""
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    if has_alpha:
        rgba = image.convert("RGBA")
        data = rgba.tobytes("raw", "RGBA")
        q = QImage(data, rgba.width, rgba.height, 4 * rgba.width, QImage.Format.Format_RGBA8888)
    else:
        rgb = image.convert("RGB")
        data = rgb.tobytes("raw", "RGB")
        q = QImage(data, rgb.width, rgb.height, 3 * rgb.width, QImage.Format.Format_RGB888)
    return q.copy()


def qimage_to_pil(image: QImage, mode: str = "RGB") -> Image.Image:
    """`mode` "RGB", "RGBA" or "L" (the alpha or grey channel, e.g. of a mask)."""
    w, h = image.width(), image.height()
    if mode == "L":
        fmt = QImage.Format.Format_Grayscale8
        if image.format() == QImage.Format.Format_Alpha8:
            fmt = QImage.Format.Format_Alpha8
        grey = image.convertToFormat(fmt)
        return Image.frombuffer(
            "L", (w, h), bytes(grey.constBits()), "raw", "L", grey.bytesPerLine(), 1
        ).copy()
    rgba = image.convertToFormat(QImage.Format.Format_RGBA8888)
    pil = Image.frombuffer(
        "RGBA", (w, h), bytes(rgba.constBits()), "raw", "RGBA", rgba.bytesPerLine(), 1
    ).copy()
    if mode == "RGBA":
        return pil
    if pil.getextrema()[3][0] < 255:
        # Transparent pixels have no colour of their own; show them on white, as viewers do.
        flat = Image.new("RGB", pil.size, (255, 255, 255))
        flat.paste(pil, mask=pil.getchannel("A"))
        return flat
    return pil.convert("RGB")


def is_image_path(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def image_paths_from_mime(mime: QMimeData) -> list[Path]:
    """Local image files named in a drop or a paste, in order."""
    if not mime.hasUrls():
        return []
    found: list[Path] = []
    for url in mime.urls():
        if url.isLocalFile() and is_image_path(url.toLocalFile()):
            found.append(Path(url.toLocalFile()))
    return found


def mime_has_image(mime: QMimeData) -> bool:
    return bool(image_paths_from_mime(mime)) or mime.hasImage()


def image_from_mime(mime: QMimeData) -> QImage | None:
    """The first image a drop or the clipboard carries: a file first, else raw image data."""
    for path in image_paths_from_mime(mime):
        image = QImage(str(path))
        if not image.isNull():
            return image
    if mime.hasImage():
        data = mime.imageData()
        if isinstance(data, QImage) and not data.isNull():
            return data
        if isinstance(data, QPixmap) and not data.isNull():
            return data.toImage()
    return None


def image_mime(image: QImage, path: str | Path | None = None) -> QMimeData:
    """What a copy or a drag carries: the pixels, and the file where there is one."""
    mime = QMimeData()
    mime.setImageData(image)
    if path is not None:
        mime.setUrls([QUrl.fromLocalFile(str(path))])
    return mime


_clipboard_is_ours = False


def copy_image_to_clipboard(image: QImage, path: str | Path | None = None) -> None:
    global _clipboard_is_ours
    QGuiApplication.clipboard().setMimeData(image_mime(image, path))
    _clipboard_is_ours = True


def release_clipboard() -> None:
    """Swap our Python-made QMimeData on the clipboard for a plain Qt copy of the image.

    Qt deletes the clipboard's data in its exit handlers, after Python has shut down; a
    QMimeData made in Python then calls back into the dead interpreter and the process
    segfaults on quit. Called on ``aboutToQuit``: the picture stays on the clipboard.
    """
    global _clipboard_is_ours
    if not _clipboard_is_ours or QGuiApplication.instance() is None:
        return
    clipboard = QGuiApplication.clipboard()
    image = clipboard.image()
    if clipboard.ownsClipboard() and not image.isNull():
        clipboard.setImage(image)  # Qt makes (and owns) this QMimeData itself
    else:
        clipboard.clear()
    _clipboard_is_ours = False


def checkerboard_brush(cell: int = 8, light: str = "#3a3a3f", dark: str = "#2c2c30") -> QBrush:
    """The usual sign for transparency; dark greys so it sits quietly in a dark window."""
    tile = QPixmap(cell * 2, cell * 2)
    tile.fill(QColor(light))
    painter = QPainter(tile)
    painter.fillRect(0, 0, cell, cell, QColor(dark))
    painter.fillRect(cell, cell, cell, cell, QColor(dark))
    painter.end()
    return QBrush(tile)
