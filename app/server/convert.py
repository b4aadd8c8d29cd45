"""Between the webui's JSON and Easel's ``GenerationRequest``: safe image decoding, sampler and
schedule names, the ``info`` JSON, base64 PNGs. Every refusal is an ``InvalidRequest`` with
one sentence, which the web layer turns into a 422.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import io
import json
import re
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

from app import __version__
from app.errors import InvalidRequest
from app.library.pngio import encode_png
from app.request import MAX_SIZE, GenerationRequest
from app.samplers import SAMPLER_NAMES, resolve_sampler
from app.server.schemas import Img2ImgRequest, Txt2ImgRequest

MAX_PIXELS = MAX_SIZE * MAX_SIZE
MAX_N_ITER = 100
IMAGE_FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF")
SCHEDULES = ("Automatic", "Uniform", "Karras")
_DATA_URL = re.compile(r"^data:image/[a-z0-9.+-]+;base64,", re.IGNORECASE)


def has_field(name: str) -> bool:
    return any(f.name == name for f in dataclasses.fields(GenerationRequest))


def decode_image(data: object, what: str = "image") -> Image.Image:
    """A base64 (or data-URL) image, checked before its pixels are decoded."""
    if not isinstance(data, str) or not data.strip():
        raise InvalidRequest(f"The {what} is empty; send it as base64-encoded PNG or JPEG data.")
    text = _DATA_URL.sub("", data.strip(), count=1)
    if "://" in text[:16] or text.startswith(("/", "\\", "file:")):
        raise InvalidRequest(
            f"The {what} must be base64 image data; URLs and file paths are not accepted."
        )
    try:
        raw = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest(
            f"The {what} is not valid base64; send the image file's bytes base64-encoded."
        ) from None
    try:
        image = Image.open(io.BytesIO(raw), formats=IMAGE_FORMATS)
        width, height = image.size
        if width * height > MAX_PIXELS:
            raise InvalidRequest(
                f"The {what} is {width}x{height} pixels, more than the {MAX_SIZE}x{MAX_SIZE} "
                "accepted; send a smaller image."
            )
        image.load()
    except InvalidRequest:
        raise
    except Image.DecompressionBombError:
        raise InvalidRequest(
            f"The {what} has far more pixels than the {MAX_SIZE}x{MAX_SIZE} accepted; "
            "send a smaller image."
        ) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise InvalidRequest(
            f"The {what} is not an image Easel can read; send a PNG, JPEG or WebP."
        ) from None
    return image


def encode_image(image: Image.Image, infotext: str | None) -> str:
    return base64.b64encode(encode_png(image, infotext)).decode("ascii")


def refuse_path(name: str, what: str) -> str:
    """Names of models, LoRAs and upscalers are ids from the lists, never paths or URLs."""
    text = (name or "").strip()
    if (
        ".." in text
        or text.startswith(("/", "\\", "~"))
        or re.match(r"^[A-Za-z]:[\\/]", text)
        or "://" in text
    ):
        raise InvalidRequest(
            f"The {what} must be named by its id from the server's list; "
            "paths and URLs are not accepted."
        )
    return text


def sampler_and_schedule(sampler: str | None, schedule: str | None) -> tuple[str, str]:
    name = (sampler or "Euler").strip()
    spec = resolve_sampler(name, schedule or "")
    if spec is None and resolve_sampler(name) is not None:
        raise InvalidRequest(
            f"Unknown schedule type {schedule!r}; choose one of: {', '.join(SCHEDULES)}."
        )
    if spec is None:
        raise InvalidRequest(
            f"Unknown sampler {name!r}; choose one of: {', '.join(SAMPLER_NAMES)}."
        )
    return spec.base or spec.name, spec.schedule or "Automatic"


def _int(value: int | None, default: int) -> int:
    return default if value is None else value


def base_request(body: Txt2ImgRequest, mode: str = "txt2img") -> GenerationRequest:
    n_iter = _int(body.n_iter, 1)
    if not 1 <= n_iter <= MAX_N_ITER:
        raise InvalidRequest(f"n_iter must be between 1 and {MAX_N_ITER}; got {n_iter}.")
    changes: dict[str, Any] = {}
    clip = (body.override_settings or {}).get("CLIP_stop_at_last_layers")
    if clip is not None and has_field("clip_skip"):
        if not isinstance(clip, int) or isinstance(clip, bool):
            raise InvalidRequest("CLIP_stop_at_last_layers must be a whole number.")
        changes["clip_skip"] = clip
    if body.speed is not None:
        speed = body.speed.strip().lower()
        if speed not in ("quality", "balanced", "fast"):
            raise InvalidRequest(f"Unknown speed {body.speed!r}; use quality, balanced or fast.")
        changes["speed"] = speed
    sampler, schedule = sampler_and_schedule(
        body.sampler_name or body.sampler_index, body.scheduler
    )
    return GenerationRequest(
        prompt=body.prompt or "",
        negative_prompt=body.negative_prompt or "",
        mode=mode,  # type: ignore[arg-type]
        sampler=sampler,
        schedule=schedule,
        steps=_int(body.steps, 50),
        cfg_scale=7.0 if body.cfg_scale is None else float(body.cfg_scale),
        seed=_int(body.seed, -1),
        width=_int(body.width, 512),
        height=_int(body.height, 512),
        batch_size=_int(body.batch_size, 1),
        **changes,
        **(hires_changes(body) if mode == "txt2img" else {}),
    )


def _hires_upscaler(name: str | None) -> str:
    """``hr_upscaler``: a latent mode, a built-in, or an installed model by its listed name."""
    from app.hires_request import BUILTIN_UPSCALERS
    from app.server.choices import find_upscaler

    return find_upscaler(name or "Latent", BUILTIN_UPSCALERS)


def hires_changes(body: Txt2ImgRequest) -> dict[str, Any]:
    """The webui API's enable_hr / hr_* fields as the request's hires fields."""
    if not body.enable_hr:
        return {}
    return {
        "hires": True,
        "hires_scale": 2.0 if body.hr_scale is None else float(body.hr_scale),
        "hires_resize": (_int(body.hr_resize_x, 0), _int(body.hr_resize_y, 0)),
        "hires_upscaler": _hires_upscaler(body.hr_upscaler),
        "hires_steps": _int(body.hr_second_pass_steps, 0),
        "hires_denoise": 0.7 if body.denoising_strength is None else body.denoising_strength,
    }


def resize_and_fill(image: Image.Image, size: tuple[int, int], resample: Any) -> Image.Image:
    """The webui's resize mode 2, "Resize and fill": the whole picture fitted inside ``size``,
    centred, and the bands left over filled by stretching its outermost row or column."""
    width, height = size
    ratio, src_ratio = width / height, image.width / image.height
    src_w = width if ratio < src_ratio else image.width * height // image.height
    src_h = height if ratio >= src_ratio else image.height * width // image.width
    resized = image.resize((src_w, src_h), resample)
    out = Image.new(image.mode, size)
    out.paste(resized, (width // 2 - src_w // 2, height // 2 - src_h // 2))
    if ratio < src_ratio and (fill := height // 2 - src_h // 2) > 0:
        top = resized.resize((width, fill), resample, box=(0, 0, width, 0))
        bottom = resized.resize((width, fill), resample, box=(0, src_h, width, src_h))
        out.paste(top, (0, 0))
        out.paste(bottom, (0, fill + src_h))
    elif ratio > src_ratio and (fill := width // 2 - src_w // 2) > 0:
        left = resized.resize((fill, height), resample, box=(0, 0, 0, height))
        right = resized.resize((fill, height), resample, box=(src_w, 0, src_w, height))
        out.paste(left, (0, 0))
        out.paste(right, (fill + src_w, 0))
    return out


def img2img_request(body: Img2ImgRequest) -> tuple[GenerationRequest, Any]:
    """The request, and a ``finish(image) -> image`` for "only masked" inpainting (or None)."""
    from app.server.masked import only_masked

    if not body.init_images:
        raise InvalidRequest("img2img needs init_images: a list with one base64 image.")
    init = decode_image(body.init_images[0], "init image").convert("RGB")
    base = base_request(body, "inpaint" if body.mask else "img2img")
    size = (base.width, base.height)
    resize_mode = _int(body.resize_mode, 0)
    if resize_mode not in (0, 1, 2):
        raise InvalidRequest(
            f"resize_mode {resize_mode} is not supported; use 0 (just resize), "
            "1 (crop and resize) or 2 (resize and fill)."
        )
    if resize_mode == 1:
        init = ImageOps.fit(init, size, Image.Resampling.LANCZOS)
    elif resize_mode == 2:
        init = resize_and_fill(init, size, Image.Resampling.LANCZOS)
    strength = 0.75 if body.denoising_strength is None else float(body.denoising_strength)
    if not body.mask:
        return base.replace(init_image=init, strength=strength), None
    mask = decode_image(body.mask, "mask").convert("L")
    if body.inpainting_mask_invert:
        mask = ImageOps.invert(mask)
    if resize_mode == 1:
        mask = ImageOps.fit(mask, size, Image.Resampling.NEAREST)
    elif resize_mode == 2:
        mask = resize_and_fill(mask, size, Image.Resampling.NEAREST)
    elif mask.size != init.size:
        mask = mask.resize(init.size, Image.Resampling.NEAREST)
    blur = body.mask_blur
    if blur is None:
        blur = max(_int(body.mask_blur_x, 4), _int(body.mask_blur_y, 4))
    req = base.replace(init_image=init, mask=mask, strength=strength, mask_blur=blur)
    if body.inpaint_full_res:
        return only_masked(req, _int(body.inpaint_full_res_padding, 0))
    return req, None


def info_json(
    request: GenerationRequest,
    results: list[Any],
    first_seed: int,
    model_name: str,
    model_hash: str,
    interrupted: bool = False,
) -> str:
    """The webui's ``Processed.js()`` fields, as a JSON string."""
    seeds = [s for r in results for s in r.seeds]
    infotexts = [t for r in results for t in r.infotexts]
    prompts = [request.prompt] * len(seeds)
    negatives = [request.negative_prompt] * len(seeds)
    info: dict[str, Any] = {
        "prompt": request.prompt,
        "all_prompts": prompts,
        "negative_prompt": request.negative_prompt,
        "all_negative_prompts": negatives,
        "seed": seeds[0] if seeds else first_seed,
        "all_seeds": seeds,
        "subseed": -1,
        "all_subseeds": [-1] * len(seeds),
        "subseed_strength": 0,
        "width": results[0].images[0].width if results else request.width,
        "height": results[0].images[0].height if results else request.height,
        "sampler_name": request.sampler,
        "cfg_scale": request.cfg_scale,
        "steps": request.steps,
        "batch_size": request.batch_size,
        "restore_faces": False,
        "face_restoration_model": None,
        "sd_model_name": model_name,
        "sd_model_hash": model_hash or None,
        "sd_vae_name": None,
        "sd_vae_hash": None,
        "seed_resize_from_w": -1,
        "seed_resize_from_h": -1,
        "denoising_strength": request.strength if request.mode != "txt2img" else None,
        "extra_generation_params": {},
        "index_of_first_image": 0,
        "infotexts": infotexts,
        "styles": [],
        "job_timestamp": "",
        "clip_skip": getattr(request, "clip_skip", 1) or 1,
        "speed": getattr(request, "speed", "quality"),
        "is_using_inpainting_conditioning": request.mode == "inpaint",
        "version": f"Easel {__version__}",
        "interrupted": interrupted,
    }
    return json.dumps(info)
