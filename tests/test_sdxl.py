"""SDXL all the way, on a tiny random SDXL model: txt2img, img2img and inpaint through the
engine equal diffusers' StableDiffusionXL{,Img2Img,Inpaint}Pipeline; micro-conditioning is
the webui's; the fp16 VAE is swapped for the fp16-fix one when installed, else upcast; VAE
tiles are 512 px; hires fix runs on SDXL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import diffusers
import numpy as np
import pytest
import torch
from PIL import Image

from app.engine.engine import Engine
from app.engine.sdxl import micro_conditioning, prepare_sdxl_vae, use_small_vae_tiles
from app.request import GenerationRequest
from tests.test_engine import max_diff


@pytest.fixture(scope="module")
def sdxl() -> dict[str, Any]:
    from app.engine.tiny import build_components

    return build_components("tiny-sdxl", seed=0)


@pytest.fixture
def xl_engine(sdxl: dict, cpu_device: Any) -> Engine:
    engine = Engine(cpu_device)
    engine.load_pipeline(diffusers.StableDiffusionXLPipeline(**sdxl), "tiny-sdxl")
    return engine


def theirs(cls: type, components: dict[str, Any], seed: int, **kw: Any) -> Image.Image:
    pipe = cls(**components)
    # "Euler" runs the webui's Uniform schedule: evenly spaced ("linspace") timesteps.
    pipe.scheduler = diffusers.EulerDiscreteScheduler.from_config(
        components["scheduler"].config, timestep_spacing="linspace"
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe(generator=torch.Generator("cpu").manual_seed(seed), **kw).images[0]


BASE = GenerationRequest("a red fox", sampler="Euler", steps=3, cfg_scale=5.0, seed=4)


def test_txt2img_equals_diffusers(xl_engine: Engine, sdxl: dict) -> None:
    req = BASE.replace(width=96, height=64)
    ours = xl_engine.generate(req).images[0]
    ref = theirs(
        diffusers.StableDiffusionXLPipeline,
        sdxl,
        4,
        prompt=req.prompt,
        num_inference_steps=3,
        guidance_scale=5.0,
        width=96,
        height=64,
    )
    assert ours.size == (96, 64)
    assert max_diff(ours, ref) <= 1


def test_img2img_equals_diffusers(xl_engine: Engine, sdxl: dict, photo: Path) -> None:
    req = BASE.replace(mode="img2img", init_image=str(photo), strength=0.7, steps=4)
    req = req.replace(width=64, height=64)
    ours = xl_engine.generate(req).images[0]
    ref = theirs(
        diffusers.StableDiffusionXLImg2ImgPipeline,
        sdxl,
        4,
        prompt=req.prompt,
        image=Image.open(photo).convert("RGB"),
        strength=0.7,
        num_inference_steps=4,
        guidance_scale=5.0,
    )
    assert max_diff(ours, ref) <= 1


def test_inpaint_equals_diffusers_inside_and_original_outside(
    xl_engine: Engine, sdxl: dict, photo: Path, tmp_path: Path
) -> None:
    m = np.zeros((64, 64), np.uint8)
    m[16:48, 16:48] = 255
    mask = Image.fromarray(m, "L")
    mask.save(tmp_path / "mask.png")
    req = BASE.replace(
        mode="inpaint",
        init_image=str(photo),
        mask=str(tmp_path / "mask.png"),
        strength=1.0,
        width=64,
        height=64,
        mask_blur=4,
    )
    ours = xl_engine.generate(req).images[0]
    ref = theirs(
        diffusers.StableDiffusionXLInpaintPipeline,
        sdxl,
        4,
        prompt=req.prompt,
        image=Image.open(photo).convert("RGB"),
        mask_image=mask,
        strength=1.0,
        num_inference_steps=3,
        guidance_scale=5.0,
        width=64,
        height=64,
    )
    inside = np.zeros((64, 64), bool)
    inside[24:40, 24:40] = True
    assert max_diff(ours, ref, inside) <= 1
    original = Image.open(photo).convert("RGB")
    assert max_diff(ours, original, m == 0) == 0
    assert max_diff(ours, original, inside) > 10


def test_micro_conditioning_is_the_webuis(xl_engine: Engine) -> None:
    """The UNet sees time ids (original h, w, crop top, left, target h, w) of the picture's
    own size and a (0, 0) crop, for the prompt and the negative prompt."""
    assert micro_conditioning(1216, 832)["original_size"] == (832, 1216)
    seen: list[torch.Tensor] = []
    unet = xl_engine.pipeline("text").unet

    def spy(module: Any, args: Any, kwargs: dict[str, Any]) -> None:
        seen.append(kwargs["added_cond_kwargs"]["time_ids"].clone())

    handle = unet.register_forward_pre_hook(spy, with_kwargs=True)
    try:
        xl_engine.generate(BASE.replace(width=96, height=64, steps=1))
    finally:
        handle.remove()
    assert seen and all(
        row.tolist() == [64.0, 96.0, 0.0, 0.0, 64.0, 96.0] for ids in seen for row in ids
    )


def test_hires_fix_on_sdxl(xl_engine: Engine) -> None:
    req = BASE.replace(width=64, height=64, hires=True, hires_scale=1.5, hires_steps=2)
    steps: list[int] = []
    out = xl_engine.generate(req, on_progress=lambda p: steps.append(p.total))
    assert out.images[0].size == (96, 96) and set(steps) == {5}


def test_fp16_vae_fix_is_used_when_installed_else_upcast(sdxl: dict, tmp_path: Path) -> None:
    pipe = diffusers.StableDiffusionXLPipeline(**sdxl)
    fixed = diffusers.AutoencoderKL.from_config(sdxl["vae"].config, force_upcast=False)
    fixed.save_pretrained(tmp_path / "fix")
    assert prepare_sdxl_vae(pipe, torch.float16, str(tmp_path / "fix")) == "fp16-fix"
    assert pipe.vae.dtype == torch.float16 and pipe.vae.config.force_upcast is False
    other = diffusers.StableDiffusionXLPipeline(**{**sdxl, "vae": sdxl["vae"]})
    sdxl["vae"].register_to_config(force_upcast=False)
    assert prepare_sdxl_vae(other, torch.float16, "") == "upcast"
    assert other.vae.config.force_upcast is True
    assert prepare_sdxl_vae(other, torch.bfloat16, "") == ""


def test_fp16_fix_is_found_in_the_registry(sdxl: dict, easel_home: Path) -> None:
    """Installed like any catalog download (a snapshot folder), the fix is found by its id."""
    from app.engine.sdxl import FP16_FIX_ID, fp16_fix_path
    from app.models import catalog

    entry = catalog.get(FP16_FIX_ID)
    assert entry.kind == "vae" and entry.repo_id == "madebyollin/sdxl-vae-fp16-fix"
    assert fp16_fix_path() is None


def test_vae_tiles_are_512_px(sdxl: dict) -> None:
    vae = diffusers.AutoencoderKL.from_config({**sdxl["vae"].config, "sample_size": 1024})
    use_small_vae_tiles(vae)
    assert vae.tile_sample_min_size == 512 and vae.tile_latent_min_size == 512 // 2 ** (
        len(vae.config.block_out_channels) - 1
    )
