"""The webui's hires fix: a first pass at the base size, an upscale, a second img2img pass.

As ``StableDiffusionProcessingTxt2Img.sample_hr_pass`` does it: "Latent" modes interpolate
the first pass's latents (no VAE round trip); Lanczos and model upscalers decode the first
pass, upscale the pictures and let img2img encode them again. The second pass runs
``Hires steps`` steps at ``Denoising strength`` on fresh noise from the same seeds, with the
same prompt and sampler. Progress counts on through both passes (total = base + hires steps).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import torch
from PIL import Image

from app.engine.modes import ModeCall
from app.errors import InvalidRequest
from app.hires_request import LATENT_MODES, hires_steps, hires_target, schedule_steps
from app.request import GenerationRequest

if TYPE_CHECKING:
    from app.engine.engine import Engine, ProgressCallback


def upscale_latents(latents: torch.Tensor, size: tuple[int, int], upscaler: str) -> torch.Tensor:
    """(B, C, h, w) latents to ``size`` (width, height in pixels) with a webui latent mode."""
    mode, antialias = LATENT_MODES[upscaler]
    target = (size[1] // 8, size[0] // 8)
    if mode in ("bilinear", "bicubic"):
        return torch.nn.functional.interpolate(latents, size=target, mode=mode, antialias=antialias)
    return torch.nn.functional.interpolate(latents, size=target, mode=mode)


def upscale_images(
    engine: Engine,
    images: list[Image.Image],
    size: tuple[int, int],
    upscaler: str,
    cancel: threading.Event | None,
) -> list[Image.Image]:
    """The first pass's pictures at ``size``: Lanczos/Nearest, or a model then Lanczos."""
    if upscaler == "None":
        return [im.convert("RGB").resize(size, Image.Resampling.LANCZOS) for im in images]
    if upscaler in ("Lanczos", "Nearest"):
        how = Image.Resampling.LANCZOS if upscaler == "Lanczos" else Image.Resampling.NEAREST
        return [im.convert("RGB").resize(size, how) for im in images]
    from app.engine.upscale import load_upscaler, upscale_tiled, upscaler_path

    net = load_upscaler(upscaler_path(upscaler)).to(engine.device.torch_device)
    out = []
    for im in images:
        big = upscale_tiled(net, im, cancel=cancel)
        out.append(big if big.size == size else big.resize(size, Image.Resampling.LANCZOS))
    return out


def _counting_on(
    on_progress: ProgressCallback | None, offset: int, total: int, elapsed: list[float]
) -> ProgressCallback | None:
    """Progress of one pass as part of the whole job: steps after ``offset`` of ``total``."""
    if on_progress is None:
        return None
    from app.engine.engine import Progress

    start = elapsed[0]

    def report(p: Progress) -> None:
        elapsed[0] = start + p.elapsed
        on_progress(Progress(offset + p.step, total, p.preview, start + p.elapsed))

    return report


def run_hires(
    engine: Engine,
    pipe: Any,
    req: GenerationRequest,
    call: ModeCall,
    seeds: list[int],
    on_progress: ProgressCallback | None,
    cancel: threading.Event | None,
    finish_early: threading.Event | None = None,
) -> tuple[list[Image.Image], bool]:
    """Both passes of the hires fix for a validated txt2img request; the final pictures.
    ControlNet units guide both passes (the webui's "Both"). Interrupted (``finish_early``) in
    the first pass, the first pass's picture is the result
    and the second pass does not run, as in the webui."""
    if call.pipe_kind != "text":
        raise InvalidRequest(
            "Hires fix needs a regular model, not an inpainting one; pick another model or "
            "turn hires fix off."
        )
    size = hires_target(req)
    steps2 = hires_steps(req)
    total = req.steps + steps2
    elapsed = [0.0]
    latent = req.hires_upscaler in LATENT_MODES
    first = ModeCall(call.pipe_kind, dict(call.kwargs), call.finish, dict(call.extra))
    if latent:
        first.kwargs["output_type"] = "latent"
    out, redecoded = engine._run(
        pipe, req, first, seeds, _counting_on(on_progress, 0, total, elapsed), cancel,
        finish_early=finish_early,
    )  # fmt: skip
    if finish_early is not None and finish_early.is_set():
        from app.engine.engine import _to_pil

        engine._stopped = engine._stopped or (req.steps, total)
        if not latent:
            return out, redecoded
        with torch.inference_mode():
            decoded = engine._decode_fp32(pipe, torch.stack(out))
        return [_to_pil(im) for im in decoded], redecoded
    image: Any
    if latent:
        image = upscale_latents(torch.stack(out), size, req.hires_upscaler)
    else:
        image = upscale_images(engine, out, size, req.hires_upscaler, cancel)
    second_req = req.replace(
        mode="img2img",
        steps=schedule_steps(steps2, req.hires_denoise),
        strength=req.hires_denoise,
        width=size[0],
        height=size[1],
    )
    second = ModeCall("image", {"image": image, "strength": req.hires_denoise})
    if engine.family == "sdxl":
        from app.engine.sdxl import micro_conditioning

        second.kwargs.update(micro_conditioning(*size))
    img_pipe = engine.pipeline("image")
    if req.controlnets:
        # The webui's default ("Both"): the units guide the second pass too, their control
        # images prepared again at the hires size.
        nets = [engine.controlnet(u.model) for u in req.controlnets]
        img_pipe = engine._with_controlnets(img_pipe, second_req, second, nets)
    img_pipe.scheduler = engine._scheduler(req.sampler, req.schedule)
    images, redecoded2 = engine._run(
        img_pipe,
        second_req,
        second,
        seeds,
        _counting_on(on_progress, req.steps, total, elapsed),
        cancel,
        finish_early=finish_early,
    )
    return images, redecoded or redecoded2
