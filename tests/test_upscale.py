"""ESRGAN-family upscaling: a tiny random RRDBNet saved as .pth and .safetensors (both key
layouts), tiled equals untiled, progress and cancel, Lanczos."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from app.engine.upscale import RRDBNet, load_esrgan, upscale, upscale_tiled
from app.errors import Cancelled, ModelLoadError


def tiny_net(scale: int = 4) -> RRDBNet:
    torch.manual_seed(0)
    net = RRDBNet(feat=8, grow=4, blocks=1, scale=scale)
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0, 0.1)
    return net.eval()


def picture(w: int = 40, h: int = 24) -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8))


def test_tiled_equals_untiled_and_reports_progress() -> None:
    net = tiny_net()
    whole = upscale_tiled(net, picture(), tile=1000)
    steps: list[tuple[int, int]] = []
    tiled = upscale_tiled(
        net, picture(), tile=16, overlap=24, on_progress=lambda a, b: steps.append((a, b))
    )
    assert whole.size == (160, 96)
    diff = np.abs(np.asarray(whole, np.int16) - np.asarray(tiled, np.int16)).max()
    assert diff <= 1
    assert steps[-1] == (6, 6) and len(steps) == 6


def test_cancel_stops_between_tiles() -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        upscale_tiled(tiny_net(), picture(), tile=16, cancel=cancel)


def test_pth_and_safetensors_and_old_layout_load_the_same(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    net = tiny_net()
    sd = net.state_dict()
    torch.save({"params_ema": sd}, tmp_path / "x4.pth")
    save_file(dict(sd), tmp_path / "x4.safetensors")
    old = {}
    names = {
        "conv_first": "model.0",
        "conv_up1": "model.3",
        "conv_up2": "model.6",
        "conv_hr": "model.8",
        "conv_last": "model.10",
        "conv_body": "model.1.sub.1",
    }
    for k, v in sd.items():
        head, leaf = k.rsplit(".", 1)
        if head in names:
            old[f"{names[head]}.{leaf}"] = v
        else:
            _, b, rdb, conv = head.split(".")
            old[f"model.1.sub.{b}.RDB{rdb[-1]}.{conv}.0.{leaf}"] = v
    save_file(old, tmp_path / "old.safetensors")
    ref = upscale_tiled(net, picture())
    for name in ("x4.pth", "x4.safetensors", "old.safetensors"):
        got = upscale_tiled(load_esrgan(tmp_path / name), picture())
        assert np.array_equal(np.asarray(got), np.asarray(ref)), name


def test_not_an_upscaler_gets_a_sentence(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    save_file({"foo": torch.zeros(2)}, tmp_path / "foo.safetensors")
    with pytest.raises(ModelLoadError, match="not an ESRGAN-family upscaler"):
        load_esrgan(tmp_path / "foo.safetensors")


def test_scale_2_from_a_4x_model_and_lanczos() -> None:
    im = picture()
    assert upscale(im, "Lanczos", 2).size == (80, 48)
    assert upscale(im, "x", 2, load=lambda _: tiny_net()).size == (80, 48)
    assert upscale_tiled(tiny_net(2), im).size == (80, 48)
