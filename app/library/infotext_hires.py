"""The hires fix in the infotext, as the webui writes and reads it.

Written (``processing.py``): ``Denoising strength``, then ``Hires upscale: 2`` (or ``Hires
resize: 1024x768``), ``Hires steps`` (only when not 0) and ``Hires upscaler``; ``Size`` is
the first pass's size. Read (``infotext_utils.restore_old_hires_fix_params``): files from
before the webui's 2023-01 rework say ``Size`` = the final size and ``First pass size`` = the
base (``0x0``: computed, about 512x512); those become first-pass size plus ``Hires resize``.
"""

from __future__ import annotations

import re

from app.hires_request import old_first_pass_size
from app.request import GenerationRequest

_SIZE = re.compile(r"^\s*(\d+)\s*x\s*(\d+)\s*$")
HIRES_KEYS = ("Hires upscale", "Hires resize", "Hires upscaler", "Hires steps", "First pass size")


def _num(value: float) -> str:
    return f"{value:g}"


def hires_params(req: GenerationRequest) -> dict[str, str]:
    """The hires keys of a request that ran the hires fix, in the webui's order."""
    if not req.hires:
        return {}
    params = {}
    if req.hires_resize == (0, 0):
        params["Hires upscale"] = _num(req.hires_scale)
    else:
        params["Hires resize"] = f"{req.hires_resize[0]}x{req.hires_resize[1]}"
    if req.hires_steps:
        params["Hires steps"] = str(req.hires_steps)
    params["Hires upscaler"] = req.hires_upscaler
    return params


def _size(value: str | None) -> tuple[int, int] | None:
    m = _SIZE.match(value or "")
    return (int(m.group(1)), int(m.group(2))) if m else None


def _float(value: str | None, default: float) -> float:
    try:
        result = float(str(value).strip())
    except (TypeError, ValueError):
        return default
    return result if result == result else default


def _int(value: str | None, default: int) -> int:
    try:
        return int(float(str(value).strip()))
    except (TypeError, ValueError):
        return default


def restore_hires(params: dict[str, str], base: GenerationRequest) -> dict[str, object]:
    """The request fields an infotext's hires keys give (hires off when there are none),
    including the first-pass width and height for files that name a ``First pass size``."""
    if not any(k in params for k in HIRES_KEYS):
        return {"hires": False}
    out: dict[str, object] = {"hires": True}
    first = _size(params.get("First pass size"))
    if first is not None:
        final = _size(params.get("Size")) or (base.width, base.height)
        if first[0] == 0 or first[1] == 0:
            first = old_first_pass_size(*final)
        out.update(width=first[0], height=first[1], hires_resize=final)
    else:
        resize = _size(params.get("Hires resize"))
        out["hires_resize"] = resize or (0, 0)
        out["hires_scale"] = _float(params.get("Hires upscale"), base.hires_scale)
    if "Hires upscaler" in params:
        out["hires_upscaler"] = params["Hires upscaler"]
    out["hires_steps"] = max(0, _int(params.get("Hires steps"), 0))  # absent: 0, as written
    denoise = _float(params.get("Denoising strength"), base.hires_denoise)
    out["hires_denoise"] = min(max(denoise, 0.01), 1.0)
    return out
