"""SDXL prompts the webui's way (both text encoders) on a tiny random SDXL model: a plain
prompt equals diffusers' own StableDiffusionXLPipeline; emphasis, long prompts, BREAK and
prompt editing change the picture as they do on SD 1.x."""

from __future__ import annotations

from typing import Any

import diffusers
import numpy as np
import pytest
import torch

from app.engine.conditioning_sdxl import build_sdxl_conditioning
from app.engine.engine import Engine
from app.request import GenerationRequest

STEPS = 4
LONG = "a lighthouse on a rocky cliff at dusk with waves and gulls and clouds and light " * 2


@pytest.fixture(scope="module")
def sdxl() -> dict[str, Any]:
    from app.engine.tiny import build_components

    return build_components("tiny-sdxl", seed=0)


@pytest.fixture
def engine(sdxl: dict[str, Any], cpu_device: Any) -> Engine:
    eng = Engine(cpu_device)
    eng.load_pipeline(diffusers.StableDiffusionXLPipeline(**sdxl), "tiny-sdxl")
    return eng


def _req(prompt: str, **kw: Any) -> GenerationRequest:
    base: dict[str, Any] = dict(
        negative_prompt="blurry", sampler="Euler", steps=STEPS, cfg_scale=6.5, seed=77
    )
    base.update(width=64, height=64, **kw)
    return GenerationRequest(prompt, **base)


def _pixels(engine: Engine, req: GenerationRequest) -> np.ndarray:
    return np.asarray(engine.generate(req).images[0], dtype=np.int16)


def _diff(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a - b).max())


def _reference_pipe(sdxl: dict[str, Any]) -> Any:
    pipe = diffusers.StableDiffusionXLPipeline(**sdxl)
    # "Euler" is the webui's Uniform schedule: evenly spaced ("linspace") timesteps.
    pipe.scheduler = diffusers.EulerDiscreteScheduler.from_config(
        sdxl["scheduler"].config, timestep_spacing="linspace"
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _run(pipe: Any, **kw: Any) -> np.ndarray:
    out = pipe(
        num_inference_steps=STEPS,
        guidance_scale=6.5,
        width=64,
        height=64,
        generator=torch.Generator("cpu").manual_seed(77),
        output_type="np",
        **kw,
    ).images[0]
    return (out * 255).round().astype(np.int16)


@pytest.mark.parametrize("negative", ["blurry", ""])
def test_plain_prompt_equals_diffusers_sdxl(sdxl: dict[str, Any], negative: str) -> None:
    pipe = _reference_pipe(sdxl)
    ref = _run(pipe, prompt="a red boat", negative_prompt=negative or None)
    cond = build_sdxl_conditioning(pipe, "a red boat", negative, STEPS)
    ours = _run(pipe, **cond.call_kwargs())
    assert _diff(ours, ref) <= 1
    if not negative:  # the webui's (and diffusers') zeros for an empty negative prompt
        assert not cond.call_kwargs()["negative_pooled_prompt_embeds"].any()


def test_embeddings_concatenate_both_encoders_and_pool_the_first_chunk(
    sdxl: dict[str, Any],
) -> None:
    pipe = _reference_pipe(sdxl)
    cond = build_sdxl_conditioning(pipe, LONG + "red boat", "blurry", STEPS)
    kw = cond.call_kwargs()
    pos, neg = kw["prompt_embeds"], kw["negative_prompt_embeds"]
    assert pos.shape == neg.shape == (1, 154, 32 + 64)  # two chunks; negative padded
    # diffusers truncates to one chunk: ours' first chunk and pooled vector equal its own
    with torch.inference_mode():
        embeds, _neg, pooled, _npooled = pipe.encode_prompt(
            LONG + "red boat", do_classifier_free_guidance=False
        )
    assert torch.allclose(pos[:, :77], embeds, atol=1e-5)
    assert torch.allclose(kw["pooled_prompt_embeds"], pooled, atol=1e-5)


def test_words_after_token_80_change_the_sdxl_picture(engine: Engine) -> None:
    a = _pixels(engine, _req(LONG + "red boat", cfg_scale=2.0))
    b = _pixels(engine, _req(LONG + "big ship", cfg_scale=2.0))
    assert _diff(a, b) > 0


def test_emphasis_changes_the_sdxl_picture_and_weight_one_does_not(engine: Engine) -> None:
    plain = _pixels(engine, _req("a red boat"))
    same = _pixels(engine, _req("a (red:1.0) boat"))
    heavy = _pixels(engine, _req("a (red:1.6) boat"))
    assert _diff(plain, same) <= 1
    assert _diff(plain, heavy) > 0


def test_break_starts_a_chunk_on_both_encoders(sdxl: dict[str, Any]) -> None:
    pipe = _reference_pipe(sdxl)
    cond = build_sdxl_conditioning(pipe, "a cat BREAK a dog", "", STEPS)
    assert cond.call_kwargs()["prompt_embeds"].shape[1] == 154


def test_sdxl_prompt_editing_equals_two_phases(engine: Engine, sdxl: dict[str, Any]) -> None:
    cat = _pixels(engine, _req("a cat"))
    dog = _pixels(engine, _req("a dog"))
    both = _pixels(engine, _req("a [cat:dog:0.5]"))
    assert _diff(both, cat) > 0 and _diff(both, dog) > 0
    pipe = _reference_pipe(sdxl)
    first = build_sdxl_conditioning(pipe, "a cat", "blurry", STEPS).call_kwargs()
    then = build_sdxl_conditioning(pipe, "a dog", "blurry", STEPS).call_kwargs()

    def switch(p: Any, i: int, t: Any, kw: dict[str, Any]) -> dict[str, Any]:
        c = first if i + 1 <= 2 else then  # the webui's steps 0, 1, 2 use "a cat"
        return {
            "prompt_embeds": torch.cat([c["negative_prompt_embeds"], c["prompt_embeds"]]),
            "add_text_embeds": torch.cat(
                [c["negative_pooled_prompt_embeds"], c["pooled_prompt_embeds"]]
            ),
        }

    ref = _run(pipe, **first, callback_on_step_end=switch)
    assert _diff(both, ref) <= 1
