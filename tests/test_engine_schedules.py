"""Schedules and variation seeds in the engine, against diffusers on tiny random models."""

from __future__ import annotations

import diffusers
import numpy as np
import torch

from app.engine.engine import Engine
from app.engine.noise import slerp
from app.engine.schedulers import EulerAncestralSigmasScheduler
from app.library.infotext import parse_infotext
from app.request import GenerationRequest
from tests.test_engine import max_diff, reference

BASE = dict(steps=4, cfg_scale=6.0, seed=321, width=64, height=64)


def test_dpm_2m_automatic_is_karras_as_in_the_webui(
    tiny_engine: Engine, tiny_components: dict
) -> None:
    auto = tiny_engine.generate(GenerationRequest("a boat", sampler="DPM++ 2M", **BASE))
    old = tiny_engine.generate(GenerationRequest("a boat", sampler="DPM++ 2M Karras", **BASE))
    uniform = tiny_engine.generate(
        GenerationRequest("a boat", sampler="DPM++ 2M", schedule="Uniform", **BASE)
    )
    assert max_diff(auto.images[0], old.images[0]) == 0
    assert max_diff(auto.images[0], uniform.images[0]) > 0
    params = parse_infotext(auto.infotexts[0]).params
    assert (params["Sampler"], params["Schedule type"]) == ("DPM++ 2M", "Karras")
    assert parse_infotext(uniform.infotexts[0]).params["Schedule type"] == "Uniform"


def test_exponential_schedule_equals_diffusers(tiny_engine: Engine, tiny_components: dict) -> None:
    req = GenerationRequest("a boat", sampler="Euler", schedule="Exponential", **BASE)
    ours = tiny_engine.generate(req).images[0]
    pipe = diffusers.StableDiffusionPipeline(**tiny_components, requires_safety_checker=False)
    pipe.scheduler = diffusers.EulerDiscreteScheduler.from_config(
        tiny_components["scheduler"].config,
        use_exponential_sigmas=True,
        timestep_spacing="linspace",
    )
    pipe.set_progress_bar_config(disable=True)
    theirs = pipe(
        prompt="a boat",
        num_inference_steps=4,
        guidance_scale=6.0,
        width=64,
        height=64,
        generator=[torch.Generator("cpu").manual_seed(321)],
    ).images[0]
    assert max_diff(ours, theirs) == 0
    assert parse_infotext(tiny_engine.generate(req).infotexts[0]).params["Schedule type"] == (
        "Exponential"
    )


def test_euler_a_karras_uses_diffusers_karras_sigmas(tiny_components: dict) -> None:
    config = tiny_components["scheduler"].config
    ours = EulerAncestralSigmasScheduler.from_config(
        config, use_karras_sigmas=True, timestep_spacing="linspace"
    )
    euler = diffusers.EulerDiscreteScheduler.from_config(
        config, use_karras_sigmas=True, timestep_spacing="linspace"
    )
    ours.set_timesteps(12)
    euler.set_timesteps(12)
    assert torch.allclose(ours.sigmas, euler.sigmas)
    assert torch.allclose(ours.timesteps, euler.timesteps.to(ours.timesteps.dtype))
    assert float(ours.init_noise_sigma) == float(euler.init_noise_sigma)


def test_every_schedule_runs_for_euler_a(tiny_engine: Engine) -> None:
    seen = set()
    for schedule in ("Uniform", "Karras", "Exponential", "SGM Uniform", "Beta"):
        r = tiny_engine.generate(
            GenerationRequest("a boat", sampler="Euler a", schedule=schedule, **BASE)
        )
        seen.add(np.asarray(r.images[0]).tobytes())
    assert len(seen) == 5


def test_variation_strength_zero_is_the_seeds_picture(
    tiny_engine: Engine, tiny_components: dict
) -> None:
    req = GenerationRequest("a boat", sampler="Euler a", subseed=99, subseed_strength=0.0, **BASE)
    ours = tiny_engine.generate(req)
    ref = reference(
        diffusers.StableDiffusionPipeline,
        tiny_components,
        "Euler a",
        [321],
        prompt="a boat",
        num_inference_steps=4,
        guidance_scale=6.0,
        width=64,
        height=64,
    )
    assert max_diff(ours.images[0], ref[0]) == 0
    assert "Variation seed" not in ours.infotexts[0]


def test_variation_strength_one_is_the_variation_seeds_noise(tiny_engine: Engine) -> None:
    # A deterministic sampler: only the starting noise matters, and at strength 1 it is the
    # variation seed's.
    full = tiny_engine.generate(
        GenerationRequest("a boat", sampler="Euler", subseed=77, subseed_strength=1.0, **BASE)
    )
    plain = tiny_engine.generate(
        GenerationRequest("a boat", sampler="Euler", **{**BASE, "seed": 77})
    )
    assert max_diff(full.images[0], plain.images[0]) <= 1
    half = tiny_engine.generate(
        GenerationRequest("a boat", sampler="Euler", subseed=77, subseed_strength=0.3, **BASE)
    )
    assert max_diff(half.images[0], plain.images[0]) > 1


def test_variation_batch_keeps_the_seed_and_counts_variation_seeds(tiny_engine: Engine) -> None:
    r = tiny_engine.generate(
        GenerationRequest("a boat", subseed=500, subseed_strength=0.25, batch_size=2, **BASE)
    )
    assert r.seeds == [321, 321]
    p0, p1 = (parse_infotext(t).params for t in r.infotexts)
    assert (p0["Seed"], p0["Variation seed"], p0["Variation seed strength"]) == (
        "321",
        "500",
        "0.25",
    )
    assert p1["Variation seed"] == "501"
    assert max_diff(r.images[0], r.images[1]) > 0


def test_random_variation_seed_is_reported(tiny_engine: Engine) -> None:
    r = tiny_engine.generate(GenerationRequest("a boat", subseed=-1, subseed_strength=0.5, **BASE))
    assert r.request.subseed >= 0
    assert parse_infotext(r.infotexts[0]).params["Variation seed"] == str(r.request.subseed)


def test_slerp_is_the_webuis() -> None:
    g = torch.Generator().manual_seed(0)
    low, high = torch.randn(4, 8, 8, generator=g), torch.randn(4, 8, 8, generator=g)
    assert torch.allclose(slerp(0.0, low, high), low, atol=1e-5)
    assert torch.allclose(slerp(1.0, low, high), high, atol=1e-5)
    # The webui's formula, written out: norms along dim 1 of the (C, H, W) noise.
    ln, hn = low / low.norm(dim=1, keepdim=True), high / high.norm(dim=1, keepdim=True)
    omega = torch.acos((ln * hn).sum(1))
    expected = (torch.sin(0.7 * omega) / torch.sin(omega)).unsqueeze(1) * low + (
        torch.sin(0.3 * omega) / torch.sin(omega)
    ).unsqueeze(1) * high
    assert torch.allclose(slerp(0.3, low, high), expected, atol=1e-6)
    # Nearly parallel noises: the webui's own linear fallback, weights as it writes them.
    assert torch.allclose(slerp(0.3, low, low * 1.0001), low * 0.3 + low * 1.0001 * 0.7)
