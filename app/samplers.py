"""The one table from sampler and schedule names users know (A1111's) to diffusers configs.

Pure data, importable by the UI without torch: the engine resolves the class by name.

The webui names a sampler ("DPM++ 2M") and, separately, a "Schedule type" ("Karras").
"Automatic" means what the webui means: the schedule that sampler uses by default there
(modules/sd_samplers_kdiffusion.py: DPM++ 2M is Karras, DPM++ 2M SDE is Exponential, Euler
is Uniform). Older files put the schedule in the sampler's name ("DPM++ 2M Karras"); those
names are still understood. A webui sampler diffusers cannot run is never swapped silently:
`substitute()` names what Easel runs instead, and restoring a picture says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

AUTOMATIC = "Automatic"


@dataclass(frozen=True)
class SamplerSpec:
    name: str  # the name shown, A1111's spelling
    scheduler: str  # diffusers class name (or one of Easel's in app/engine/schedulers.py)
    options: dict[str, Any] = field(default_factory=dict)
    base: str = ""  # the sampler name without its schedule ("DPM++ 2M" for "DPM++ 2M Karras")
    schedule: str = ""  # the schedule that runs ("Karras"); "" only for unresolved legacy use


@dataclass(frozen=True)
class _Base:
    name: str
    scheduler: str
    options: dict[str, Any]
    default: str  # the webui's "Automatic" for this sampler
    schedules: tuple[str, ...]  # the schedules diffusers can express for it


# Schedule label -> scheduler options. "Uniform" and "Normal" are the webui's evenly spaced
# timesteps from 999 down to 0 (diffusers "linspace"); "SGM Uniform" and "Simple" are evenly
# spaced without t=0 (diffusers "trailing"). "linspace" with the sigma schedules too: then the
# first noise is sigma_max, as in k-diffusion, not sqrt(sigma_max^2 + 1).
_SIGMA_SCHEDULES: dict[str, dict[str, Any]] = {
    "Uniform": {"timestep_spacing": "linspace"},
    "Karras": {"use_karras_sigmas": True, "timestep_spacing": "linspace"},
    "Exponential": {"use_exponential_sigmas": True, "timestep_spacing": "linspace"},
    "SGM Uniform": {"timestep_spacing": "trailing"},
    "Simple": {"timestep_spacing": "trailing"},
    "Normal": {"timestep_spacing": "linspace"},
    "Beta": {"use_beta_sigmas": True, "timestep_spacing": "linspace"},
}
SCHEDULES: tuple[str, ...] = (AUTOMATIC, *_SIGMA_SCHEDULES)
_ALL = tuple(_SIGMA_SCHEDULES)
# Timestep samplers (DDIM, PLMS): the webui ignores the schedule for them; they run on the
# model's own timestep spacing, written as "Uniform".
_OWN = ("Uniform",)

# The webui's own schedules that diffusers cannot express, and the closest one Easel runs.
_SCHEDULE_SUBSTITUTES = {
    "polyexponential": "Exponential",
    "kl optimal": "Karras",
    "align your steps": "Karras",
    "karras exponential": "Karras",
    "ddim": "SGM Uniform",
}

_BASES: tuple[_Base, ...] = (
    _Base("Euler a", "EulerAncestralDiscreteScheduler", {}, "Uniform", _ALL),
    _Base("Euler", "EulerDiscreteScheduler", {}, "Uniform", _ALL),
    _Base("DPM++ 2M", "DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++"}, "Karras", _ALL),
    _Base("DPM++ SDE", "DPMSolverSDEScheduler", {}, "Karras", _ALL),
    _Base("DPM++ 2M SDE", "DPMSolverMultistepScheduler", {"algorithm_type": "sde-dpmsolver++"}, "Exponential", _ALL),
    _Base(
        "DPM++ 2M SDE Heun",
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "sde-dpmsolver++", "solver_type": "heun"},
        "Exponential",
        _ALL,
    ),
    _Base(
        "DPM++ 3M SDE",
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "sde-dpmsolver++", "solver_order": 3},
        "Exponential",
        _ALL,
    ),
    _Base("DPM2", "KDPM2DiscreteScheduler", {}, "Karras", _ALL),
    _Base("DPM2 a", "KDPM2AncestralDiscreteScheduler", {}, "Karras", _ALL),
    _Base("Heun", "HeunDiscreteScheduler", {}, "Uniform", _ALL),
    _Base("LMS", "LMSDiscreteScheduler", {}, "Uniform", _ALL),
    # The webui's CompVis DDIM: no x0 clipping, the last step's alpha from t=0 (not 1)
    _Base("DDIM", "DDIMScheduler", {"clip_sample": False, "set_alpha_to_one": False}, "Uniform", _OWN),
    _Base("PLMS", "PNDMScheduler", {"skip_prk_steps": True}, "Uniform", _OWN),
    _Base("UniPC", "UniPCMultistepScheduler", {}, "Uniform", _ALL),
    _Base("DEIS", "DEISMultistepScheduler", {}, "Uniform", _ALL),
    _Base("LCM", "LCMScheduler", {}, "Uniform", _OWN),
)  # fmt: skip
BASES: dict[str, _Base] = {b.name: b for b in _BASES}

# The webui's samplers diffusers has no scheduler for, and the one Easel runs instead.
SAMPLER_SUBSTITUTES: dict[str, str] = {
    "DPM++ 2S a": "DPM++ SDE",
    "DPM fast": "DPM++ 2M",
    "DPM adaptive": "DPM++ 2M",
    "Restart": "Heun",
    "DDIM CFG++": "DDIM",
    "Euler CFG++": "Euler",
    "Euler a CFG++": "Euler a",
    "DPM++ 2M CFG++": "DPM++ 2M",
    "DPM++ 2S a CFG++": "DPM++ SDE",
    "HeunPP2": "Heun",
    "IPNDM": "PLMS",
    "IPNDM_V": "PLMS",
}


def _options(base: _Base, schedule: str) -> dict[str, Any]:
    options = dict(base.options)
    if base.schedules is not _OWN:
        options.update(_SIGMA_SCHEDULES[schedule])
    return options


# diffusers' Euler a has no use_*_sigmas options: Easel's subclass adds them (same steps).
_SIGMA_VARIANTS = {"EulerAncestralDiscreteScheduler": "EulerAncestralSigmasScheduler"}


def _spec(base: _Base, schedule: str, name: str = "") -> SamplerSpec:
    options = _options(base, schedule)
    scheduler = base.scheduler
    if any(k.startswith("use_") and k.endswith("_sigmas") for k in options):
        scheduler = _SIGMA_VARIANTS.get(scheduler, scheduler)
    return SamplerSpec(name or base.name, scheduler, options, base.name, schedule)


# The offered names (no schedule in them), then the combined names older Easel versions and
# older webui files use, so saved settings and old pictures keep working.
_LEGACY = ("DPM++ 2M", "DPM++ 2M SDE", "DPM2", "DPM2 a", "LMS")
SAMPLERS: dict[str, SamplerSpec] = {
    **{b.name: _spec(b, b.default) for b in _BASES},
    **{f"{n} Karras": _spec(BASES[n], "Karras", f"{n} Karras") for n in _LEGACY},
}
SAMPLER_NAMES: tuple[str, ...] = tuple(b.name for b in _BASES)
DEFAULT_SAMPLER = "DPM++ 2M Karras"
DEFAULT_SCHEDULE = AUTOMATIC


def _canonical_schedule(name: str) -> str | None:
    wanted = name.strip().lower().replace("_", " ")
    if wanted in ("", "automatic"):
        return AUTOMATIC
    if wanted == "sgmuniform":
        wanted = "sgm uniform"
    for label in _SIGMA_SCHEDULES:
        if label.lower() == wanted:
            return label
    return None


def split_sampler(name: str) -> tuple[str, str]:
    """("DPM++ 2M Karras") -> ("DPM++ 2M", "Karras"); ("Euler a") -> ("Euler a", "").

    The base keeps the table's spelling when it is known; a schedule in the name is only
    split off when what is left is a known sampler.
    """
    text = name.strip()
    lower = text.lower()
    for base in BASES.values():
        if base.name.lower() == lower:
            return base.name, ""
    for label in _SIGMA_SCHEDULES:
        suffix = " " + label.lower()
        if lower.endswith(suffix):
            head = lower[: -len(suffix)]
            for base in BASES.values():
                if base.name.lower() == head:
                    return base.name, label
    return text, ""


def resolve_sampler(name: str, schedule: str = "") -> SamplerSpec | None:
    """What runs for a sampler and a schedule, in either spelling; None when unknown.

    "DPM++ 2M Karras", or "DPM++ 2M" + "Karras"; case-insensitive. An explicit schedule wins
    over one inside the name; "Automatic" or empty means the name's own schedule, else the
    webui's default for that sampler. A schedule the sampler cannot run gives None.
    """
    base_name, embedded = split_sampler(name)
    base = BASES.get(base_name)
    if base is None:
        return None
    label = _canonical_schedule(schedule)
    if label is None:
        return None
    if label == AUTOMATIC:
        label = embedded or base.default
    if label not in base.schedules:
        return None
    legacy = f"{base.name} {label}"
    return _spec(base, label, legacy if legacy in SAMPLERS else base.name)


def schedules_for(sampler: str) -> tuple[str, ...]:
    """The schedule names the window offers for a sampler ("Automatic" first)."""
    base = BASES.get(split_sampler(sampler)[0])
    if base is None:
        return (AUTOMATIC,)
    return (AUTOMATIC, *base.schedules)


def default_schedule(sampler: str) -> str:
    base = BASES.get(split_sampler(sampler)[0])
    return base.default if base is not None else "Uniform"


@dataclass(frozen=True)
class Restored:
    sampler: str  # a name resolve_sampler() knows
    schedule: str  # a schedule name (AUTOMATIC when the file did not say one)
    message: str = ""  # one sentence when something else runs than the file names


def substitute(sampler: str, schedule: str, fallback: str = DEFAULT_SAMPLER) -> Restored:
    """A sampler and schedule named by a file (webui, ComfyUI mapped), as Easel can run them.

    Whatever cannot run is replaced by the closest sampler or schedule that can, and the
    message says which; nothing is swapped silently.
    """
    raw_sampler, raw_schedule = sampler.strip(), schedule.strip()
    base_name, embedded = split_sampler(raw_sampler)
    notes: list[str] = []
    if base_name not in BASES:
        replacement = next(
            (v for k, v in SAMPLER_SUBSTITUTES.items() if k.lower() == base_name.lower()), ""
        )
        if replacement:
            notes.append(
                f"the sampler {raw_sampler} is not available in Easel; {replacement} is used"
            )
            base_name = replacement
        else:
            used = split_sampler(fallback)[0]
            notes.append(f"the sampler {raw_sampler!r} is unknown to Easel; {used} is used")
            base_name, embedded = split_sampler(fallback)
    label = _canonical_schedule(raw_schedule)
    if label is None:
        closest = _SCHEDULE_SUBSTITUTES.get(raw_schedule.lower().replace("_", " "), AUTOMATIC)
        label = closest
        shown = closest if closest != AUTOMATIC else default_schedule(base_name)
        notes.append(f"the schedule {raw_schedule} is not available; {shown} is used")
    if label == AUTOMATIC and embedded:
        label = embedded
    if label != AUTOMATIC and label not in BASES[base_name].schedules:
        notes.append(
            f"{base_name} cannot run the {label} schedule; {default_schedule(base_name)} is used"
        )
        label = AUTOMATIC
    spec = resolve_sampler(base_name, label)
    assert spec is not None
    message = ""
    if notes:
        text = "; ".join(notes)
        message = text[0].upper() + text[1:] + "."
    return Restored(spec.name, label if label == AUTOMATIC else spec.schedule, message)
