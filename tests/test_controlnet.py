"""ControlNet through the engine against diffusers' own ControlNet pipelines (tiny random
models), the preprocessors, and the request's validation of units."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import diffusers
import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from app.engine.controlnet import soft_scales
from app.engine.engine import Engine
from app.engine.preprocess import canny, preprocess, scribble
from app.errors import InvalidRequest, ModelLoadError
from app.request import ControlUnit, GenerationRequest, validate


def tiny_controlnet(components: dict[str, Any], seed: int) -> Any:
    """A ControlNet made from the tiny UNet whose zero convolutions are random, so the
    control actually changes the picture (zero-initialised ones would hide a bug)."""
    net = diffusers.ControlNetModel.from_unet(
        components["unet"], conditioning_embedding_out_channels=(8, 8, 16, 16)
    )
    torch.manual_seed(seed)
    with torch.no_grad():
        for block in [*net.controlnet_down_blocks, net.controlnet_mid_block]:
            block.weight.normal_(0, 0.3)
            block.bias.normal_(0, 0.1)
    return net.eval()


def drawing() -> Image.Image:
    im = Image.new("RGB", (64, 64), "white")
    d = ImageDraw.Draw(im)
    d.ellipse((12, 12, 52, 52), outline="black", width=3)
    d.line((0, 63, 63, 0), fill="black", width=2)
    return im


def max_diff(a: Image.Image, b: Image.Image) -> int:
    d = np.abs(np.asarray(a, dtype=np.int16) - np.asarray(b.convert("RGB"), dtype=np.int16))
    return int(d.max())


@pytest.fixture
def cn_engine(tiny_engine: Engine, tiny_components: dict) -> Engine:
    tiny_engine.add_controlnet("cn-a", tiny_controlnet(tiny_components, 1))
    tiny_engine.add_controlnet("cn-b", tiny_controlnet(tiny_components, 2))
    return tiny_engine


def reference(components: dict, nets: list[Any], seed: int, **kw: Any) -> Image.Image:
    controlnet = nets[0] if len(nets) == 1 else diffusers.MultiControlNetModel(nets)
    parts = {k: v for k, v in components.items() if k != "image_encoder"}
    pipe = diffusers.StableDiffusionControlNetPipeline(
        **parts, controlnet=controlnet, requires_safety_checker=False
    )
    pipe.scheduler = diffusers.EulerAncestralDiscreteScheduler.from_config(
        components["scheduler"].config
    )
    pipe.set_progress_bar_config(disable=True)
    gen = torch.Generator("cpu").manual_seed(seed)
    return pipe(generator=gen, **kw).images[0]


def request(*units: ControlUnit, **kw: Any) -> GenerationRequest:
    base = dict(sampler="Euler a", steps=4, cfg_scale=6.0, seed=77, width=64, height=64)
    base.update(kw)
    return GenerationRequest("a cat in a garden", controlnets=units, **base)  # type: ignore[arg-type]


def test_one_unit_equals_diffusers(cn_engine: Engine, tiny_components: dict) -> None:
    unit = ControlUnit("cn-a", drawing(), preprocessor="scribble", weight=0.8)
    ours = cn_engine.generate(request(unit)).images[0]
    control = scribble(drawing())
    theirs = reference(
        tiny_components,
        [cn_engine.controlnet("cn-a")],
        77,
        prompt="a cat in a garden",
        image=control,
        num_inference_steps=4,
        guidance_scale=6.0,
        width=64,
        height=64,
        controlnet_conditioning_scale=0.8,
    )
    assert max_diff(ours, theirs) <= 1
    plain = cn_engine.generate(request()).images[0]
    assert max_diff(ours, plain) > 8  # the control changed the picture


def test_two_units_equal_diffusers(cn_engine: Engine, tiny_components: dict) -> None:
    a = ControlUnit("cn-a", drawing(), preprocessor="invert", weight=1.0, guidance_end=0.5)
    b = ControlUnit("cn-b", drawing(), preprocessor="canny", weight=0.6, guidance_start=0.25)
    ours = cn_engine.generate(request(a, b)).images[0]
    theirs = reference(
        tiny_components,
        [cn_engine.controlnet("cn-a"), cn_engine.controlnet("cn-b")],
        77,
        prompt="a cat in a garden",
        image=[preprocess("invert", drawing(), (64, 64)), canny(drawing())],
        num_inference_steps=4,
        guidance_scale=6.0,
        width=64,
        height=64,
        controlnet_conditioning_scale=[1.0, 0.6],
        control_guidance_start=[0.0, 0.25],
        control_guidance_end=[0.5, 1.0],
    )
    assert max_diff(ours, theirs) <= 1


def test_control_modes_differ_and_guess_mode_matches(
    cn_engine: Engine, tiny_components: dict
) -> None:
    unit = ControlUnit("cn-a", drawing(), preprocessor="scribble")
    out = {
        m: cn_engine.generate(request(unit.replace(control_mode=m))).images[0]
        for m in ("Balanced", "My prompt is more important", "ControlNet is more important")
    }
    assert max_diff(out["Balanced"], out["My prompt is more important"]) > 2
    assert max_diff(out["Balanced"], out["ControlNet is more important"]) > 2
    theirs = reference(
        tiny_components,
        [cn_engine.controlnet("cn-a")],
        77,
        prompt="a cat in a garden",
        image=scribble(drawing()),
        num_inference_steps=4,
        guidance_scale=6.0,
        width=64,
        height=64,
        guess_mode=True,
    )
    assert max_diff(out["ControlNet is more important"], theirs) <= 1
    # The hook is gone after the run: Balanced again gives the Balanced picture.
    again = cn_engine.generate(request(unit)).images[0]
    assert max_diff(again, out["Balanced"]) == 0


def test_soft_scales_are_the_webuis() -> None:
    s = soft_scales(13)
    assert s[-1] == 1.0 and abs(s[0] - 0.825**12) < 1e-12
    ref = np.logspace(-1, 0, 13)  # diffusers' guess_mode scales
    assert np.allclose(s, ref, rtol=0.02)


def test_img2img_and_inpaint_with_a_unit(cn_engine: Engine, photo: Path) -> None:
    unit = ControlUnit("cn-a", drawing(), preprocessor="lineart")
    img = cn_engine.generate(
        request(unit, mode="img2img", init_image=str(photo), strength=0.7, steps=5)
    )
    mask = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(mask).rectangle((16, 16, 47, 47), fill=255)
    inp = cn_engine.generate(
        request(unit, mode="inpaint", init_image=str(photo), mask=mask, strength=0.9, steps=5)
    )
    for result in (img, inp):
        assert result.images[0].size == (64, 64)
        assert np.asarray(result.images[0]).std() > 1
    # Outside the mask the picture is the original, bit for bit.
    a = np.asarray(inp.images[0])[:4]
    b = np.asarray(Image.open(photo).convert("RGB"))[:4]
    assert np.array_equal(a, b)


def test_canny_finds_the_edges_of_a_square() -> None:
    im = Image.new("RGB", (64, 64), "black")
    ImageDraw.Draw(im).rectangle((16, 16, 47, 47), fill="white")
    edges = np.asarray(canny(im, 100, 200).convert("L"))
    assert set(np.unique(edges)) <= {0, 255}
    assert edges[14:19, 30].max() == 255 and edges[30, 14:19].max() == 255  # on the border
    assert edges[30, 30] == 0 and edges[2, 2] == 0  # inside and outside are dark


def test_canny_thresholds_matter() -> None:
    im = Image.new("RGB", (64, 64), (100, 100, 100))
    ImageDraw.Draw(im).rectangle((16, 16, 47, 47), fill=(130, 130, 130))
    assert np.asarray(canny(im, 10, 20)).max() == 255
    assert np.asarray(canny(im, 400, 800)).max() == 0


def test_scribble_and_invert_make_white_lines_on_black() -> None:
    sc = np.asarray(scribble(drawing()).convert("L"))
    assert set(np.unique(sc)) == {0, 255}
    assert sc[32, 32] == 255  # the diagonal stroke
    assert sc[5, 5] == 0  # white paper becomes black
    inv = np.asarray(preprocess("invert", drawing(), (32, 32)).convert("L"))
    assert inv.shape == (32, 32) and inv[2, 2] == 0
    transparent = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    assert np.asarray(scribble(transparent)).max() == 0  # transparent counts as paper


@pytest.mark.parametrize(
    ("unit", "message"),
    [
        (ControlUnit("x", drawing(), weight=2.5), "weight must be between 0 and 2"),
        (ControlUnit("x", drawing(), guidance_start=0.6, guidance_end=0.5), "start < end"),
        (ControlUnit("x", None), "control image"),
        (ControlUnit("x", drawing(), preprocessor="hed"), "unknown preprocessor"),
        (ControlUnit("x", drawing(), control_mode="Loud"), "unknown control mode"),
        (ControlUnit("", drawing()), "no model"),
    ],
)
def test_units_are_validated(unit: ControlUnit, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        validate(request(unit))


def test_unit_image_paths_are_loaded(tmp_path: Path) -> None:
    path = tmp_path / "c.png"
    drawing().save(path)
    checked = validate(request(ControlUnit("x", str(path))))
    assert isinstance(checked.controlnets[0].image, Image.Image)


def test_wrong_family_and_missing_model_get_a_sentence(
    tiny_engine: Engine, tiny_components: dict
) -> None:
    net = tiny_controlnet(tiny_components, 3)
    net.register_to_config(addition_embed_type="text_time")
    with pytest.raises(ModelLoadError, match="another model family"):
        tiny_engine.add_controlnet("xl", net)
    with pytest.raises(ModelLoadError, match="not installed"):
        tiny_engine.generate(request(ControlUnit("no-such-controlnet", drawing())))


def test_controlnet_files_are_detected(tmp_path: Path, tiny_components: dict) -> None:
    from safetensors.torch import save_file

    from app.models.checkpoints import inspect_checkpoint

    a1111 = {
        "control_model.input_hint_block.0.weight": torch.zeros(16, 3, 3, 3),
        "control_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": torch.zeros(
            320, 768
        ),
        "control_model.zero_convs.0.0.weight": torch.zeros(320, 320, 1, 1),
    }
    save_file(a1111, tmp_path / "control_v11p_sd15_canny.safetensors")
    info = inspect_checkpoint(tmp_path / "control_v11p_sd15_canny.safetensors")
    assert (info.kind, info.family) == ("controlnet", "sd1")
    xl = {k.replace("attn2", "x.attn2"): v for k, v in a1111.items()}
    xl["control_model.input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight"] = torch.zeros(
        640, 2048
    )
    save_file(xl, tmp_path / "xl.safetensors")
    assert inspect_checkpoint(tmp_path / "xl.safetensors").family == "sdxl"
    net = tiny_controlnet(tiny_components, 4)
    save_file(dict(net.state_dict()), tmp_path / "diffusers_cn.safetensors")
    assert inspect_checkpoint(tmp_path / "diffusers_cn.safetensors").kind == "controlnet"


def test_single_file_controlnet_without_config_says_what_to_do(
    tiny_engine: Engine, tmp_path: Path, tiny_components: dict
) -> None:
    from safetensors.torch import save_file

    path = tmp_path / "my_cn.safetensors"
    save_file(dict(tiny_controlnet(tiny_components, 5).state_dict()), path)
    with pytest.raises(ModelLoadError, match="download 'controlnet-sd15-canny' once in Models"):
        tiny_engine.controlnet(str(path))


def test_catalog_has_the_controlnets() -> None:
    from app.models.catalog import load_catalog

    entries = {e.id: e for e in load_catalog() if e.kind == "controlnet"}
    repos = {e.repo_id for e in entries.values()}
    for name in ("canny", "openpose", "scribble", "lineart", "softedge", "inpaint"):
        assert f"lllyasviel/control_v11p_sd15_{name}" in repos
    assert {"lllyasviel/control_v11f1p_sd15_depth", "lllyasviel/control_v11f1e_sd15_tile"} <= repos
    assert {"diffusers/controlnet-canny-sdxl-1.0", "diffusers/controlnet-depth-sdxl-1.0"} <= repos
    assert entries["controlnet-sd15-canny"].base_family == "sd1"
    assert entries["controlnet-sdxl-depth"].base_family == "sdxl"
