"""Where generation runs and how: the one place that decides device, dtype and memory policy.

Nothing is probed at import time; ``detect_device()`` asks torch when called.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Literal

DeviceKind = Literal["cuda", "mps", "cpu"]

# Below this much GPU memory an fp16 SD 1.5 pipeline (~3.5 GB peak) does not fit with room
# for the VAE decode; keep the weights in CPU RAM and move each model in when it runs.
LOW_VRAM_BYTES = 5 * 1024**3


@dataclass(frozen=True)
class DeviceInfo:
    kind: DeviceKind
    dtype: str  # "float16" | "float32"
    name: str
    total_memory: int = 0  # bytes; 0 when unknown (CPU, MPS share system RAM)
    attention_slicing: bool = False
    cpu_offload: bool = False
    vae_tiling: bool = False

    @property
    def torch_device(self) -> str:
        return self.kind

    def torch_dtype(self) -> Any:
        import torch

        return getattr(torch, self.dtype)

    def describe(self) -> str:
        extra = []
        if self.total_memory:
            extra.append(f"{self.total_memory / 1024**3:.0f} GB")
        extra.append(self.dtype.replace("float", "fp"))
        if self.cpu_offload:
            extra.append("CPU offload")
        if self.attention_slicing:
            extra.append("attention slicing")
        return f"{self.name} ({', '.join(extra)})"


def detect_device(prefer: str | None = None) -> DeviceInfo:
    """CUDA (fp16) if present, else Apple MPS (fp16, attention slicing), else CPU (fp32).

    ``prefer`` (or env ``EASEL_DEVICE``) forces "cpu", "cuda" or "mps" when available.
    """
    import torch

    prefer = (prefer or os.environ.get("EASEL_DEVICE", "")).lower() or None
    cuda_ok = torch.cuda.is_available()
    mps_backend = getattr(torch.backends, "mps", None)
    mps_ok = bool(mps_backend is not None and mps_backend.is_available())

    if prefer == "cpu" or (prefer is None and not cuda_ok and not mps_ok):
        return _cpu()
    if cuda_ok and prefer in (None, "cuda"):
        props = torch.cuda.get_device_properties(0)
        total = int(getattr(props, "total_memory", 0))
        low = 0 < total < LOW_VRAM_BYTES
        return DeviceInfo(
            kind="cuda",
            dtype="float16",
            name=str(getattr(props, "name", "CUDA GPU")),
            total_memory=total,
            cpu_offload=low,
            vae_tiling=low,
        )
    if mps_ok and prefer in (None, "mps"):
        # Unified memory: slicing attention keeps the peak down on 8-16 GB Macs at a small cost.
        return DeviceInfo(
            kind="mps", dtype="float16", name="Apple GPU (MPS)", attention_slicing=True
        )
    return _cpu()


def _cpu() -> DeviceInfo:
    import platform

    # fp16 matmuls are slow or missing on most CPUs; fp32 is both faster and exact here.
    return DeviceInfo(kind="cpu", dtype="float32", name=platform.processor() or "CPU")
