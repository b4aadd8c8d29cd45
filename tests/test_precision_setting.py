"""Settings' precision override: the engine casts (or reloads) its weights, the chip says so."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from app.engine.device import DeviceInfo
from app.engine.engine import Engine
from app.ui.settings import UiSettings, load_settings, save_settings
from tests.lora_helpers import engine_on, request


def test_bf16_override_casts_the_loaded_model_and_stays_close_to_fp32() -> None:
    engine = engine_on()
    fp32 = engine.generate(request("a kite", seed=4))
    engine.set_precision("bf16")
    assert engine.device.dtype == "bfloat16" and engine.device.chip().startswith("CPU · bf16")
    assert engine._pipes["base"].unet.dtype == torch.bfloat16
    bf16 = engine.generate(request("a kite", seed=4))
    diff = np.abs(np.asarray(fp32.images[0], int) - np.asarray(bf16.images[0], int))
    assert diff.mean() < 6 and np.asarray(bf16.images[0]).max() > 0  # close, never black


def test_back_to_fp32_reloads_from_disk(tiny_model_dir: Path) -> None:
    engine = Engine(DeviceInfo(kind="cpu", dtype="float32", name="CPU"))
    engine.load(tiny_model_dir)
    before = engine.generate(request("a kite", seed=4))
    engine.set_precision("bf16")
    engine.set_precision("fp32")
    assert engine._pipes["base"].unet.dtype == torch.float32
    after = engine.generate(request("a kite", seed=4))
    assert np.array_equal(np.asarray(before.images[0]), np.asarray(after.images[0]))


def test_precision_setting_persists() -> None:
    save_settings(UiSettings(precision="bf16"))
    assert load_settings().precision == "bf16"
    save_settings(UiSettings(precision="fp64"))
    assert load_settings().precision == "auto"
