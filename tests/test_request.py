"""validate(): every bad input is a typed error with an exact, useful sentence."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from app.errors import InvalidRequest
from app.request import GenerationRequest, validate


def check(req: GenerationRequest, message: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        validate(req)
    assert str(info.value) == message


def test_size_not_multiple_of_8() -> None:
    check(
        GenerationRequest("x", width=513, height=512),
        "Size 513x512 is not a multiple of 8; try 512x512.",
    )


def test_size_out_of_range() -> None:
    check(
        GenerationRequest("x", width=32, height=512),
        "Size 32x512 is out of range; width and height must be between 64 and 4096 pixels.",
    )


@pytest.mark.parametrize("steps", [0, 10000, -3])
def test_steps_out_of_range(steps: int) -> None:
    check(GenerationRequest("x", steps=steps), f"Steps must be between 1 and 1000; got {steps}.")


@pytest.mark.parametrize("strength", [0.0, -0.1, 1.5])
def test_strength_outside_0_1(strength: float, tmp_path: Path) -> None:
    img = tmp_path / "i.png"
    Image.new("RGB", (64, 64)).save(img)
    check(
        GenerationRequest("x", mode="img2img", init_image=str(img), strength=strength),
        f"Strength must be greater than 0 and at most 1; got {strength:g}.",
    )


def test_unknown_sampler() -> None:
    with pytest.raises(
        InvalidRequest, match=r"^Unknown sampler 'Euler b'; choose one of: Euler a, Euler, "
    ):
        validate(GenerationRequest("x", sampler="Euler b"))


def test_missing_image_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.png"
    check(
        GenerationRequest("x", mode="img2img", init_image=str(missing)),
        f"The init image {str(missing)!r} does not exist; check the path.",
    )


def test_no_init_image_for_img2img() -> None:
    check(
        GenerationRequest("x", mode="img2img"), "The init image is missing; choose an image file."
    )


def test_unreadable_image_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nthis is not really a png")
    with pytest.raises(
        InvalidRequest, match=r"could not be read as an image .*; use a PNG, JPEG or WebP file\.$"
    ):
        validate(GenerationRequest("x", mode="img2img", init_image=str(bad)))


def test_mask_of_another_size(tmp_path: Path) -> None:
    img, mask = tmp_path / "i.png", tmp_path / "m.png"
    Image.new("RGB", (64, 64)).save(img)
    Image.new("L", (64, 72), 255).save(mask)
    check(
        GenerationRequest(
            "x", mode="inpaint", init_image=str(img), mask=str(mask), width=64, height=64
        ),
        "The mask is 64x72 but the image is 64x64; they must be the same size.",
    )


def test_empty_mask(tmp_path: Path) -> None:
    img, mask = tmp_path / "i.png", tmp_path / "m.png"
    Image.new("RGB", (64, 64)).save(img)
    Image.new("L", (64, 64), 0).save(mask)
    check(
        GenerationRequest(
            "x", mode="inpaint", init_image=str(img), mask=str(mask), width=64, height=64
        ),
        "The mask is empty; paint the area to repaint in white.",
    )


def test_outpaint_size_checked_after_extension(tmp_path: Path) -> None:
    img = tmp_path / "i.png"
    Image.new("RGB", (64, 64)).save(img)
    check(
        GenerationRequest("x", mode="outpaint", init_image=str(img), outpaint=(0, 0, 10, 0)),
        "The outpainted size 74x64 is not a multiple of 8; try 72x64.",
    )
    check(
        GenerationRequest("x", mode="outpaint", init_image=str(img)),
        "Outpaint needs at least one side to extend by some pixels.",
    )


def test_valid_request_loads_images_once(tmp_path: Path) -> None:
    img = tmp_path / "i.png"
    Image.new("RGB", (64, 64), (10, 20, 30)).save(img)
    out = validate(GenerationRequest("x", mode="img2img", init_image=str(img), width=64, height=64))
    assert isinstance(out.init_image, Image.Image) and out.init_image.getpixel((0, 0)) == (
        10,
        20,
        30,
    )
    assert validate(out) == out  # idempotent


def test_cfg_and_batch_bounds() -> None:
    check(GenerationRequest("x", cfg_scale=31), "CFG scale must be between 0 and 30; got 31.")
    check(GenerationRequest("x", batch_size=0), "Batch size must be between 1 and 64; got 0.")
    check(GenerationRequest("x", seed=-2), "Seed must be -1 (random) or between 0 and 4294967295.")
