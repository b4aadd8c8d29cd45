"""Pixel work around the pipelines: masks, the soft seam, outpaint canvases. Pillow + numpy."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter


def binary_mask(mask: Image.Image, size: tuple[int, int] | None = None) -> Image.Image:
    """White (>= 128) = repaint. Alpha-only masks (transparent = repaint) are accepted too."""
    if mask.mode in ("RGBA", "LA") and int(mask.getchannel("A").getextrema()[0]) < 255:  # type: ignore[arg-type]
        if int(mask.convert("L").getextrema()[1]) == 0:  # type: ignore[arg-type]
            # A black layer with holes punched in it: the holes are what to repaint.
            mask = Image.eval(mask.getchannel("A"), lambda a: 255 - a)
    gray = mask.convert("L")
    if size is not None and gray.size != size:
        gray = gray.resize(size, Image.Resampling.NEAREST)
    return gray.point(lambda v: 255 if v >= 128 else 0)


def seam_alpha(mask: Image.Image, blur: int) -> np.ndarray:
    """Blend weights in [0, 1]: 0 outside the mask, rising to 1 inside it over ~``blur`` px.

    Multiplying by the binary mask keeps every pixel outside the mask exactly the original;
    the soft part of the seam lies inside the repainted area.
    """
    m = np.asarray(mask, dtype=np.float32) / 255.0
    if blur <= 0:
        return m
    # Blurring an eroded copy puts the ramp inside the mask and reaches 1 ~blur px in.
    eroded = mask.filter(ImageFilter.MinFilter(2 * (blur // 2) + 1))
    soft = np.asarray(eroded.filter(ImageFilter.GaussianBlur(blur / 2)), dtype=np.float32) / 255.0
    return m * np.clip(soft * 1.0, 0.0, 1.0)


def composite(original: Image.Image, generated: Image.Image, alpha: np.ndarray) -> Image.Image:
    """original * (1 - alpha) + generated * alpha, in 8-bit RGB; alpha == 0 is bit-exact."""
    o = np.asarray(original.convert("RGB"), dtype=np.float32)
    g = np.asarray(generated.convert("RGB").resize(original.size), dtype=np.float32)
    a = alpha[..., None]
    out = o * (1.0 - a) + g * a
    return Image.fromarray(np.rint(out).clip(0, 255).astype(np.uint8), "RGB")


def outpaint_canvas(
    image: Image.Image, extend: tuple[int, int, int, int], overlap: int
) -> tuple[Image.Image, Image.Image]:
    """The enlarged image and its mask for outpainting.

    The new border is filled by stretching the edge pixels outwards and blurring them, so the
    model starts from the right colours (what a 4-channel model keeps at strength < 1). The mask
    covers the new area plus ``overlap`` px of the original, so the seam itself is repainted.
    """
    left, top, right, bottom = extend
    src = np.asarray(image.convert("RGB"))
    canvas = Image.fromarray(np.pad(src, ((top, bottom), (left, right), (0, 0)), mode="edge"))
    border = np.full((canvas.size[1], canvas.size[0]), 255, dtype=np.uint8)
    border[top : top + src.shape[0], left : left + src.shape[1]] = 0
    border_img = Image.fromarray(border, "L")
    blurred = canvas.filter(ImageFilter.GaussianBlur(max(4, max(extend) // 4)))
    filled = Image.composite(blurred, canvas, border_img)
    mask = border_img.filter(ImageFilter.MaxFilter(2 * overlap + 1)) if overlap > 0 else border_img
    return filled, mask


def is_broken(images: np.ndarray) -> bool:
    """The fp16 VAE failure: NaN/inf pixels, or an image that came out entirely black."""
    if not np.isfinite(images).all():
        return True
    flat = images.reshape(images.shape[0], -1)
    return bool((flat.max(axis=1) <= 0.0).any())
