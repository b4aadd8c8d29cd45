"""The webui's hires fix: the engine's result equals the two stages run by hand through
diffusers' pipelines on the tiny model; progress counts on through the second pass; the
infotext writes and reads the webui's keys; validation says one sentence."""

from __future__ import annotations

from typing import Any

import diffusers
import numpy as np
import pytest
import torch
from PIL import Image

from app.engine.hires import upscale_latents
from app.errors import InvalidRequest
from app.hires_request import hires_target, old_first_pass_size, schedule_steps
from app.library.infotext import infotext_from_request, parse_infotext, restore_request
from app.request import GenerationRequest, validate
from tests.test_controlnet import max_diff

REQ = GenerationRequest(
    "a lighthouse",
    sampler="Euler",
    steps=4,
    cfg_scale=6.0,
    seed=21,
    width=80,
    height=64,
    hires=True,
    hires_scale=1.5,
    hires_steps=3,
    hires_denoise=0.6,
)


def euler(components: dict[str, Any]) -> Any:
    # "Euler" runs the webui's Uniform schedule: evenly spaced ("linspace") timesteps.
    return diffusers.EulerDiscreteScheduler.from_config(
        components["scheduler"].config, timestep_spacing="linspace"
    )


def by_hand(components: dict[str, Any], req: GenerationRequest, upscaler: str) -> Image.Image:
    text = diffusers.StableDiffusionPipeline(**components, requires_safety_checker=False)
    text.scheduler = euler(components)
    image = diffusers.StableDiffusionImg2ImgPipeline(**components, requires_safety_checker=False)
    image.scheduler = euler(components)
    for p in (text, image):
        p.set_progress_bar_config(disable=True)
    common = {"prompt": req.prompt, "guidance_scale": req.cfg_scale}
    first = text(
        **common,
        num_inference_steps=req.steps,
        width=req.width,
        height=req.height,
        generator=torch.Generator("cpu").manual_seed(req.seed),
        output_type="latent" if upscaler == "Latent" else "pil",
    ).images
    w, h = hires_target(req)
    if upscaler == "Latent":
        init: Any = torch.nn.functional.interpolate(first, size=(h // 8, w // 8), mode="bilinear")
    else:
        init = first[0].resize((w, h), Image.Resampling.LANCZOS)
    return image(
        **common,
        image=init,
        strength=req.hires_denoise,
        num_inference_steps=schedule_steps(req.hires_steps, req.hires_denoise),
        generator=torch.Generator("cpu").manual_seed(req.seed),
    ).images[0]


@pytest.mark.parametrize("upscaler", ["Latent", "Lanczos"])
def test_hires_equals_two_stages_by_hand(
    tiny_engine: Any, tiny_components: dict, upscaler: str
) -> None:
    req = REQ.replace(hires_upscaler=upscaler)
    seen: list[tuple[int, int]] = []
    shapes: list[tuple[int, ...]] = []

    def progress(p: Any) -> None:
        seen.append((p.step, p.total))
        shapes.append(p.preview.shape if p.preview is not None else ())

    result = tiny_engine.generate(req, on_progress=progress)
    ours = result.images[0]
    assert ours.size == (120, 96)
    theirs = by_hand(tiny_components, req, upscaler)
    assert max_diff(ours, theirs) <= 1
    # Previews go on through the second pass: 4 base steps then 3 hires steps, of 7.
    assert seen == [(i, 7) for i in range(1, 8)]
    # ... with a live preview at every step, at the hires size in the second pass.
    assert all(shapes) and len(set(shapes[:4])) == 1 and len(set(shapes[4:])) == 1
    assert shapes[4][0] > shapes[0][0]
    plain = tiny_engine.generate(req.replace(hires=False)).images[0]
    assert plain.size == (80, 64)
    text = result.infotexts[0]
    assert "Size: 80x64" in text
    assert "Denoising strength: 0.6" in text
    assert f"Hires upscale: 1.5, Hires steps: 3, Hires upscaler: {upscaler}" in text


def test_esrgan_hires_upscaler_from_a_file(tiny_engine: Any, tmp_path: Any) -> None:
    from safetensors.torch import save_file

    from tests.test_upscale import state, tiny_net

    save_file(state(tiny_net()), tmp_path / "4x-tiny.safetensors")
    req = REQ.replace(hires_upscaler=str(tmp_path / "4x-tiny.safetensors"), hires_scale=2.0)
    out = tiny_engine.generate(req).images[0]
    assert out.size == (160, 128)
    lanczos = tiny_engine.generate(req.replace(hires_upscaler="Lanczos")).images[0]
    assert max_diff(out, lanczos) > 0  # the model's upscale, not Lanczos, went into pass 2


def test_missing_upscaler_is_one_sentence(tiny_engine: Any) -> None:
    from app.errors import ModelLoadError

    with pytest.raises(ModelLoadError, match="not installed"):
        tiny_engine.generate(REQ.replace(hires_upscaler="4x-NoSuchThing"))


def test_latent_modes_interpolate_as_the_webui() -> None:
    lat = torch.randn(1, 4, 8, 6)
    got = upscale_latents(lat, (96, 128), "Latent (bicubic antialiased)")
    want = torch.nn.functional.interpolate(lat, size=(16, 12), mode="bicubic", antialias=True)
    assert torch.equal(got, want)
    assert upscale_latents(lat, (96, 128), "Latent (nearest)").shape == (1, 4, 16, 12)


def test_schedule_runs_exactly_the_hires_steps() -> None:
    for steps in (1, 3, 10, 20, 37):
        for d in (0.05, 0.3, 0.5, 0.7, 0.75, 0.999, 1.0):
            assert int(schedule_steps(steps, d) * d) == steps or d == 1.0
    assert schedule_steps(10, 0.5) == 20


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"mode": "img2img"}, "txt2img only"),
        ({"hires_scale": 5.0}, "between 1 and 4"),
        ({"hires_denoise": 0.0}, "greater than 0"),
        ({"hires_steps": -1}, "Hires steps"),
        ({"hires_upscaler": " "}, "Choose a hires upscaler"),
        ({"hires_scale": 1.0, "hires_resize": (4096, 8192)}, "at most 4096"),
    ],
)
def test_validation_messages(changes: dict, message: str, photo: Any) -> None:
    req = REQ.replace(init_image=photo, **changes)
    with pytest.raises(InvalidRequest, match=message):
        validate(req)


def test_target_size() -> None:
    assert hires_target(REQ.replace(hires_scale=2.0)) == (160, 128)
    assert hires_target(REQ.replace(hires_resize=(200, 0))) == (200, 160)
    assert hires_target(REQ.replace(hires_resize=(0, 100))) == (120, 96)
    assert hires_target(REQ.replace(width=512, height=512, hires_scale=1.3)) == (664, 664)


def test_infotext_round_trip_and_resize() -> None:
    text = infotext_from_request(REQ.replace(hires_upscaler="Latent (bicubic)"), 21)
    back, messages = restore_request(parse_infotext(text))
    assert not messages
    assert back.hires and back.mode == "txt2img"
    assert (back.width, back.height, back.hires_scale, back.hires_steps) == (80, 64, 1.5, 3)
    assert (back.hires_upscaler, back.hires_denoise) == ("Latent (bicubic)", 0.6)
    resized = infotext_from_request(REQ.replace(hires_resize=(160, 120), hires_steps=0), 1)
    assert "Hires resize: 160x120" in resized and "Hires steps" not in resized
    assert "Hires upscale:" not in resized
    back = restore_request(parse_infotext(resized))[0]
    assert back.hires_resize == (160, 120) and back.hires_steps == 0
    plain = restore_request(parse_infotext(infotext_from_request(REQ.replace(hires=False), 1)))
    assert not plain[0].hires


def test_old_first_pass_size_is_read_as_the_webui() -> None:
    old = "a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 5, Size: 1280x1024, "
    old += "First pass size: 640x512, Denoising strength: 0.55"
    req = restore_request(parse_infotext(old))[0]
    assert (req.width, req.height, req.hires_resize) == (640, 512, (1280, 1024))
    assert req.hires and req.mode == "txt2img" and req.hires_denoise == 0.55
    auto = restore_request(parse_infotext(old.replace("640x512", "0x0")))[0]
    assert (auto.width, auto.height) == old_first_pass_size(1280, 1024) == (576, 512)


def test_hires_result_is_not_the_first_pass_upscaled(tiny_engine: Any) -> None:
    out = tiny_engine.generate(REQ.replace(hires_upscaler="Lanczos")).images[0]
    first = tiny_engine.generate(REQ.replace(hires=False)).images[0]
    stretched = first.resize(out.size, Image.Resampling.LANCZOS)
    assert np.abs(np.asarray(out, np.int16) - np.asarray(stretched, np.int16)).max() > 4


def test_installed_upscaler_is_found_by_name(tiny_engine: Any, easel_home: Any) -> None:
    """An ESRGAN file in Easel's upscalers folder is a hires upscaler by its name."""
    from app.models.store import models_dir
    from tests.test_upscale import state, tiny_net

    folder = models_dir() / "upscalers"
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({"params_ema": state(tiny_net())}, folder / "4x-Tiny.pth")
    out = tiny_engine.generate(REQ.replace(hires_upscaler="4x-tiny", hires_scale=2.0))
    assert out.images[0].size == (160, 128)
    assert "Hires upscaler: 4x-tiny" in out.infotexts[0]


def test_webui_api_fields_map_to_hires() -> None:
    pytest.importorskip("pydantic")
    from app.server.convert import base_request
    from app.server.schemas import Txt2ImgRequest

    body = Txt2ImgRequest(
        prompt="x",
        enable_hr=True,
        hr_scale=1.5,
        hr_upscaler="Lanczos",
        hr_second_pass_steps=4,
        denoising_strength=0.4,
    )
    req = base_request(body)
    assert (req.hires, req.hires_scale, req.hires_upscaler) == (True, 1.5, "Lanczos")
    assert (req.hires_steps, req.hires_denoise, req.hires_resize) == (4, 0.4, (0, 0))
    assert not base_request(Txt2ImgRequest(prompt="x")).hires


@pytest.mark.parametrize("upscaler", ["Latent", "Lanczos"])
def test_interrupt_in_the_first_pass_returns_the_first_pass(
    tiny_engine: Any, upscaler: str
) -> None:
    """As the webui: interrupted before the second pass starts, the first pass's picture (at
    the base size) is the answer, decoded from the latents reached; the second pass never runs."""
    import threading

    stop = threading.Event()
    steps: list[int] = []

    def on_progress(p: Any) -> None:
        steps.append(p.step)
        stop.set()

    req = REQ.replace(hires_upscaler=upscaler, hires_scale=2.0)
    out = tiny_engine.generate(req, on_progress=on_progress, finish_early=stop)
    assert out.images[0].size == (req.width, req.height)
    assert out.stopped_at == 2 and steps == [1, 2]  # the step running when it came finished
    assert out.notes[0].startswith("Interrupted at step 2 of 4")


def test_hires_with_controlnet_equals_two_controlnet_stages_by_hand(
    tiny_engine: Any, tiny_components: dict
) -> None:
    """The units guide both passes, each with the control image prepared at its own size."""
    from app.engine.preprocess import preprocess
    from app.request import ControlUnit
    from tests.test_controlnet import drawing, tiny_controlnet

    tiny_engine.add_controlnet("cn-hires", tiny_controlnet(tiny_components, 3))
    net = tiny_engine.controlnet("cn-hires")
    unit = ControlUnit("cn-hires", drawing(), preprocessor="invert", weight=0.9)
    req = REQ.replace(hires_upscaler="Lanczos", controlnets=(unit,))
    ours = tiny_engine.generate(req).images[0]
    w, h = hires_target(req)
    parts = {k: v for k, v in tiny_components.items() if k != "image_encoder"}
    text = diffusers.StableDiffusionControlNetPipeline(
        **parts, controlnet=net, requires_safety_checker=False
    )
    image = diffusers.StableDiffusionControlNetImg2ImgPipeline(
        **parts, controlnet=net, requires_safety_checker=False
    )
    for p in (text, image):
        p.scheduler = euler(tiny_components)
        p.set_progress_bar_config(disable=True)
    common = {"prompt": req.prompt, "guidance_scale": req.cfg_scale}
    common["controlnet_conditioning_scale"] = 0.9
    first = text(
        **common,
        image=preprocess("invert", drawing(), (req.width, req.height)),
        num_inference_steps=req.steps,
        width=req.width,
        height=req.height,
        generator=torch.Generator("cpu").manual_seed(req.seed),
    ).images[0]
    theirs = image(
        **common,
        image=first.resize((w, h), Image.Resampling.LANCZOS),
        control_image=preprocess("invert", drawing(), (w, h)),
        strength=req.hires_denoise,
        num_inference_steps=schedule_steps(req.hires_steps, req.hires_denoise),
        generator=torch.Generator("cpu").manual_seed(req.seed),
    ).images[0]
    assert ours.size == (w, h) and max_diff(ours, theirs) <= 1
    plain = tiny_engine.generate(req.replace(controlnets=())).images[0]
    assert max_diff(ours, plain) > 8  # the control changed the picture
