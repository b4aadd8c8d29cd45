"""GenerationRequest: the single source of truth for one generation, and its validation.

Pure Python (Pillow for image checks), so the window, the CLI and the engine share it
without importing torch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from PIL import Image

from app.errors import InvalidRequest
from app.samplers import (
    DEFAULT_SAMPLER,
    DEFAULT_SCHEDULE,
    SAMPLER_NAMES,
    resolve_sampler,
    schedules_for,
    split_sampler,
)

Mode = Literal["txt2img", "img2img", "inpaint", "outpaint"]
MODES: tuple[str, ...] = ("txt2img", "img2img", "inpaint", "outpaint")
ImageInput = str | Path | Image.Image | None

MIN_SIZE, MAX_SIZE = 64, 4096
MAX_STEPS = 1000
MAX_BATCH = 64
MAX_SEED = 2**32 - 1

CONTROL_MODES: tuple[str, ...] = (
    "Balanced",
    "My prompt is more important",
    "ControlNet is more important",
)
PREPROCESSORS: tuple[str, ...] = (
    "none", "canny", "invert", "scribble", "lineart", "depth", "openpose",
)  # fmt: skip


@dataclass(frozen=True)
class ControlUnit:
    """One ControlNet unit, named as the webui's ControlNet extension names its settings."""

    model: str  # a ControlNet model id, folder or file
    image: ImageInput = None  # the control image (or the drawing it is made from)
    preprocessor: str = "none"  # see PREPROCESSORS
    weight: float = 1.0
    guidance_start: float = 0.0
    guidance_end: float = 1.0
    control_mode: str = "Balanced"
    threshold_a: float = 100.0  # canny low threshold (the webui's "Threshold A")
    threshold_b: float = 200.0  # canny high threshold ("Threshold B")
    model_hash: str = ""  # first 8 hex digits of the file's SHA-256, when known (infotext)

    def replace(self, **changes: object) -> ControlUnit:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True)
class GenerationRequest:
    """Everything that matters for the picture. Written into the PNG metadata."""

    prompt: str
    negative_prompt: str = ""
    mode: Mode = "txt2img"
    sampler: str = DEFAULT_SAMPLER
    steps: int = 25
    cfg_scale: float = 7.0
    seed: int = -1  # -1: random; the seed used is reported in the result
    width: int = 512
    height: int = 512
    batch_size: int = 1
    strength: float = 0.75  # img2img / inpaint / outpaint: how much of the image changes
    init_image: ImageInput = None  # path or image; img2img, inpaint, outpaint
    mask: ImageInput = None  # white = repaint; inpaint
    outpaint: tuple[int, int, int, int] = (0, 0, 0, 0)  # left, top, right, bottom pixels
    mask_blur: int = 8  # pixels of soft seam where the original is composited back
    model: str = ""  # model name as shown and stored ("Model" in the metadata)
    model_hash: str = ""  # first 10 hex digits of the checkpoint's SHA-256, when known
    controlnets: tuple[ControlUnit, ...] = ()
    clip_skip: int = 1  # the webui's "Clip skip": 1 = the last CLIP layer, 2 = the one before
    schedule: str = DEFAULT_SCHEDULE  # A1111's "Schedule type"; "Automatic": the sampler's own
    subseed: int = -1  # A1111's "Variation seed"; -1: random (only drawn when strength > 0)
    subseed_strength: float = 0.0  # 0: the seed's noise alone; 1: the variation seed's alone

    def replace(self, **changes: object) -> GenerationRequest:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


def load_image(image: ImageInput, what: str) -> Image.Image:
    """Open a path or pass an image through, as RGB; clear error when it cannot be read."""
    if isinstance(image, Image.Image):
        return image
    if image is None or str(image) == "":
        raise InvalidRequest(f"The {what} is missing; choose an image file.")
    path = Path(image)
    if not path.is_file():
        raise InvalidRequest(f"The {what} {str(path)!r} does not exist; check the path.")
    try:
        with Image.open(path) as im:
            im.load()
            return im.copy()
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise InvalidRequest(
            f"The {what} {str(path)!r} could not be read as an image ({exc}); "
            "use a PNG, JPEG or WebP file."
        ) from exc


def _max_level(image: Image.Image) -> int:
    low_high = image.convert("L").getextrema()
    return int(low_high[1])  # type: ignore[index, arg-type]  # (min, max) for one band


def outpaint_size(
    image_size: tuple[int, int], extend: tuple[int, int, int, int]
) -> tuple[int, int]:
    left, top, right, bottom = extend
    return image_size[0] + left + right, image_size[1] + top + bottom


def _check_size(width: int, height: int, what: str = "Size") -> None:
    for name, v in (("width", width), ("height", height)):
        if not isinstance(v, int) or isinstance(v, bool):
            raise InvalidRequest(f"{what} {name} must be a whole number of pixels.")
        if v < MIN_SIZE or v > MAX_SIZE:
            raise InvalidRequest(
                f"{what} {width}x{height} is out of range; width and height must be "
                f"between {MIN_SIZE} and {MAX_SIZE} pixels."
            )
        if v % 8:
            raise InvalidRequest(
                f"{what} {width}x{height} is not a multiple of 8; "
                f"try {width // 8 * 8 or 8}x{height // 8 * 8 or 8}."
            )


def validate_controlnets(units: tuple[ControlUnit, ...]) -> tuple[ControlUnit, ...]:
    """Check every ControlNet unit; returns them with their control images loaded."""
    out = []
    for i, unit in enumerate(units):
        what = f"ControlNet unit {i}"
        if not unit.model:
            raise InvalidRequest(f"{what} has no model; choose a ControlNet model.")
        if unit.preprocessor not in PREPROCESSORS:
            raise InvalidRequest(
                f"{what}: unknown preprocessor {unit.preprocessor!r}; use one of "
                f"{', '.join(PREPROCESSORS)}."
            )
        if unit.control_mode not in CONTROL_MODES:
            raise InvalidRequest(
                f"{what}: unknown control mode {unit.control_mode!r}; use one of "
                f"{', '.join(CONTROL_MODES)}."
            )
        if not 0.0 <= unit.weight <= 2.0:
            raise InvalidRequest(f"{what}: weight must be between 0 and 2; got {unit.weight:g}.")
        if not 0.0 <= unit.guidance_start < unit.guidance_end <= 1.0:
            raise InvalidRequest(
                f"{what}: guidance start and end must satisfy 0 <= start < end <= 1; got "
                f"{unit.guidance_start:g} and {unit.guidance_end:g}."
            )
        image = load_image(unit.image, f"control image of {what}")
        out.append(unit.replace(image=image))
    return tuple(out)


def validate(req: GenerationRequest) -> GenerationRequest:
    """Check a request, including its ControlNet units; see ``_validate``."""
    checked = _validate(req)
    if req.controlnets:
        checked = checked.replace(controlnets=validate_controlnets(tuple(req.controlnets)))
    return checked


def _validate(req: GenerationRequest) -> GenerationRequest:
    """Check a request before any weight is touched; raise InvalidRequest with one sentence.

    Returns the request with its images loaded (paths become PIL images) so the engine never
    reads a file twice or meets a broken one half-way through a job.
    """
    if req.mode not in MODES:
        raise InvalidRequest(f"Unknown mode {req.mode!r}; use one of {', '.join(MODES)}.")
    if not isinstance(req.prompt, str):
        raise InvalidRequest("The prompt must be text.")
    if resolve_sampler(req.sampler) is None:
        raise InvalidRequest(
            f"Unknown sampler {req.sampler!r}; choose one of: {', '.join(SAMPLER_NAMES)}."
        )
    if resolve_sampler(req.sampler, req.schedule) is None:
        offered = schedules_for(req.sampler)
        raise InvalidRequest(
            f"{split_sampler(req.sampler)[0]} cannot run the schedule {req.schedule!r}; "
            f"choose one of: {', '.join(offered)}."
        )
    if not isinstance(req.subseed, int) or not -1 <= req.subseed <= MAX_SEED:
        raise InvalidRequest(f"Variation seed must be -1 (random) or between 0 and {MAX_SEED}.")
    if not 0.0 <= req.subseed_strength <= 1.0:
        raise InvalidRequest(
            f"Variation strength must be between 0 and 1; got {req.subseed_strength:g}."
        )
    if not isinstance(req.steps, int) or not 1 <= req.steps <= MAX_STEPS:
        raise InvalidRequest(f"Steps must be between 1 and {MAX_STEPS}; got {req.steps}.")
    if not isinstance(req.clip_skip, int) or not 1 <= req.clip_skip <= 12:
        raise InvalidRequest(f"Clip skip must be between 1 and 12; got {req.clip_skip}.")
    if not 0.0 <= req.cfg_scale <= 30.0:
        raise InvalidRequest(f"CFG scale must be between 0 and 30; got {req.cfg_scale:g}.")
    if not isinstance(req.seed, int) or not -1 <= req.seed <= MAX_SEED:
        raise InvalidRequest(f"Seed must be -1 (random) or between 0 and {MAX_SEED}.")
    if not isinstance(req.batch_size, int) or not 1 <= req.batch_size <= MAX_BATCH:
        raise InvalidRequest(f"Batch size must be between 1 and {MAX_BATCH}; got {req.batch_size}.")
    if req.subseed_strength > 0 and req.mode != "txt2img":
        raise InvalidRequest(
            "Variation seeds work in txt2img only for now; set the variation strength to 0."
        )
    if req.mode == "txt2img":
        _check_size(req.width, req.height)
        return req.replace(init_image=None, mask=None)

    if not 0.0 < req.strength <= 1.0:
        raise InvalidRequest(
            f"Strength must be greater than 0 and at most 1; got {req.strength:g}."
        )
    if req.mode == "img2img":
        # Few enough steps times a low strength leaves nothing to denoise.
        if int(req.steps * req.strength) < 1:
            raise InvalidRequest(
                f"{req.steps} steps at strength {req.strength:g} leaves no step to run; "
                "raise the steps or the strength."
            )
    init = load_image(req.init_image, "init image")
    if req.mode == "outpaint":
        extend = tuple(req.outpaint)
        if len(extend) != 4 or any((not isinstance(v, int)) or v < 0 for v in extend):
            raise InvalidRequest("Outpaint needs four pixel counts ≥ 0: left, top, right, bottom.")
        if not any(extend):
            raise InvalidRequest("Outpaint needs at least one side to extend by some pixels.")
        w, h = outpaint_size(init.size, extend)  # type: ignore[arg-type]
        _check_size(w, h, "The outpainted size")
        return req.replace(init_image=init, mask=None, width=w, height=h)
    _check_size(req.width, req.height)
    if req.mode == "inpaint":
        mask = load_image(req.mask, "mask image")
        if mask.size != init.size:
            raise InvalidRequest(
                f"The mask is {mask.size[0]}x{mask.size[1]} but the image is "
                f"{init.size[0]}x{init.size[1]}; they must be the same size."
            )
        if _max_level(mask) < 128:
            raise InvalidRequest("The mask is empty; paint the area to repaint in white.")
        return req.replace(init_image=init, mask=mask)
    return req.replace(init_image=init, mask=None)
