"""The models the API may name, from the model registry: checkpoints by name (the webui's
"title"), LoRAs by name. Client text is only ever matched against these lists; it never
reaches ``registry.find`` (which also takes paths) or the file system.
"""

from __future__ import annotations

import re
from pathlib import Path

from app.errors import InvalidRequest
from app.server.convert import refuse_path
from app.server.runner import ModelChoice


def checkpoints(current: ModelChoice | None = None) -> list[ModelChoice]:
    from app.models import registry

    out = [
        ModelChoice(title=m.name, name=m.name, path=str(m.path), id=m.id)
        for m in registry.list_models(include_available=False, kind="checkpoint")
        if m.usable and m.path
    ]
    if current is not None and all(c.path != current.path for c in out):
        out.insert(0, current)  # the one given with --model, even when not registered
    return out


def find_checkpoint(name: object, current: ModelChoice | None = None) -> ModelChoice:
    if not isinstance(name, str) or not name.strip():
        raise InvalidRequest("The model must be named by its title from /sdapi/v1/sd-models.")
    text = refuse_path(name, "model")
    wanted = text.lower()
    models = checkpoints(current)
    for m in models:
        if wanted in (m.title.lower(), m.name.lower()) or (m.hash and wanted == m.hash):
            return m
    # The webui's titles carry a hash: "name.safetensors [abcdef1234]".
    bare = wanted.split(" [")[0].removesuffix(".safetensors").removesuffix(".ckpt")
    for m in models:
        if bare == m.name.lower():
            return m
    raise InvalidRequest(f"Unknown model {text!r}; GET /sdapi/v1/sd-models lists the models.")


def sd_model_item(m: ModelChoice) -> dict[str, object]:
    return {
        "title": m.title,
        "model_name": m.name,
        "hash": m.hash or None,
        "sha256": None,
        "filename": m.name,  # never the server's path
        "config": None,
    }


def loras() -> list[dict[str, object]]:
    from app.models import registry

    return [
        {"name": m.name, "alias": m.name, "path": Path(m.path or m.name).name, "metadata": {}}
        for m in registry.list_models(include_available=False, kind="lora")
        if m.installed
    ]


def upscalers(builtins: tuple[str, ...]) -> list[dict[str, object]]:
    """``/sdapi/v1/upscalers``: the built-ins, then each installed upscaler model by name (its
    factor read from the name, as "4x-UltraSharp" or "RealESRGAN_x2plus" say it; 4 otherwise).
    Never the server's paths."""
    from app.models import registry

    out: list[dict[str, object]] = [
        {"name": n, "model_name": None, "model_path": None, "model_url": None, "scale": 4}
        for n in builtins
    ]
    for m in registry.list_models(include_available=False, kind="upscaler"):
        if m.installed and not m.problem:
            found = re.search(r"(?<![0-9])([1-8])x|x([1-8])(?![0-9])", m.name, re.IGNORECASE)
            scale = int(next(g for g in found.groups() if g)) if found else 4
            out.append(
                {
                    "name": m.name,
                    "model_name": m.name,
                    "model_path": None,
                    "model_url": None,
                    "scale": scale,
                }
            )
    return out


def find_upscaler(name: str | None, builtins: tuple[str, ...]) -> str:
    """A built-in's name, or the name of an installed upscaler model, matched against the list
    only: client text never reaches the file system."""
    text = refuse_path(name or "", "upscaler")
    for item in upscalers(builtins):
        if text.lower() == str(item["name"]).lower():
            return str(item["name"])
    raise InvalidRequest(f"Unknown upscaler {text!r}; GET /sdapi/v1/upscalers lists the upscalers.")
