"""One function per generation mode: which pipeline to call, with what arguments.

Each returns a ``ModeCall``; the engine runs it the same way for every mode. Images arrive
already validated (PIL), sizes already checked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from app.engine.images import binary_mask, composite, outpaint_canvas, seam_alpha
from app.request import GenerationRequest


@dataclass
class ModeCall:
    pipe_kind: str  # "text" | "image" | "inpaint"
    kwargs: dict[str, Any]
    # Applied to each generated image after decoding (the soft-seam composite for inpaint).
    finish: Callable[[Image.Image], Image.Image] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _sized(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    image = image.convert("RGB")
    return image if image.size == size else image.resize(size, Image.Resampling.LANCZOS)


def _full_mask(size: tuple[int, int]) -> Image.Image:
    return Image.new("L", size, 255)


def txt2img(req: GenerationRequest, inpainting_model: bool) -> ModeCall:
    size = (req.width, req.height)
    if inpainting_model:
        # A 9-channel model always sees an image and a mask: give it a blank one, all masked.
        return ModeCall(
            "inpaint",
            {
                "image": Image.new("RGB", size, (127, 127, 127)),
                "mask_image": _full_mask(size),
                "strength": 1.0,
                "width": req.width,
                "height": req.height,
            },
        )
    return ModeCall("text", {"width": req.width, "height": req.height})


def img2img(req: GenerationRequest, inpainting_model: bool) -> ModeCall:
    assert isinstance(req.init_image, Image.Image)
    size = (req.width, req.height)
    init = _sized(req.init_image, size)
    if inpainting_model:
        return ModeCall(
            "inpaint",
            {
                "image": init,
                "mask_image": _full_mask(size),
                "strength": req.strength,
                "width": req.width,
                "height": req.height,
            },
        )
    return ModeCall("image", {"image": init, "strength": req.strength})


def inpaint(req: GenerationRequest, inpainting_model: bool) -> ModeCall:
    assert isinstance(req.init_image, Image.Image) and isinstance(req.mask, Image.Image)
    size = (req.width, req.height)
    init = _sized(req.init_image, size)
    mask = binary_mask(req.mask, size)
    return _inpaint_call(req, init, mask)


def outpaint(req: GenerationRequest, inpainting_model: bool) -> ModeCall:
    assert isinstance(req.init_image, Image.Image)
    canvas, mask = outpaint_canvas(req.init_image, req.outpaint, overlap=req.mask_blur)
    call = _inpaint_call(req, canvas, mask)
    call.extra["canvas"] = canvas
    return call


def _inpaint_call(req: GenerationRequest, init: Image.Image, mask: Image.Image) -> ModeCall:
    alpha = seam_alpha(mask, req.mask_blur)

    def finish(generated: Image.Image) -> Image.Image:
        return composite(init, generated, alpha)

    return ModeCall(
        "inpaint",
        {
            "image": init,
            "mask_image": mask,
            "strength": req.strength,
            "width": init.size[0],
            "height": init.size[1],
        },
        finish,
        {"mask": mask},
    )


MODES: dict[str, Callable[[GenerationRequest, bool], ModeCall]] = {
    "txt2img": txt2img,
    "img2img": img2img,
    "inpaint": inpaint,
    "outpaint": outpaint,
}
