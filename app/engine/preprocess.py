"""ControlNet preprocessors: turn a picture or a drawing into the control image a ControlNet
expects (white lines on black for canny, scribble and lineart).

Canny uses OpenCV (``opencv-python-headless``), imported only when canny is asked for. Depth and
openpose run preprocessor models downloaded on first use (``app.engine.annotators``).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from app.errors import InvalidRequest


def _gray(image: Image.Image) -> np.ndarray:
    if image.mode in ("RGBA", "LA"):
        # A drawing on a transparent layer: transparent counts as white paper.
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, image.convert("RGBA"))
    return np.asarray(image.convert("L"), dtype=np.uint8)


def _rgb(gray: np.ndarray) -> Image.Image:
    return Image.fromarray(gray, "L").convert("RGB")


def canny(image: Image.Image, low: float = 100, high: float = 200) -> Image.Image:
    """OpenCV's Canny edges, white on black, as the webui's canny module computes them."""
    try:
        import cv2
    except ImportError as exc:  # pragma: no cover - the package is a dependency
        raise InvalidRequest(
            "Canny preprocessing needs OpenCV (opencv-python-headless); reinstall Easel."
        ) from exc
    rgb = np.asarray(image.convert("RGB"), dtype=np.uint8)
    return _rgb(cv2.Canny(rgb, int(low), int(high)))


def invert(image: Image.Image) -> Image.Image:
    """Black lines on white paper become the white lines on black a ControlNet expects."""
    return _rgb(255 - _gray(image))


def scribble(image: Image.Image, threshold: float = 127) -> Image.Image:
    """A drawing, binarised: any stroke darker than ``threshold`` becomes a white line."""
    return _rgb(np.where(_gray(image) < threshold, 255, 0).astype(np.uint8))


def lineart(image: Image.Image) -> Image.Image:
    """A line drawing as the lineart ControlNet sees it: inverted, grey levels kept (soft
    anti-aliased strokes help it)."""
    return invert(image)


def preprocess(
    name: str, image: Image.Image, size: tuple[int, int], low: float = 100, high: float = 200
) -> Image.Image:
    """The control image for one unit at the generation size (``size`` is width, height)."""
    if image.size != size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    if name == "canny":
        return canny(image, low, high)
    if name == "invert":
        return invert(image)
    if name == "scribble":
        return scribble(image)
    if name == "lineart":
        return lineart(image)
    if name in ("depth", "openpose"):
        from app.engine import annotators

        return annotators.depth(image) if name == "depth" else annotators.openpose(image)
    if name == "none":
        return image.convert("RGB")
    raise InvalidRequest(
        f"Unknown preprocessor {name!r}; use none, canny, invert, scribble, lineart, depth or "
        "openpose."
    )
