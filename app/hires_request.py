"""The hires fix's settings, as the webui names and computes them (``modules/processing.py``).

Pure Python (no torch), shared by the request's validation, the CLI, the window and the
engine: the target size, the number of second-pass steps, the upscalers built in.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from app.errors import InvalidRequest

if TYPE_CHECKING:
    from app.request import GenerationRequest

# The webui's shared.latent_upscale_modes: torch interpolate mode and antialias per name.
LATENT_MODES: dict[str, tuple[str, bool]] = {
    "Latent": ("bilinear", False),
    "Latent (antialiased)": ("bilinear", True),
    "Latent (bicubic)": ("bicubic", False),
    "Latent (bicubic antialiased)": ("bicubic", True),
    "Latent (nearest)": ("nearest", False),
    "Latent (nearest-exact)": ("nearest-exact", False),
}
IMAGE_BUILTINS: tuple[str, ...] = ("Lanczos", "Nearest", "None")
BUILTIN_UPSCALERS: tuple[str, ...] = (*LATENT_MODES, *IMAGE_BUILTINS)
MAX_HIRES_SCALE = 4.0


def hires_target(req: GenerationRequest) -> tuple[int, int]:
    """The final size: the first pass times ``hires_scale``, or ``hires_resize`` (one side 0:
    kept to the first pass's aspect), down to a multiple of 8 as the latents make it."""
    rx, ry = req.hires_resize
    if rx == 0 and ry == 0:
        w, h = int(req.width * req.hires_scale), int(req.height * req.hires_scale)
    elif ry == 0:
        w, h = rx, rx * req.height // req.width
    elif rx == 0:
        w, h = ry * req.width // req.height, ry
    else:
        w, h = rx, ry
    return w // 8 * 8, h // 8 * 8


def hires_steps(req: GenerationRequest) -> int:
    """Steps the second pass runs: ``Hires steps``, or the first pass's steps when 0."""
    return req.hires_steps or req.steps


def schedule_steps(steps: int, denoise: float) -> int:
    """The schedule length whose last ``denoise`` part is ``steps`` steps long.

    The webui (``setup_img2img_steps`` with explicit steps) runs exactly the hires steps over a
    schedule of ``steps / denoise``; diffusers' img2img runs ``int(schedule * strength)``
    steps, so the schedule grows until that count is the hires steps."""
    d = min(denoise, 0.999)
    total = max(steps, int(steps / d))
    while int(total * denoise) < steps:
        total += 1
    return total


def old_first_pass_size(width: int, height: int) -> tuple[int, int]:
    """The webui's ``old_hires_fix_first_pass_dimensions``: about 512x512 pixels, in 64s."""
    scale = math.sqrt(512 * 512 / (width * height))
    return math.ceil(scale * width / 64) * 64, math.ceil(scale * height / 64) * 64


def validate_hires(req: GenerationRequest) -> None:
    """Check the hires settings of a request that asks for the hires fix (one sentence)."""
    from app.request import MAX_SIZE, MAX_STEPS

    if req.mode != "txt2img":
        raise InvalidRequest(
            "Hires fix works in txt2img only; turn it off for img2img, inpaint and outpaint."
        )
    if req.subseed_strength > 0:
        raise InvalidRequest(
            "Hires fix with variation seeds is not supported yet; set the variation strength to 0."
        )
    rx, ry = req.hires_resize
    if not all(isinstance(v, int) and v >= 0 for v in (rx, ry)):
        raise InvalidRequest("Hires resize must be two whole numbers of pixels (0 = automatic).")
    if rx == 0 and ry == 0 and not 1.0 <= req.hires_scale <= MAX_HIRES_SCALE:
        raise InvalidRequest(
            f"Hires upscale must be between 1 and {MAX_HIRES_SCALE:g}; got {req.hires_scale:g}."
        )
    w, h = hires_target(req)
    if w < req.width or h < req.height or max(w, h) > MAX_SIZE:
        raise InvalidRequest(
            f"The hires size {w}x{h} must be at least the first pass ({req.width}x{req.height}) "
            f"and at most {MAX_SIZE} pixels a side; lower the hires upscale."
        )
    if not isinstance(req.hires_steps, int) or not 0 <= req.hires_steps <= MAX_STEPS:
        raise InvalidRequest(
            f"Hires steps must be between 0 (as many as the first pass) and {MAX_STEPS}; "
            f"got {req.hires_steps}."
        )
    if not 0.0 < req.hires_denoise <= 1.0:
        raise InvalidRequest(
            "Hires denoising strength must be greater than 0 and at most 1; "
            f"got {req.hires_denoise:g}."
        )
    if not isinstance(req.hires_upscaler, str) or not req.hires_upscaler.strip():
        raise InvalidRequest(
            f"Choose a hires upscaler: {', '.join(BUILTIN_UPSCALERS)} or an installed one."
        )
