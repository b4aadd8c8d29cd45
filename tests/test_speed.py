"""The speed setting: recipes per model, and Fast's picture equals diffusers' own LCM path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import diffusers
import numpy as np
import pytest
import torch
from PIL import Image

from app.engine.speed import apply_speed
from app.engine.taesd import build_tiny_taesd
from app.engine.tiny_networks import save_kohya_lora
from app.errors import InvalidRequest
from app.library.infotext import parse_infotext, request_from_infotext
from app.models import registry
from app.request import GenerationRequest, validate
from app.speed import accelerator_from_name, choose_recipe, describe_all
from tests.lora_helpers import engine_on, fresh_pipe, max_diff, request


def test_accelerators_are_recognised_by_name() -> None:
    lcm = accelerator_from_name("lcm-lora-sd15")
    assert lcm is not None and (lcm.kind, lcm.xl, lcm.steps) == ("lcm", False, 4)
    hyper = accelerator_from_name("Hyper-SD15-8steps-lora")
    assert hyper is not None and (hyper.kind, hyper.xl, hyper.steps) == ("hyper", False, 8)
    light = accelerator_from_name("sdxl_lightning_4step_lora")
    assert light is not None and (light.kind, light.xl, light.steps) == ("lightning", True, 4)
    hyper_xl = accelerator_from_name("Hyper-SDXL-2steps-lora")
    assert hyper_xl is not None and (hyper_xl.xl, hyper_xl.steps) == (True, 2)
    assert accelerator_from_name("inkwash") is None


def test_recipes_per_model() -> None:
    turbo = choose_recipe("fast", "sd-turbo", False, [], True)
    assert (turbo.steps, turbo.cfg_scale, turbo.sampler, turbo.tiny_decode) == (
        1,
        0.0,
        "Euler a",
        True,
    )
    assert turbo.summary == "Turbo model: 1 step, Euler a, CFG 0, TAESD decode"
    lcm = choose_recipe("fast", "my-model", False, ["lcm-lora-sd15", "inkwash"], True)
    assert (lcm.steps, lcm.cfg_scale, lcm.sampler, lcm.lora) == (4, 1.0, "LCM", "lcm-lora-sd15")
    assert lcm.summary == (
        "LCM-LoRA lcm-lora-sd15 on this model: 4 steps, LCM sampler, CFG 1, TAESD decode"
    )
    bal = choose_recipe("balanced", "my-model", False, ["lcm-lora-sd15"], True)
    assert (bal.steps, bal.cfg_scale, bal.tiny_decode) == (8, 1.5, False)
    # an SD 1.5 LoRA never goes onto SDXL; Lightning is recognised there
    xl = choose_recipe("fast", "sdxl", True, ["lcm-lora-sd15", "sdxl_lightning_4step_lora"], False)
    assert (xl.lora, xl.steps, xl.sampler, xl.schedule) == (
        "sdxl_lightning_4step_lora",
        4,
        "Euler",
        "SGM Uniform",
    )
    assert "TAESDXL is not installed" in xl.note and "full VAE" in xl.summary
    none = choose_recipe("fast", "my-model", False, [], False, steps=30, cfg_scale=6.0)
    assert (none.steps, none.cfg_scale, none.lora) == (12, 6.0, "")
    assert "download lcm-lora-sd15 in Models" in none.note
    quality = choose_recipe("quality", "sd-turbo", False, ["lcm-lora-sd15"], True, 25, 7.0)
    assert (quality.steps, quality.cfg_scale, quality.lora, quality.tiny_decode) == (
        25,
        7.0,
        "",
        False,
    )
    assert set(describe_all("sd-turbo", False, [], True)) == {"quality", "balanced", "fast"}


def test_unknown_speed_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="Unknown speed 'ludicrous'"):
        validate(GenerationRequest("x", speed="ludicrous"))


@pytest.fixture
def lcm_lora(tmp_path: Path) -> Path:
    """A tiny LoRA named as LCM-LoRAs are, in an A1111 Lora folder added to the library."""
    folder = tmp_path / "webui-models" / "Lora"
    path = save_kohya_lora(fresh_pipe(), folder / "lcm-lora-tiny.safetensors", alpha=2.0, seed=4)
    registry.import_path(folder.parent)
    return path


def _diffusers_lcm(
    lora: Path, taesd: Any, prompt: str, seed: int, steps: int, cfg: float
) -> Image.Image:
    """diffusers' documented LCM-LoRA recipe: load_lora_weights, LCMScheduler, TAESD as VAE."""
    pipe = fresh_pipe()
    pipe.load_lora_weights(str(lora.parent), weight_name=lora.name)
    pipe.scheduler = diffusers.LCMScheduler.from_config(pipe.scheduler.config)
    pipe.vae = taesd
    pipe.set_progress_bar_config(disable=True)
    out = pipe(
        prompt=prompt,
        num_inference_steps=steps,
        guidance_scale=cfg,
        width=64,
        height=64,
        generator=[torch.Generator("cpu").manual_seed(seed)],
    )
    return out.images[0]


def test_fast_equals_diffusers_lcm_lora_with_taesd(lcm_lora: Path) -> None:
    engine = engine_on()
    taesd = build_tiny_taesd()
    engine.set_preview_decoder(taesd)
    result = engine.generate(request("a lighthouse", speed="fast", seed=11))
    ran = result.request
    assert (ran.steps, ran.cfg_scale, ran.sampler, ran.speed) == (4, 1.0, "LCM", "fast")
    assert ran.prompt == "a lighthouse <lora:lcm-lora-tiny:1>"
    theirs = _diffusers_lcm(lcm_lora, taesd, "a lighthouse ", 11, 4, 1.0)
    assert max_diff(result.images[0], theirs) <= 1
    # it really took the LCM path: not the full VAE, not the plain model
    quality = engine.generate(
        request("a lighthouse", seed=11, steps=4, sampler="LCM", cfg_scale=1.0)
    )
    assert max_diff(result.images[0], quality.images[0]) > 8
    text = result.infotexts[0]
    assert "Speed: Fast" in text and "LCM-LoRA lcm-lora-tiny on this model: 4 steps" in text
    assert "Lora hashes: " in text
    # restoring the picture gives the same request back, and running it again the same picture
    restored = request_from_infotext(parse_infotext(text), GenerationRequest(""))
    assert (restored.speed, restored.steps, restored.prompt) == ("fast", 4, ran.prompt)
    again = engine.generate(restored.replace(width=64, height=64))
    assert np.array_equal(np.asarray(again.images[0]), np.asarray(result.images[0]))


def test_balanced_uses_the_full_vae(lcm_lora: Path) -> None:
    engine = engine_on()
    engine.set_preview_decoder(build_tiny_taesd())
    result = engine.generate(request("a lighthouse", speed="balanced", seed=3))
    assert (result.request.steps, result.request.cfg_scale) == (8, 1.5)
    ref = fresh_pipe()
    ref.load_lora_weights(str(lcm_lora.parent), weight_name=lcm_lora.name)
    ref.scheduler = diffusers.LCMScheduler.from_config(ref.scheduler.config)
    ref.set_progress_bar_config(disable=True)
    theirs = ref(
        prompt="a lighthouse ", num_inference_steps=8, guidance_scale=1.5, width=64, height=64,
        generator=[torch.Generator("cpu").manual_seed(3)],
    ).images[0]  # fmt: skip
    assert max_diff(result.images[0], theirs) <= 1


def test_fast_on_a_turbo_model_is_one_step_cfg_0() -> None:
    engine = engine_on()
    engine.model_name = "sd-turbo"
    taesd = build_tiny_taesd()
    engine.set_preview_decoder(taesd)
    result = engine.generate(request("a fox", speed="fast", seed=5))
    assert (result.request.steps, result.request.cfg_scale, result.request.sampler) == (
        1,
        0.0,
        "Euler a",
    )
    pipe = fresh_pipe()
    pipe.scheduler = diffusers.EulerAncestralDiscreteScheduler.from_config(
        pipe.scheduler.config, timestep_spacing="trailing"
    )
    pipe.vae = taesd
    pipe.set_progress_bar_config(disable=True)
    theirs = pipe(
        prompt="a fox", num_inference_steps=1, guidance_scale=0.0, width=64, height=64,
        generator=[torch.Generator("cpu").manual_seed(5)],
    ).images[0]  # fmt: skip
    assert max_diff(result.images[0], theirs) <= 1


def test_fast_without_accelerators_says_what_to_download() -> None:
    engine = engine_on()
    req, recipe = apply_speed(engine, validate(request("a fox", speed="fast", steps=30)), [])
    assert recipe is not None and req.steps == 12 and req.sampler == "DPM++ 2M Karras"
    result = engine.generate(request("a fox", speed="fast", steps=30))
    assert any("download lcm-lora-sd15 in Models" in n for n in result.notes)
