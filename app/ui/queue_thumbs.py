"""What a queue entry shows besides its prompt: its mode and a small picture.

The picture is the init image while the job waits or runs (img2img, inpaint, outpaint) and
the first result once it is done; a txt2img job has none until it is done.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from app.ui.imageio import pil_to_qimage

THUMB_SIZE = 40
MODE_LABELS = {
    "txt2img": "Txt2img",
    "img2img": "Img2img",
    "inpaint": "Inpaint",
    "outpaint": "Outpaint",
}


def mode_label(mode: str) -> str:
    return MODE_LABELS.get(mode, mode.capitalize())


def thumbnail(source: object, size: int = THUMB_SIZE) -> QImage | None:
    """A ``size``-px thumbnail (aspect kept) of a PIL image or an image file; None if there
    is none or it cannot be read."""
    image: QImage | None = None
    if isinstance(source, Image.Image):
        small = source.copy()
        small.thumbnail((size * 2, size * 2))  # cheap first: an init image may be 4096 px
        image = pil_to_qimage(small)
    elif isinstance(source, (str, Path)) and str(source):
        image = QImage(str(source))
    if image is None or image.isNull():
        return None
    return image.scaled(
        size,
        size,
        Qt.AspectRatioMode.KeepAspectRatio,
        Qt.TransformationMode.SmoothTransformation,
    )
