"""The generate command's ControlNet options: parsing, and a real run on a ControlNet folder."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from app.cli import add_generate_parser, build_request
from app.cli_control import parse_control
from tests.test_cli import run
from tests.test_controlnet import tiny_controlnet


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser()
    return add_generate_parser(top.add_subparsers())


def test_control_syntax() -> None:
    u = parse_control("cn:C:\\pics\\edge.png:0.5:0.1:0.9")
    assert (u.model, u.image, u.weight, u.guidance_start, u.guidance_end) == (
        "cn",
        "C:\\pics\\edge.png",
        0.5,
        0.1,
        0.9,
    )
    assert parse_control("cn:e.png").weight == 1.0
    assert parse_control("cn:e.png:1.5").weight == 1.5


def test_pre_and_mode_apply_to_the_preceding_unit(tmp_path: Path) -> None:
    img = tmp_path / "d.png"
    Image.new("RGB", (64, 64), "white").save(img)
    args = parser().parse_args(
        [
            "--prompt",
            "x",
            "--control",
            f"a:{img}",
            "--control-pre",
            "canny",
            "--control",
            f"b:{img}:0.7:0:0.5",
            "--control-mode",
            "ControlNet is more important",
        ]
    )
    req = build_request(args)
    a, b = req.controlnets
    assert (a.model, a.preprocessor, a.control_mode) == ("a", "canny", "Balanced")
    assert (b.model, b.preprocessor, b.weight, b.guidance_end) == ("b", "none", 0.7, 0.5)
    assert b.control_mode == "ControlNet is more important"


def test_control_pre_without_a_unit_is_an_error() -> None:
    with pytest.raises(SystemExit):
        parser().parse_args(["--prompt", "x", "--control-pre", "canny"])


def test_generate_with_a_controlnet_folder(
    tiny_model_dir: Path, tiny_components: dict, tmp_path: Path, easel_home: Path
) -> None:
    cn_dir = tmp_path / "my-controlnet"
    tiny_controlnet(tiny_components, 1).save_pretrained(cn_dir)
    sketch = tmp_path / "sketch.png"
    im = Image.new("RGB", (64, 64), "white")
    ImageDraw.Draw(im).ellipse((10, 10, 54, 54), outline="black", width=3)
    im.save(sketch)
    out = tmp_path / "out"
    res = run(
        "generate",
        "--model",
        str(tiny_model_dir),
        "--prompt",
        "a ring",
        "--steps",
        "2",
        "--size",
        "64x64",
        "--seed",
        "3",
        "--control",
        f"{cn_dir}:{sketch}:0.9",
        "--control-pre",
        "scribble",
        "--out",
        str(out),
        home=easel_home,
    )
    assert res.returncode == 0, res.stderr
    from app.library.pngio import read_parameters

    text = read_parameters(Path(res.stdout.strip().splitlines()[-1]))
    assert 'ControlNet 0: "Module: scribble, Model: my-controlnet, Weight: 0.9' in text
    bad = run(
        "generate",
        "--model",
        str(tiny_model_dir),
        "--prompt",
        "a",
        "--steps",
        "1",
        "--size",
        "64x64",
        "--control",
        f"nothing-here:{sketch}",
        "--out",
        str(out),
        home=easel_home,
    )
    assert bad.returncode == 2 and "is not installed" in bad.stderr  # an unknown model: bad input
