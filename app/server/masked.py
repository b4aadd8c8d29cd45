"""The webui's "Inpaint area: Only masked" (``inpaint_full_res``): repaint a crop around the
mask at the full requested size, then paste it back. Pixels outside the mask stay exactly the
(resized) original, as with whole-picture inpainting.
"""

from __future__ import annotations

from collections.abc import Callable

from PIL import Image

from app.engine.images import binary_mask, composite, seam_alpha
from app.request import GenerationRequest


def crop_region(
    mask: Image.Image, padding: int, target: tuple[int, int]
) -> tuple[int, int, int, int]:
    """The mask's box plus ``padding``, grown to the target's aspect ratio, inside the image."""
    box = mask.getbbox()
    w_img, h_img = mask.size
    if box is None:
        return 0, 0, w_img, h_img
    x1, y1, x2, y2 = box
    x1, y1 = max(x1 - padding, 0), max(y1 - padding, 0)
    x2, y2 = min(x2 + padding, w_img), min(y2 + padding, h_img)
    ratio = target[0] / target[1]
    w, h = x2 - x1, y2 - y1
    if w / h < ratio:  # too narrow: widen
        grow = round(h * ratio) - w
        x1, x2 = x1 - grow // 2, x2 + grow - grow // 2
        shift = max(0, -x1) - max(0, x2 - w_img)
        x1, x2 = max(0, x1 + shift), min(w_img, x2 + shift)
    else:  # too flat: heighten
        grow = round(w / ratio) - h
        y1, y2 = y1 - grow // 2, y2 + grow - grow // 2
        shift = max(0, -y1) - max(0, y2 - h_img)
        y1, y2 = max(0, y1 + shift), min(h_img, y2 + shift)
    return x1, y1, x2, y2


def only_masked(
    req: GenerationRequest, padding: int
) -> tuple[GenerationRequest, Callable[[Image.Image], Image.Image]]:
    assert isinstance(req.init_image, Image.Image) and isinstance(req.mask, Image.Image)
    size = (req.width, req.height)
    full = req.init_image.convert("RGB")
    if full.size != size:
        full = full.resize(size, Image.Resampling.LANCZOS)
    mask = binary_mask(req.mask, size)
    box = crop_region(mask, max(padding, 0), size)
    crop_size = (box[2] - box[0], box[3] - box[1])
    alpha = seam_alpha(mask, req.mask_blur)

    def finish(generated: Image.Image) -> Image.Image:
        patch = generated.resize(crop_size, Image.Resampling.LANCZOS)
        placed = full.copy()
        placed.paste(patch, box[:2])
        return composite(full, placed, alpha)

    return req.replace(init_image=full.crop(box), mask=mask.crop(box)), finish
