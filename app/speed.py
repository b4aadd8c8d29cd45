"""The speed setting: Quality / Balanced / Fast, and the concrete recipe each one runs.

Pure Python (no torch), so the window shows the recipe it will run before the engine loads.
The engine (``app.engine.speed``) finds what is installed and calls ``choose_recipe``.

- Quality: the request as written (today's behaviour, full VAE).
- Fast: a Turbo model at 1 step, CFG 0, when the loaded model is one; otherwise a few-step
  LoRA on the current checkpoint: the LCM-LoRA (SD 1.5 / SDXL) at 4 steps with the LCM
  sampler and CFG 1, or a Hyper-SD / SDXL-Lightning LoRA at the steps it was distilled for;
  the picture is decoded by TAESD when it is installed. With none of those, fewer steps of
  DPM++ 2M Karras and a sentence saying what to download.
- Balanced: the same few-step paths with more steps (Turbo 4, LCM 8 at CFG 1.5) and the full
  VAE; without one, 15 steps of DPM++ 2M Karras.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SPEEDS: tuple[str, ...] = ("quality", "balanced", "fast")
LABELS = {"quality": "Quality", "balanced": "Balanced", "fast": "Fast"}
DEFAULT_SPEED = "quality"
TRAILING = "SGM Uniform"  # evenly spaced timesteps ending at t=999: what few-step models need


@dataclass(frozen=True)
class Accelerator:
    """A LoRA that makes any checkpoint of its family draw in a few steps."""

    kind: str  # "lcm" | "hyper" | "lightning"
    name: str  # what <lora:NAME:1> calls it
    xl: bool
    steps: int  # the steps it was distilled for

    @property
    def label(self) -> str:
        return {"lcm": "LCM-LoRA", "hyper": "Hyper-SD LoRA", "lightning": "SDXL-Lightning LoRA"}[
            self.kind
        ]


@dataclass(frozen=True)
class Recipe:
    speed: str
    summary: str  # the recipe in full, as the window shows it and the infotext records it
    steps: int
    cfg_scale: float
    sampler: str
    schedule: str = "Automatic"
    lora: str = ""  # an accelerator LoRA to add to the prompt
    tiny_decode: bool = False  # decode the final picture with TAESD
    note: str = ""  # a sentence for the user (what to install for the fast path)


_STEPS = re.compile(r"(\d+)[-_ ]?steps?", re.IGNORECASE)


def accelerator_from_name(name: str) -> Accelerator | None:
    """An LCM / Hyper-SD / SDXL-Lightning LoRA recognised by its file or catalog name."""
    low = name.lower().replace("_", "-")
    xl = "xl" in low
    steps = _STEPS.search(low)
    n = int(steps.group(1)) if steps else 0
    if "lightning" in low:
        return Accelerator("lightning", name, True, n or 4)
    if "hyper-sd" in low or "hypersd" in low:
        return Accelerator("hyper", name, xl, n or 8)
    if "lcm" in low and "lora" in low:
        return Accelerator("lcm", name, xl, 4)
    return None


def is_turbo(model_name: str) -> bool:
    return "turbo" in model_name.lower()


def pick_accelerator(names: list[str], xl: bool) -> Accelerator | None:
    """The best installed accelerator LoRA for the family: LCM first (any step count, the
    LCM sampler), then Hyper-SD, then Lightning; fewer steps first within a kind."""
    found = [a for a in (accelerator_from_name(n) for n in names) if a and a.xl == xl]
    order = {"lcm": 0, "hyper": 1, "lightning": 2}
    found.sort(key=lambda a: (order[a.kind], a.steps, a.name))
    return found[0] if found else None


def choose_recipe(
    speed: str,
    model_name: str,
    xl: bool,
    accelerators: list[str],
    taesd: bool,
    steps: int = 25,
    cfg_scale: float = 7.0,
    sampler: str = "DPM++ 2M Karras",
    schedule: str = "Automatic",
) -> Recipe:
    """The recipe ``speed`` runs on this model, with these LoRAs and TAESD installed or not.

    ``steps``/``cfg_scale``/``sampler``/``schedule`` are the request's own (Quality keeps them).
    """
    speed = speed if speed in SPEEDS else DEFAULT_SPEED
    fast = speed == "fast"
    if speed == "quality":
        return Recipe(speed, "as set: full VAE", steps, cfg_scale, sampler, schedule)
    tiny = fast and taesd
    decode = "TAESD decode" if tiny else "full VAE"
    family = "SDXL" if xl else "SD 1.5"
    missing_taesd = (
        f" ({'TAESDXL' if xl else 'TAESD'} is not installed: download it in Models for a "
        "faster decode)"
        if fast and not taesd
        else ""
    )
    if is_turbo(model_name):
        n = 1 if fast else 4
        return Recipe(
            speed,
            f"Turbo model: {n} step{'s' if n > 1 else ''}, Euler a, CFG 0, {decode}",
            n,
            0.0,
            "Euler a",
            TRAILING,
            tiny_decode=tiny,
            note=missing_taesd.strip(" ()"),
        )
    acc = pick_accelerator(accelerators, xl)
    if acc is not None and acc.kind == "lcm":
        n, cfg = (4, 1.0) if fast else (8, 1.5)
        return Recipe(
            speed,
            f"{acc.label} {acc.name} on this model: {n} steps, LCM sampler, CFG {cfg:g}, {decode}",
            n,
            cfg,
            "LCM",
            lora=acc.name,
            tiny_decode=tiny,
            note=missing_taesd.strip(" ()"),
        )
    if acc is not None:
        n = acc.steps if fast else max(acc.steps, 8)
        return Recipe(
            speed,
            f"{acc.label} {acc.name} on this model: {n} steps, Euler ({TRAILING}), CFG 1, {decode}",
            n,
            1.0,
            "Euler",
            TRAILING,
            lora=acc.name,
            tiny_decode=tiny,
            note=missing_taesd.strip(" ()"),
        )
    n = min(steps, 12 if fast else 15)
    lcm = "an LCM-LoRA for SDXL" if xl else "lcm-lora-sd15"
    return Recipe(
        speed,
        f"{n} steps, DPM++ 2M Karras, CFG {cfg_scale:g}, {decode}",
        n,
        cfg_scale,
        "DPM++ 2M Karras",
        tiny_decode=tiny,
        note="; ".join(
            n
            for n in (
                f"No LCM-LoRA for {family} is installed: download {lcm} in Models to draw in "
                "4 steps, or pick a Turbo model",
                missing_taesd.strip(" ()"),
            )
            if n
        ),
    )


def describe_all(model_name: str, xl: bool, accelerators: list[str], taesd: bool) -> dict[str, str]:
    """Every speed's recipe summary for this model, for the window."""
    return {s: choose_recipe(s, model_name, xl, accelerators, taesd).summary for s in SPEEDS}
