"""``/sdapi/v1/extra-single-image``: resizing with the upscalers every install has (Lanczos,
Nearest). Model upscalers are named by id only and are not run by this server yet."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import FastAPI
from PIL import Image, ImageOps

from app.errors import InvalidRequest
from app.request import MAX_SIZE
from app.server.convert import decode_image, encode_image, refuse_path
from app.server.schemas import ExtrasSingleImageRequest, ExtrasSingleImageResponse

RESAMPLE = {"None": None, "Lanczos": Image.Resampling.LANCZOS, "Nearest": Image.Resampling.NEAREST}


def upscale(body: ExtrasSingleImageRequest) -> dict[str, Any]:
    name = refuse_path(body.upscaler_1, "upscaler")
    if name not in RESAMPLE:
        raise InvalidRequest(
            f"Unknown upscaler {name!r}; GET /sdapi/v1/upscalers lists the upscalers."
        )
    image = decode_image(body.image, "image")
    parameters = image.info.get("parameters")
    image = image.convert("RGB")
    resample = RESAMPLE[name]
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
    if resample is not None and size != image.size:
        if body.resize_mode == 1 and body.upscaling_crop:
            image = ImageOps.fit(image, size, resample)
        else:
            image = image.resize(size, resample)
    return {
        "html_info": "",
        "image": encode_image(image, parameters if isinstance(parameters, str) else None),
    }


def add_extras_routes(api: FastAPI) -> None:
    @api.post("/sdapi/v1/extra-single-image", response_model=ExtrasSingleImageResponse)
    async def extra_single_image(body: ExtrasSingleImageRequest) -> dict[str, Any]:
        return await asyncio.to_thread(upscale, body)
