"""detect_device(): CUDA, MPS and CPU decisions, by faking what torch reports."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import numpy as np
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
        monkeypatch.delenv("EASEL_PRECISION", raising=False)
        import app.engine.device as device

        # A CPU without native bf16 and an 8 GB machine unless a test says otherwise.
        monkeypatch.setattr(device, "cpu_has_native_bf16", lambda torch, cpuinfo=None: False)
        monkeypatch.setattr(device, "system_memory", lambda: 8 * 1024**3)

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


def test_mps_uses_fp16_and_attention_slicing(fake, monkeypatch: pytest.MonkeyPatch) -> None:
    fake(cuda=False, mps=True)
    dev = detect_device()
    assert (dev.kind, dev.dtype, dev.attention_slicing) == ("mps", "float16", True)
    import app.engine.device as device

    monkeypatch.setattr(device, "system_memory", lambda: 32 * 1024**3)
    assert not detect_device().attention_slicing  # memory is not short: no slicing


def test_cpu_without_bf16_uses_fp32(fake) -> None:
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


ZEN4 = """processor\t: 0
flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni
physical id\t: 0
core id\t\t: 0
processor\t: 1
flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni
physical id\t: 0
core id\t\t: 0
processor\t: 2
physical id\t: 0
core id\t\t: 1
processor\t: 3
physical id\t: 0
core id\t\t: 1
"""
SKYLAKE = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f\nphysical id\t: 0\ncore id\t\t: 0\n"


def test_cpu_flags_decide_bf16_and_cores_not_threads() -> None:
    from app.engine.device import cpu_has_native_bf16, physical_cores

    assert cpu_has_native_bf16(torch, ZEN4)
    assert not cpu_has_native_bf16(torch, SKYLAKE)
    assert cpu_has_native_bf16(torch, SKYLAKE.replace("avx512f", "amx_bf16"))
    assert physical_cores(ZEN4) == 2  # four logical CPUs, two cores
    assert physical_cores("") >= 1  # no cpuinfo: os.cpu_count()


def test_cpu_policy_bf16_threads_and_chip(fake, monkeypatch: pytest.MonkeyPatch) -> None:
    import app.engine.device as device

    fake()
    monkeypatch.delenv("EASEL_PRECISION", raising=False)
    monkeypatch.setattr(device, "cpu_has_native_bf16", lambda torch, cpuinfo=None: True)
    monkeypatch.setattr(device, "physical_cores", lambda cpuinfo=None: 2)
    before = torch.get_num_threads()
    try:
        dev = detect_device()
        assert (dev.dtype, dev.threads) == ("bfloat16", 2) and torch.get_num_threads() == 2
        assert dev.chip() == "CPU · bf16 · 2 threads"
        assert detect_device(precision="fp32").dtype == "float32"
        monkeypatch.setenv("EASEL_PRECISION", "fp32")
        assert detect_device().chip() == "CPU · fp32 · 2 threads"
        monkeypatch.setattr(device, "cpu_has_native_bf16", lambda torch, cpuinfo=None: False)
        monkeypatch.delenv("EASEL_PRECISION")
        assert detect_device().dtype == "float32"
        with pytest.raises(ValueError, match="precision"):
            detect_device(precision="int4")
    finally:
        torch.set_num_threads(before)


def test_ampere_uses_bf16(fake, monkeypatch: pytest.MonkeyPatch) -> None:
    fake(cuda=True)
    props = SimpleNamespace(name="NVIDIA Fake A100", total_memory=40 * 1024**3, major=8)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i: props)
    dev = detect_device()
    assert dev.dtype == "bfloat16" and dev.chip() == "NVIDIA Fake A100 · bf16"


def test_bf16_picture_is_close_to_fp32_and_never_black(tiny_components) -> None:
    from diffusers import StableDiffusionPipeline

    from app.engine.device import DeviceInfo
    from app.engine.engine import Engine
    from app.request import GenerationRequest

    req = GenerationRequest("a red barn", steps=3, seed=7, width=64, height=64, sampler="Euler")
    out = {}
    for dtype in ("float32", "bfloat16"):
        pipe = StableDiffusionPipeline(**tiny_components, requires_safety_checker=False)
        pipe = pipe.to(torch.float32) if dtype == "float32" else _copy_to_bf16(pipe)
        engine = Engine(DeviceInfo(kind="cpu", dtype=dtype, name="CPU"))
        engine.load_pipeline(pipe, "tiny-sd")
        result = engine.generate(req)
        out[dtype] = np.asarray(result.images[0], dtype=np.float32)
    diff = np.abs(out["float32"] - out["bfloat16"])
    # Stated tolerance: mean within 3/255 and no pixel off by more than 40/255 on the tiny
    # random model (bf16 keeps 8 bits of mantissa; SD 1.5's real weights gave < 2/255 mean).
    assert diff.mean() <= 3.0, diff.mean()
    assert diff.max() <= 40.0, diff.max()
    assert out["bfloat16"].max() > 10  # never black


def _copy_to_bf16(pipe):
    import copy

    return copy.deepcopy(pipe).to(torch.bfloat16)


def test_cpu_policy_is_channels_last_and_gpus_are_not(fake) -> None:
    fake()
    assert detect_device().channels_last  # oneDNN convolutions run NHWC natively
    fake(cuda=True)
    assert not detect_device().channels_last  # not measured on a GPU: left as torch has it
    fake(mps=True)
    assert not detect_device().channels_last


def test_channels_last_picture_equals_diffusers(tiny_components) -> None:
    """The engine's networks in channels-last memory (the CPU policy) give the picture
    diffusers' own pipeline gives from the same weights in torch's default layout."""
    import copy

    from diffusers import EulerDiscreteScheduler, StableDiffusionPipeline

    from app.engine.device import DeviceInfo
    from app.engine.engine import Engine
    from app.engine.taesd import build_tiny_taesd
    from app.request import GenerationRequest

    parts = copy.deepcopy(tiny_components)  # the session's components keep their layout
    engine = Engine(DeviceInfo(kind="cpu", dtype="float32", name="CPU", channels_last=True))
    engine.load_pipeline(StableDiffusionPipeline(**parts, requires_safety_checker=False), "t")
    engine.set_preview_decoder(build_tiny_taesd())
    conv = engine.pipeline("text").unet.conv_in.weight
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    taesd_conv = engine.preview_decoder().vae.decoder.layers[0].weight
    assert taesd_conv.is_contiguous(memory_format=torch.channels_last)
    req = GenerationRequest("a red barn", steps=3, seed=7, width=64, height=64, sampler="Euler")
    ours = np.asarray(engine.generate(req).images[0], dtype=np.int16)

    ref = StableDiffusionPipeline(**tiny_components, requires_safety_checker=False)
    ref.scheduler = EulerDiscreteScheduler.from_config(ref.scheduler.config)
    ref.set_progress_bar_config(disable=True)
    image = ref(
        "a red barn",
        num_inference_steps=3,
        guidance_scale=7.0,
        width=64,
        height=64,
        generator=torch.Generator("cpu").manual_seed(7),
    ).images[0]
    assert np.abs(ours - np.asarray(image, dtype=np.int16)).max() <= 1
