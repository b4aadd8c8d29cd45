"""The engine against diffusers' own pipelines, on tiny random-weight models."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import diffusers
import numpy as np
import pytest
import torch
from PIL import Image

from app.engine.engine import Engine, Progress
from app.errors import Cancelled
from app.request import GenerationRequest
from app.samplers import SAMPLER_NAMES, SAMPLERS


def reference(
    cls: type, components: dict[str, Any], sampler: str, seeds: list[int], **kw: Any
) -> list[Image.Image]:
    """What diffusers itself makes for the same components, sampler, seeds and settings."""
    pipe = cls(**components, requires_safety_checker=False)
    spec = SAMPLERS[sampler]
    pipe.scheduler = getattr(diffusers, spec.scheduler).from_config(
        components["scheduler"].config, **spec.options
    )
    pipe.set_progress_bar_config(disable=True)
    gens = [torch.Generator("cpu").manual_seed(s) for s in seeds]
    return pipe(generator=gens, num_images_per_prompt=len(seeds), **kw).images


def max_diff(a: Image.Image, b: Image.Image, region: np.ndarray | None = None) -> int:
    d = np.abs(np.asarray(a, dtype=np.int16) - np.asarray(b.convert("RGB"), dtype=np.int16))
    if region is not None:
        d = d[region]
    return int(d.max())


@pytest.mark.parametrize("sampler", ["Euler a", "DPM++ 2M Karras", "DDIM"])
def test_txt2img_equals_diffusers(tiny_engine: Engine, tiny_components: dict, sampler: str) -> None:
    req = GenerationRequest(
        "a lighthouse at dusk",
        negative_prompt="blurry",
        sampler=sampler,
        steps=4,
        cfg_scale=6.5,
        seed=1234,
        width=64,
        height=72,
        batch_size=2,
    )
    result = tiny_engine.generate(req)
    ref = reference(
        diffusers.StableDiffusionPipeline,
        tiny_components,
        sampler,
        [1234, 1235],
        prompt=req.prompt,
        negative_prompt=req.negative_prompt,
        num_inference_steps=4,
        guidance_scale=6.5,
        width=64,
        height=72,
    )
    assert result.seeds == [1234, 1235]
    assert [im.size for im in result.images] == [(64, 72), (64, 72)]
    for ours, theirs in zip(result.images, ref, strict=True):
        assert max_diff(ours, theirs) <= 1


def test_img2img_equals_diffusers(tiny_engine: Engine, tiny_components: dict, photo: Path) -> None:
    req = GenerationRequest(
        "an oil painting",
        mode="img2img",
        init_image=str(photo),
        strength=0.6,
        steps=5,
        seed=7,
        width=64,
        height=64,
        sampler="Euler",
    )
    result = tiny_engine.generate(req)
    ref = reference(
        diffusers.StableDiffusionImg2ImgPipeline,
        tiny_components,
        "Euler",
        [7],
        prompt=req.prompt,
        image=Image.open(photo).convert("RGB"),
        strength=0.6,
        num_inference_steps=5,
        guidance_scale=7.0,
    )
    assert max_diff(result.images[0], ref[0]) <= 1
    assert result.request.mode == "img2img" and result.request.strength == 0.6


def _square_mask(size: int = 64, lo: int = 16, hi: int = 48) -> Image.Image:
    m = np.zeros((size, size), dtype=np.uint8)
    m[lo:hi, lo:hi] = 255
    return Image.fromarray(m, "L")


@pytest.mark.parametrize("arch", ["tiny", "tiny-inpaint"])
def test_inpaint_matches_diffusers_inside_and_original_outside(
    arch: str,
    tiny_components: dict,
    tiny_inpaint_components: dict,
    cpu_device: Any,
    photo: Path,
    tmp_path: Path,
) -> None:
    components = tiny_components if arch == "tiny" else tiny_inpaint_components
    engine = Engine(cpu_device)
    engine.load_pipeline(
        diffusers.StableDiffusionInpaintPipeline(**components, requires_safety_checker=False), arch
    )
    mask = _square_mask()
    mask_path = tmp_path / "mask.png"
    mask.save(mask_path)
    req = GenerationRequest(
        "a blue door",
        mode="inpaint",
        init_image=str(photo),
        mask=str(mask_path),
        strength=1.0,
        steps=4,
        seed=99,
        width=64,
        height=64,
        sampler="Euler a",
        mask_blur=4,
    )
    result = engine.generate(req)
    ref = reference(
        diffusers.StableDiffusionInpaintPipeline,
        components,
        "Euler a",
        [99],
        prompt=req.prompt,
        image=Image.open(photo).convert("RGB"),
        mask_image=mask,
        strength=1.0,
        num_inference_steps=4,
        guidance_scale=7.0,
        width=64,
        height=64,
    )
    original = Image.open(photo).convert("RGB")
    m = np.asarray(mask) > 0
    inside = np.zeros_like(m)
    inside[24:40, 24:40] = True  # well inside the mask, past the soft seam
    assert max_diff(result.images[0], ref[0], inside) <= 1
    # Outside the mask: the original pixels, bit for bit.
    assert max_diff(result.images[0], original, ~m) == 0
    # The generated picture does differ from the original where it was masked.
    assert max_diff(result.images[0], original, inside) > 10


def test_outpaint_extends_and_keeps_the_original(tiny_engine: Engine, photo: Path) -> None:
    req = GenerationRequest(
        "a wide landscape",
        mode="outpaint",
        init_image=str(photo),
        outpaint=(16, 0, 32, 8),
        strength=1.0,
        steps=3,
        seed=3,
        mask_blur=4,
    )
    result = tiny_engine.generate(req)
    out = result.images[0]
    assert out.size == (64 + 48, 64 + 8)
    assert result.request.width == 112 and result.request.height == 72
    original = np.asarray(Image.open(photo).convert("RGB"), dtype=np.int16)
    placed = np.asarray(out, dtype=np.int16)[0:64, 16:80]
    # Away from the seam (4 px overlap into the original) the original is untouched.
    assert np.abs(placed[:, 4:60] - original[:, 4:60])[0:60].max() == 0
    assert "Outpaint" in result.infotexts[0] or "Denoising strength" in result.infotexts[0]


@pytest.mark.parametrize("sampler", SAMPLER_NAMES)
def test_every_sampler_runs(tiny_engine: Engine, sampler: str) -> None:
    events: list[Progress] = []
    result = tiny_engine.generate(
        GenerationRequest("a cat", sampler=sampler, steps=3, seed=11, width=64, height=64),
        on_progress=events.append,
    )
    arr = np.asarray(result.images[0])
    assert arr.shape == (64, 64, 3) and arr.std() > 0
    assert events and events[-1].step == events[-1].total
    assert f"Sampler: {SAMPLERS[sampler].base}" in result.infotexts[0]


def test_batch_uses_consecutive_seeds(tiny_engine: Engine) -> None:
    base = GenerationRequest("a tree", steps=3, seed=500, width=64, height=64, batch_size=3)
    batch = tiny_engine.generate(base)
    assert batch.seeds == [500, 501, 502]
    assert [f"Seed: {500 + i}" in t for i, t in enumerate(batch.infotexts)] == [True] * 3
    single = tiny_engine.generate(base.replace(seed=502, batch_size=1))
    # The same picture as a batch of one with that seed (batched math may differ by a bit).
    assert max_diff(batch.images[2], single.images[0]) <= 2


def test_random_seed_is_reported_and_reproducible(tiny_engine: Engine) -> None:
    req = GenerationRequest("a boat", steps=2, seed=-1, width=64, height=64)
    first = tiny_engine.generate(req)
    seed = first.seeds[0]
    assert 0 <= seed < 2**32 and first.request.seed == seed
    again = tiny_engine.generate(req.replace(seed=seed))
    assert max_diff(first.images[0], again.images[0]) == 0


def test_previews_arrive_once_per_step(tiny_engine: Engine) -> None:
    events: list[Progress] = []
    tiny_engine.generate(
        GenerationRequest("a bird", steps=6, seed=1, width=64, height=96), on_progress=events.append
    )
    assert [e.step for e in events] == [1, 2, 3, 4, 5, 6]
    assert all(e.total == 6 for e in events)
    for e in events:
        assert e.preview is not None and e.preview.dtype == np.uint8
        assert e.preview.shape == (12, 8, 3)  # the latent grid: 1/8 of the image size
    assert events[-1].elapsed >= events[0].elapsed >= 0


def test_cancel_stops_within_one_step(tiny_engine: Engine) -> None:
    cancel = threading.Event()
    steps: list[int] = []

    def on_progress(p: Progress) -> None:
        steps.append(p.step)
        if p.step == 2:
            cancel.set()

    with pytest.raises(Cancelled):
        tiny_engine.generate(
            GenerationRequest("a fox", steps=20, seed=1, width=64, height=64),
            on_progress=on_progress,
            cancel=cancel,
        )
    assert steps == [1, 2]


def test_interrupt_decodes_the_picture_reached_as_diffusers_does(
    tiny_engine: Engine, tiny_components: dict
) -> None:
    """The webui's Interrupt: the step running finishes, the rest are skipped, and the
    latents reached are decoded: equal to diffusers' own pipeline interrupted there."""
    stop = threading.Event()
    steps: list[int] = []

    def on_progress(p: Progress) -> None:
        steps.append(p.step)
        if p.step == 2:
            stop.set()

    req = GenerationRequest("a fox", sampler="Euler", steps=8, seed=5, width=64, height=64)
    result = tiny_engine.generate(req, on_progress=on_progress, finish_early=stop)
    assert steps == [1, 2, 3] and result.stopped_at == 3
    assert result.notes[0] == "Interrupted at step 3 of 8: this is the picture it had reached."

    def halt(pipe: Any, i: int, t: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        if i == 2:
            pipe._interrupt = True
        return {}

    ref = reference(
        diffusers.StableDiffusionPipeline,
        tiny_components,
        "Euler",
        [5],
        prompt="a fox",
        num_inference_steps=8,
        guidance_scale=req.cfg_scale,
        width=64,
        height=64,
        callback_on_step_end=halt,
    )
    assert max_diff(result.images[0], ref[0]) <= 1
    full = tiny_engine.generate(req)
    assert full.stopped_at == 0 and max_diff(full.images[0], result.images[0]) > 1


def test_cancel_before_start_runs_nothing(tiny_engine: Engine) -> None:
    cancel = threading.Event()
    cancel.set()
    steps: list[Progress] = []
    with pytest.raises(Cancelled):
        tiny_engine.generate(
            GenerationRequest("x", steps=3, width=64, height=64), steps.append, cancel
        )
    assert steps == []


def test_modes_share_one_set_of_weights(
    tiny_model_dir: Path, cpu_device: Any, photo: Path, tmp_path: Path
) -> None:
    engine = Engine(cpu_device)
    engine.load(tiny_model_dir)
    mask_path = tmp_path / "m.png"
    _square_mask().save(mask_path)
    common = {"steps": 2, "seed": 1, "width": 64, "height": 64}
    engine.generate(GenerationRequest("a", **common))
    engine.generate(GenerationRequest("a", mode="img2img", init_image=str(photo), **common))
    engine.generate(
        GenerationRequest("a", mode="inpaint", init_image=str(photo), mask=str(mask_path), **common)
    )
    text, image, inpaint = (engine.pipeline(k) for k in ("text", "image", "inpaint"))
    assert type(text).__name__ == "StableDiffusionPipeline"
    assert type(image).__name__ == "StableDiffusionImg2ImgPipeline"
    assert type(inpaint).__name__ == "StableDiffusionInpaintPipeline"
    assert text.unet is image.unet is inpaint.unet
    assert text.vae is image.vae is inpaint.vae and text.text_encoder is inpaint.text_encoder
    assert engine.model_name == "tiny-sd"


def test_loaded_folder_equals_in_memory_components(
    tiny_model_dir: Path, tiny_engine: Engine, cpu_device: Any
) -> None:
    engine = Engine(cpu_device)
    engine.load(tiny_model_dir)
    req = GenerationRequest("same weights", steps=3, seed=42, width=64, height=64)
    assert max_diff(engine.generate(req).images[0], tiny_engine.generate(req).images[0]) == 0


def test_fp16_nan_decode_is_redone_in_fp32(tiny_components: dict) -> None:
    """The fp16 VAE problem, reproduced: activations past fp16's range turn into NaN."""
    import copy

    from app.engine.device import DeviceInfo

    components = {k: copy.deepcopy(v) for k, v in tiny_components.items()}
    pipe = diffusers.StableDiffusionPipeline(**components, requires_safety_checker=False).to(
        torch.float16
    )
    with torch.no_grad():
        pipe.vae.decoder.conv_in.weight *= 1e5  # fine in fp32 (a norm follows), inf in fp16
        pipe.vae.decoder.conv_in.bias *= 1e5
    engine = Engine(DeviceInfo(kind="cpu", dtype="float16", name="CPU"))
    engine.load_pipeline(pipe, "fp16")
    result = engine.generate(GenerationRequest("a", steps=2, seed=5, width=64, height=64))
    arr = np.asarray(result.images[0])
    assert result.redecoded_fp32
    assert arr.max() > 0 and arr.std() > 0  # not the silent black image
    assert pipe.vae.dtype == torch.float16  # put back after the fp32 decode
