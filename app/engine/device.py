"""Where generation runs and how: the one place that decides device, dtype and memory policy.

Nothing is probed at import time; ``detect_device()`` asks torch when called.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, replace
from typing import Any, Literal

DeviceKind = Literal["cuda", "mps", "cpu"]

# Below this much GPU memory an fp16 SD 1.5 pipeline (~3.5 GB peak) does not fit with room
# for the VAE decode; keep the weights in CPU RAM and move each model in when it runs.
LOW_VRAM_BYTES = 5 * 1024**3


@dataclass(frozen=True)
class DeviceInfo:
    kind: DeviceKind
    dtype: str  # "float16" | "bfloat16" | "float32"
    name: str
    total_memory: int = 0  # bytes; 0 when unknown (CPU, MPS share system RAM)
    attention_slicing: bool = False
    cpu_offload: bool = False
    vae_tiling: bool = False
    threads: int = 0  # CPU threads torch runs on; 0 when not set (GPUs)
    channels_last: bool = False

    def chip(self) -> str:
        """The window header's text: "CPU · bf16 · 2 threads", "NVIDIA RTX 4090 · fp16"."""
        label = {"cpu": "CPU", "mps": "Apple GPU"}.get(self.kind, self.name)
        parts = [label, self.dtype.replace("bfloat", "bf").replace("float", "fp")]
        if self.threads:
            parts.append(f"{self.threads} thread{'s' if self.threads != 1 else ''}")
        if self.cpu_offload:
            parts.append("CPU offload")
        return " · ".join(parts)

    @property
    def torch_device(self) -> str:
        return self.kind

    def torch_dtype(self) -> Any:
        import torch

        return getattr(torch, self.dtype)

    def place(self, module: Any) -> Any:
        """Move a network (UNet, VAE, ControlNet, TAESD) here, in channels-last memory when
        the policy says so: oneDNN's convolutions run NHWC natively, so on this project's CPU
        channels-last made the SD 1.5 VAE decode 2.2x and a UNet step 1.1x faster (bf16, 512 px,
        bench/cpu_backends.py); weights stay bit-identical, only their strides change."""
        module = module.to(self.torch_device)
        if self.channels_last:
            import torch

            module = module.to(memory_format=torch.channels_last)
        return module

    def describe(self) -> str:
        extra = []
        if self.total_memory:
            extra.append(f"{self.total_memory / 1024**3:.0f} GB")
        extra.append(self.dtype.replace("bfloat", "bf").replace("float", "fp"))
        if self.threads:
            extra.append(f"{self.threads} threads")
        if self.cpu_offload:
            extra.append("CPU offload")
        if self.attention_slicing:
            extra.append("attention slicing")
        return f"{self.name} ({', '.join(extra)})"


PRECISIONS = ("auto", "fp32", "bf16", "fp16")
_DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


def detect_device(prefer: str | None = None, precision: str | None = None) -> DeviceInfo:
    """The one device policy.

    CUDA: fp16, or bf16 on Ampere and newer (compute capability >= 8.0: same speed, and no
    fp16 NaNs in the VAE); small cards offload. MPS: fp16, attention slicing only when the
    Mac has little memory. CPU: bf16 weights when the CPU has native bf16 (AVX-512 BF16 or
    AMX: measured 1.9x faster per step than fp32 on this project's machine), fp32 elsewhere
    (emulated bf16 and fp16 are far slower); torch runs one thread per physical core.

    ``prefer`` (or env ``EASEL_DEVICE``) forces "cpu", "cuda" or "mps" when available;
    ``precision`` (or env ``EASEL_PRECISION``: auto/fp32/bf16/fp16) forces the dtype.
    """
    import torch

    info = _detect(torch, prefer)
    wanted = (precision or os.environ.get("EASEL_PRECISION", "") or "auto").lower()
    if wanted not in PRECISIONS:
        raise ValueError(f"Unknown precision {wanted!r}; use one of {', '.join(PRECISIONS)}.")
    if wanted != "auto":
        info = replace(info, dtype=_DTYPES[wanted])
    if info.kind == "cpu" and info.threads:
        torch.set_num_threads(info.threads)
    return info


def _detect(torch: Any, prefer: str | None) -> DeviceInfo:
    prefer = (prefer or os.environ.get("EASEL_DEVICE", "")).lower() or None
    cuda_ok = torch.cuda.is_available()
    mps_backend = getattr(torch.backends, "mps", None)
    mps_ok = bool(mps_backend is not None and mps_backend.is_available())

    if prefer == "cpu" or (prefer is None and not cuda_ok and not mps_ok):
        return _cpu(torch)
    if cuda_ok and prefer in (None, "cuda"):
        props = torch.cuda.get_device_properties(0)
        total = int(getattr(props, "total_memory", 0))
        low = 0 < total < LOW_VRAM_BYTES
        major = int(getattr(props, "major", 0) or 0)
        return DeviceInfo(
            kind="cuda",
            dtype="bfloat16" if major >= 8 else "float16",
            name=str(getattr(props, "name", "CUDA GPU")),
            total_memory=total,
            cpu_offload=low,
            vae_tiling=low,
        )
    if mps_ok and prefer in (None, "mps"):
        # Unified memory: slicing attention keeps the peak down on small Macs, at a cost of
        # ~10% per step that bigger Macs need not pay.
        ram = system_memory()
        return DeviceInfo(
            kind="mps",
            dtype="float16",
            name="Apple GPU (MPS)",
            total_memory=ram,
            attention_slicing=0 < ram < MPS_SLICING_BELOW,
        )
    return _cpu(torch)


MPS_SLICING_BELOW = 16 * 1024**3


def _cpu(torch: Any) -> DeviceInfo:
    import platform

    bf16 = cpu_has_native_bf16(torch)
    return DeviceInfo(
        kind="cpu",
        dtype="bfloat16" if bf16 else "float32",
        name=platform.processor() or "CPU",
        threads=physical_cores(),
        channels_last=True,
    )


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (Linux); empty where there is none."""
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
                cpuinfo = f.read()
        except OSError:
            return set()
    for line in cpuinfo.splitlines():
        if line.startswith(("flags", "Features")) and ":" in line:
            return set(line.split(":", 1)[1].split())
    return set()


def cpu_has_native_bf16(torch: Any, cpuinfo: str | None = None) -> bool:
    """True when the CPU computes bf16 in hardware (AVX-512 BF16 or AMX), by its flags.

    Linux reads /proc/cpuinfo; elsewhere torch's oneDNN says whether it has bf16 kernels
    for this CPU (``torch.backends.mkldnn.is_bf16_supported``, which checks the same CPUID
    bits). Apple Silicon runs on MPS, and other CPUs emulate bf16 slower than fp32.
    """
    flags = cpu_flags(cpuinfo)
    if flags:
        return bool(flags & {"avx512_bf16", "amx_bf16"})
    if sys.platform.startswith("linux") and cpuinfo is None:
        return False
    mkldnn = getattr(torch.backends, "mkldnn", None)
    check = getattr(mkldnn, "is_bf16_supported", None)
    try:
        return bool(check()) if callable(check) else False
    except RuntimeError:
        return False


def physical_cores(cpuinfo: str | None = None) -> int:
    """Physical cores (SMT siblings share one core's units): distinct (physical id, core id)
    pairs in /proc/cpuinfo; ``os.cpu_count()`` where that is not available."""
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
                cpuinfo = f.read()
        except OSError:
            cpuinfo = ""
    cores: set[tuple[str, str]] = set()
    phys = "0"
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "physical id":
            phys = value.strip()
        elif key == "core id":
            cores.add((phys, value.strip()))
    return len(cores) or os.cpu_count() or 1


def system_memory() -> int:
    """Total RAM in bytes (0 when unknown), or the process's cgroup limit when smaller."""
    try:
        ram = int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        ram = 0
    from app.engine.cgroup import cgroup_memory

    limited = cgroup_memory()  # in a container the cgroup's limit is the RAM there is
    return min(ram, limited.limit) if limited is not None and ram else ram
