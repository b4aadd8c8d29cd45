"""The one table from sampler names users know (A1111's) to diffusers scheduler configs.

Pure data, importable by the UI without torch: the engine resolves the class by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SamplerSpec:
    name: str  # the name shown, A1111's spelling
    scheduler: str  # diffusers class name
    options: dict[str, Any] = field(default_factory=dict)
    base: str = ""  # the sampler name without its schedule ("DPM++ 2M" for "DPM++ 2M Karras")
    schedule: str = ""  # "Karras" or "" (A1111's "Schedule type")


def _spec(name: str, scheduler: str, karras: bool = False, **options: Any) -> SamplerSpec:
    if karras:
        options["use_karras_sigmas"] = True
    base = name.removesuffix(" Karras")
    return SamplerSpec(name, scheduler, options, base, "Karras" if karras else "")


SAMPLERS: dict[str, SamplerSpec] = {
    s.name: s
    for s in (
        _spec("Euler a", "EulerAncestralDiscreteScheduler"),
        _spec("Euler", "EulerDiscreteScheduler"),
        _spec("DPM++ 2M", "DPMSolverMultistepScheduler", algorithm_type="dpmsolver++"),
        _spec("DPM++ 2M Karras", "DPMSolverMultistepScheduler", True, algorithm_type="dpmsolver++"),
        _spec("DPM++ 2M SDE", "DPMSolverMultistepScheduler", algorithm_type="sde-dpmsolver++"),
        _spec(
            "DPM++ 2M SDE Karras",
            "DPMSolverMultistepScheduler",
            True,
            algorithm_type="sde-dpmsolver++",
        ),
        _spec("DPM2", "KDPM2DiscreteScheduler"),
        _spec("DPM2 Karras", "KDPM2DiscreteScheduler", True),
        _spec("DPM2 a", "KDPM2AncestralDiscreteScheduler"),
        _spec("DPM2 a Karras", "KDPM2AncestralDiscreteScheduler", True),
        _spec("Heun", "HeunDiscreteScheduler"),
        _spec("LMS", "LMSDiscreteScheduler"),
        _spec("LMS Karras", "LMSDiscreteScheduler", True),
        _spec("DDIM", "DDIMScheduler"),
        _spec("PLMS", "PNDMScheduler", skip_prk_steps=True),
        _spec("UniPC", "UniPCMultistepScheduler"),
        _spec("LCM", "LCMScheduler"),
    )
}

SAMPLER_NAMES: tuple[str, ...] = tuple(SAMPLERS)
DEFAULT_SAMPLER = "DPM++ 2M Karras"


def resolve_sampler(name: str, schedule: str = "") -> SamplerSpec | None:
    """Find a sampler by either spelling: "DPM++ 2M Karras", or "DPM++ 2M" + schedule "Karras".

    Case-insensitive; "Automatic"/empty schedule means the sampler's own default.
    """
    wanted = name.strip().lower()
    sched = schedule.strip().lower()
    if sched and sched not in ("automatic", "uniform"):
        wanted = f"{wanted} {sched}"
    for spec in SAMPLERS.values():
        if spec.name.lower() == wanted:
            return spec
    return None
