"""detect_device(): CUDA, MPS and CPU decisions, by faking what torch reports."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch

from app.engine.device import LOW_VRAM_BYTES, detect_device


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch):
    def set_available(cuda: bool = False, mps: bool = False, vram: int = 24 * 1024**3) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
        monkeypatch.setattr(
            torch.cuda,
            "get_device_properties",
            lambda i: SimpleNamespace(name="NVIDIA Fake 4090", total_memory=vram),
        )
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
        monkeypatch.delenv("EASEL_DEVICE", raising=False)

    return set_available


def test_cuda_uses_fp16(fake) -> None:
    fake(cuda=True, mps=False)
    dev = detect_device()
    assert (dev.kind, dev.dtype, dev.cpu_offload) == ("cuda", "float16", False)
    assert dev.name == "NVIDIA Fake 4090" and dev.torch_dtype() is torch.float16


def test_small_gpu_offloads(fake) -> None:
    fake(cuda=True, vram=LOW_VRAM_BYTES - 1)
    dev = detect_device()
    assert dev.cpu_offload and dev.vae_tiling and "CPU offload" in dev.describe()


def test_mps_uses_fp16_and_attention_slicing(fake) -> None:
    fake(cuda=False, mps=True)
    dev = detect_device()
    assert (dev.kind, dev.dtype, dev.attention_slicing) == ("mps", "float16", True)


def test_cpu_uses_fp32(fake) -> None:
    fake()
    dev = detect_device()
    assert (dev.kind, dev.dtype) == ("cpu", "float32") and dev.torch_dtype() is torch.float32


def test_preference_and_env_override(fake, monkeypatch: pytest.MonkeyPatch) -> None:
    fake(cuda=True, mps=False)
    assert detect_device("cpu").kind == "cpu"
    monkeypatch.setenv("EASEL_DEVICE", "cpu")
    assert detect_device().kind == "cpu"


def test_mps_fallback_env_is_set_before_torch_loads() -> None:
    code = (
        "import sys, os, app.engine.device; assert 'torch' not in sys.modules; "
        "print(os.environ['PYTORCH_ENABLE_MPS_FALLBACK'])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={"PATH": ""}
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1"
