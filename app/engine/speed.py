"""The speed setting on the loaded model: what is installed, and the request the recipe runs.

``app.speed`` holds the recipes (pure, shown by the window); this module looks up the
accelerator LoRAs and TAESD on this computer and rewrites the request before it runs: the
recipe's steps, CFG and sampler, the accelerator LoRA as a ``<lora:NAME:1>`` tag (so the
infotext records it, with its hash, the way the webui would), and whether TAESD decodes.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from app.request import GenerationRequest
from app.speed import LABELS, Recipe, accelerator_from_name, choose_recipe

log = logging.getLogger(__name__)


def installed_accelerators() -> list[str]:
    """The names (as a <lora:...> tag takes them) of installed LCM/Hyper-SD/Lightning LoRAs."""
    try:
        from app.models import registry

        names = []
        for m in registry.list_models(include_available=False, kind="lora"):
            if not m.installed or m.problem:
                continue
            name = m.id if m.source == "catalog" else m.name
            if accelerator_from_name(name) or accelerator_from_name(m.name):
                names.append(name)
        return names
    except Exception as exc:  # noqa: BLE001 - a broken model library must not stop a job
        log.warning("could not look for few-step LoRAs: %s", exc)
        return []


def recipe_for(
    engine: Any, req: GenerationRequest, accelerators: list[str] | None = None
) -> Recipe:
    """The recipe ``req.speed`` runs on the engine's loaded model."""
    xl = engine.family == "sdxl"
    sd2 = False
    base = engine._pipes.get("base")
    if base is not None and not xl:
        dim = base.unet.config.cross_attention_dim
        sd2 = int(dim[0] if isinstance(dim, list | tuple) else dim) == 1024
    names = installed_accelerators() if accelerators is None else accelerators
    if sd2:
        names = []  # no LCM/Hyper/Lightning LoRA exists for SD 2.x
    taesd = req.speed == "fast" and engine.preview_decoder() is not None
    return choose_recipe(
        req.speed,
        engine.model_name,
        xl,
        names,
        taesd,
        req.steps,
        req.cfg_scale,
        req.sampler,
        req.schedule,
    )


def has_tag(prompt: str, name: str) -> bool:
    return re.search(rf"<(lora|lyco):{re.escape(name)}(:|>)", prompt, re.IGNORECASE) is not None


def apply_speed(
    engine: Any, req: GenerationRequest, accelerators: list[str] | None = None
) -> tuple[GenerationRequest, Recipe | None]:
    """The request as the recipe runs it, and the recipe (None for Quality)."""
    if req.speed == "quality":
        return req, None
    recipe = recipe_for(engine, req, accelerators)
    prompt = req.prompt
    if recipe.lora and not has_tag(prompt, recipe.lora):
        prompt = f"{prompt} <lora:{recipe.lora}:1>".strip()
    run = req.replace(
        prompt=prompt,
        steps=recipe.steps,
        cfg_scale=recipe.cfg_scale,
        sampler=recipe.sampler,
        schedule=recipe.schedule,
    )
    if req.mode == "img2img" and int(run.steps * run.strength) < 1:
        run = run.replace(steps=max(run.steps, int(1 / max(run.strength, 1e-3)) + 1))
    return run, recipe


def infotext_keys(recipe: Recipe | None) -> dict[str, str]:
    if recipe is None:
        return {}
    return {"Speed": LABELS[recipe.speed], "Speed recipe": recipe.summary}
