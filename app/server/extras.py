"""``/sdapi/v1/extra-single-image``: resizing with the built-ins (Lanczos, Nearest) or an
installed upscaler model named as ``/sdapi/v1/upscalers`` lists it (run in tiles, one at a
time, then brought to the exact size asked with Lanczos)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from fastapi import FastAPI
from PIL import Image, ImageOps

from app.errors import InvalidRequest
from app.request import MAX_SIZE
from app.server.convert import decode_image, encode_image
from app.server.schemas import ExtrasSingleImageRequest, ExtrasSingleImageResponse

RESAMPLE = {"None": None, "Lanczos": Image.Resampling.LANCZOS, "Nearest": Image.Resampling.NEAREST}
_ONE_MODEL = threading.Lock()  # one model upscale at a time: each holds its network and tiles


def upscale(body: ExtrasSingleImageRequest) -> dict[str, Any]:
    from app.server.choices import find_upscaler

    name = find_upscaler(body.upscaler_1, tuple(RESAMPLE))
    image = decode_image(body.image, "image")
    parameters = image.info.get("parameters")
    image = image.convert("RGB")
    resample = RESAMPLE.get(name)
    if body.resize_mode == 1:
        size = (body.upscaling_resize_w, body.upscaling_resize_h)
    elif body.resize_mode == 0:
        if not 0 < body.upscaling_resize <= 8:
            raise InvalidRequest("upscaling_resize must be greater than 0 and at most 8.")
        size = (
            round(image.width * body.upscaling_resize),
            round(image.height * body.upscaling_resize),
        )
    else:
        raise InvalidRequest("resize_mode must be 0 (by a factor) or 1 (to a size).")
    if not all(1 <= v <= MAX_SIZE for v in size):
        raise InvalidRequest(
            f"The upscaled size {size[0]}x{size[1]} is out of range; at most {MAX_SIZE} pixels a side."
        )
    if name not in RESAMPLE:
        image, resample = _model_upscale(image, name), Image.Resampling.LANCZOS
    if resample is not None and size != image.size:
        if body.resize_mode == 1 and body.upscaling_crop:
            image = ImageOps.fit(image, size, resample)
        else:
            image = image.resize(size, resample)
    return {
        "html_info": "",
        "image": encode_image(image, parameters if isinstance(parameters, str) else None),
    }


def _model_upscale(image: Image.Image, name: str) -> Image.Image:
    """``image`` through the upscaler model ``name`` at its own factor, in tiles; the caller
    brings it to the size asked with Lanczos, as the webui's Extras tab does."""
    from app.engine.upscale import load_upscaler, upscale_tiled, upscaler_path

    with _ONE_MODEL:
        return upscale_tiled(load_upscaler(upscaler_path(name)), image)


def add_extras_routes(api: FastAPI) -> None:
    @api.post("/sdapi/v1/extra-single-image", response_model=ExtrasSingleImageResponse)
    async def extra_single_image(body: ExtrasSingleImageRequest) -> dict[str, Any]:
        return await asyncio.to_thread(upscale, body)
