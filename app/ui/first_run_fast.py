"""First run on a computer without a GPU: the welcome banner recommends the fast path.

Seconds per picture are estimates, from bench/cpu_image.py at 512x512 on this project's 2-core
Xeon (AVX-512 BF16 and AMX; 2026-12-03, quiet machine): SD-Turbo 1 step + TAESD 1.9 s through
Easel in bf16, 4.2 s in fp32 (bare diffusers); SD 1.5 + LCM-LoRA 4 steps + TAESD 4.1 s in bf16,
14.7 s in fp32; Quality (25 steps + full VAE) 44.2 s in bf16, 198.2 s in fp32. Scaled by the
physical cores torch runs on (the work splits across cores nearly evenly); a CPU with bf16 but
no AMX will be slower, so the banner says "estimated".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtWidgets import QLabel

from app.models import catalog

MEASURED_CORES = 2
TURBO_SECONDS = {"bf16": 1.9, "fp32": 4.2}
LCM_SECONDS = {"bf16": 4.1, "fp32": 14.7}
QUALITY_SECONDS = {"bf16": 44.2, "fp32": 198.2}  # 25 steps DPM++ 2M Karras, CFG 7, full VAE


@dataclass(frozen=True)
class FastPathAdvice:
    text: str
    model_id: str  # what the banner's button downloads
    button: str


def _gb(n: int) -> str:
    return f"{n / 1e9:.1f} GB"


def _seconds(s: float) -> str:
    return f"about {s:.0f} s" if s >= 10 else f"about {s:.1f} s"


def _size(entry_id: str) -> int:
    try:
        return catalog.get(entry_id).size_bytes
    except (KeyError, ValueError, OSError):
        return 0


def fast_path_advice(chip: str) -> FastPathAdvice | None:
    """The advice for the engine's device chip ("CPU · bf16 · 2 threads"); None on a GPU."""
    parts = [p.strip() for p in chip.split("·")]
    if not parts or parts[0] != "CPU":
        return None
    precision = "bf16" if "bf16" in parts else "fp32"
    threads = next((int(m.group(1)) for p in parts if (m := re.match(r"(\d+) thread", p))), 0)
    scale = MEASURED_CORES / threads if threads else 1.0
    turbo = TURBO_SECONDS[precision] * scale
    lcm = LCM_SECONDS[precision] * scale
    quality = QUALITY_SECONDS[precision] * scale
    lcm_size = _size("sd15") + _size("lcm-lora-sd15") + _size("taesd")
    text = (
        "<b>Welcome to Easel.</b> This computer has no NVIDIA GPU, so Easel recommends the "
        f"fast path: <b>SD-Turbo</b> ({_gb(_size('sd-turbo'))}), {_seconds(turbo)} per "
        f"512x512 picture here, estimated; or SD 1.5 + LCM-LoRA + TAESD ({_gb(lcm_size)}), "
        f"{_seconds(lcm)} per picture, estimated (Quality, 25 full steps: {_seconds(quality)}). The "
        "download sets Speed to Fast; then everything works offline."
    )
    return FastPathAdvice(text, "sd-turbo", "Download SD-Turbo")


def advise_fast_path(banner: object, chip: str, choose_fast: Callable[[str], None]) -> None:
    """Point the first-run banner at the fast path when the engine runs on the CPU."""
    advice = fast_path_advice(chip)
    if advice is None:
        return
    label = banner.findChild(QLabel)  # type: ignore[attr-defined]
    if label is not None:
        label.setText(advice.text)
    banner.model_id = advice.model_id  # type: ignore[attr-defined]
    banner.download_button.setText(advice.button)  # type: ignore[attr-defined]
    if not getattr(banner, "_fast_hooked", False):
        banner._fast_hooked = True  # type: ignore[attr-defined]
        banner.downloadRequested.connect(lambda: choose_fast("fast"))  # type: ignore[attr-defined]
