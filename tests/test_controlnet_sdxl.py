"""SDXL ControlNet through the engine equals diffusers' StableDiffusionXLControlNetPipeline
(tiny random SDXL model and ControlNet)."""

from __future__ import annotations

from typing import Any

import diffusers
import pytest
import torch

from app.engine.engine import Engine
from app.engine.preprocess import scribble
from app.errors import ModelLoadError
from app.request import ControlUnit, GenerationRequest
from tests.test_controlnet import drawing, max_diff


@pytest.fixture(scope="module")
def sdxl() -> dict[str, Any]:
    from app.engine.tiny import build_components

    return build_components("tiny-sdxl", seed=0)


def xl_controlnet(components: dict[str, Any], seed: int) -> Any:
    net = diffusers.ControlNetModel.from_unet(
        components["unet"], conditioning_embedding_out_channels=(8, 8, 16, 16)
    )
    torch.manual_seed(seed)
    with torch.no_grad():
        for block in [*net.controlnet_down_blocks, net.controlnet_mid_block]:
            block.weight.normal_(0, 0.3)
            block.bias.normal_(0, 0.1)
    return net.eval()


def test_sdxl_unit_equals_diffusers(sdxl: dict, cpu_device: Any) -> None:
    engine = Engine(cpu_device)
    engine.load_pipeline(diffusers.StableDiffusionXLPipeline(**sdxl), "tiny-sdxl")
    net = xl_controlnet(sdxl, 1)
    engine.add_controlnet("xl-cn", net)
    unit = ControlUnit("xl-cn", drawing(), preprocessor="scribble", weight=0.7)
    req = GenerationRequest(
        "a house",
        sampler="Euler",
        steps=3,
        cfg_scale=5.0,
        seed=9,
        width=64,
        height=64,
        controlnets=(unit,),
    )
    ours = engine.generate(req).images[0]
    pipe = diffusers.StableDiffusionXLControlNetPipeline(**sdxl, controlnet=net)
    # "Euler" runs the webui's Uniform schedule: evenly spaced ("linspace") timesteps.
    pipe.scheduler = diffusers.EulerDiscreteScheduler.from_config(
        sdxl["scheduler"].config, timestep_spacing="linspace"
    )
    pipe.set_progress_bar_config(disable=True)
    theirs = pipe(
        prompt="a house",
        image=scribble(drawing()),
        num_inference_steps=3,
        guidance_scale=5.0,
        width=64,
        height=64,
        controlnet_conditioning_scale=0.7,
        generator=torch.Generator("cpu").manual_seed(9),
    ).images[0]
    assert max_diff(ours, theirs) <= 1
    plain = engine.generate(req.replace(controlnets=())).images[0]
    assert max_diff(ours, plain) > 8


def test_sd15_controlnet_on_sdxl_gets_one_sentence(
    sdxl: dict, cpu_device: Any, tiny_components: dict
) -> None:
    from tests.test_controlnet import tiny_controlnet

    engine = Engine(cpu_device)
    engine.load_pipeline(diffusers.StableDiffusionXLPipeline(**sdxl), "tiny-sdxl")
    with pytest.raises(ModelLoadError, match="choose an SDXL ControlNet"):
        engine.add_controlnet("sd15", tiny_controlnet(tiny_components, 1))
