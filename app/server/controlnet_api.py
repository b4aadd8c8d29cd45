"""ControlNet over the API as the webui's ControlNet extension takes it: units in
``alwayson_scripts.controlnet.args`` of txt2img/img2img, and its ``/controlnet/model_list``,
``/controlnet/module_list`` and ``/controlnet/version`` endpoints, so its clients work as they are.

Preprocessor ("module") names are the extension's; each maps to the Easel preprocessor that
does the same job, and a neural one Easel does not have (HED, PiDiNet, ...) is one sentence,
never swapped silently. Models are named, never given as paths; the extension's
``name [hash]`` spelling is accepted.
"""

from __future__ import annotations

import re
from typing import Any

from PIL import Image

from app.errors import InvalidRequest
from app.request import CONTROL_MODES, ControlUnit

MODULES = {
    "none": "none",
    "canny": "canny",
    "invert": "invert",
    "invert (from white bg & black line)": "invert",
    "lineart_standard": "lineart",
    "lineart_standard (from white bg & black line)": "lineart",
    "scribble": "scribble",
    "scribble_threshold": "scribble",
    # Easel's depth preprocessor is Depth Anything V2; the extension's other depth estimators
    # make the same kind of map (near is white) with other models.
    "depth": "depth",
    "depth_anything": "depth",
    "depth_anything_v2": "depth",
    "depth_midas": "depth",
    "depth_zoe": "depth",
    "depth_leres": "depth",
    # Body keypoints (RT-DETR + ViTPose); hands and faces are not drawn.
    "openpose": "openpose",
    "openpose_full": "openpose",
    "dw_openpose_full": "openpose",
}
_HASH = re.compile(r"\s*\[[0-9a-fA-F]{8,10}\]\s*$")


def module_list() -> dict[str, Any]:
    return {"module_list": list(MODULES), "module_detail": {}}


def model_list() -> dict[str, Any]:
    """The installed ControlNets by the names units may use."""
    from app.models import catalog, registry

    names = []
    for m in registry.list_models(include_available=False, kind="controlnet"):
        if not m.installed or m.problem:
            continue
        if m.source == "catalog":
            names.append(catalog.get(m.id).repo_id.rsplit("/", 1)[-1])
        else:
            names.append(m.name)
    return {"model_list": sorted(set(names))}


def _model(name: object, what: str) -> str:
    from app.server.convert import refuse_path

    if not isinstance(name, str) or not name.strip() or name.strip().lower() == "none":
        raise InvalidRequest(f"{what} has no model; name one from /controlnet/model_list.")
    plain = _HASH.sub("", name.strip())
    refuse_path(plain, f"{what}'s model")
    from app.models import catalog

    for entry in catalog.load_catalog():  # the webui's name of a catalog ControlNet
        if entry.kind == "controlnet" and entry.repo_id.rsplit("/", 1)[-1] == plain:
            return entry.id
    return plain


def _mode(value: object, what: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(CONTROL_MODES):
        return CONTROL_MODES[value]
    if isinstance(value, str) and value in CONTROL_MODES:
        return value
    raise InvalidRequest(
        f"{what}: control_mode must be 0, 1, 2 or one of: {', '.join(CONTROL_MODES)}."
    )


def _number(arg: dict[str, Any], key: str, default: float, what: str) -> float:
    value = arg.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRequest(f"{what}: {key} must be a number.")
    return float(value)


def _image(arg: dict[str, Any], fallback: Image.Image | None, what: str) -> Image.Image:
    from app.server.convert import decode_image

    data = arg.get("image", arg.get("input_image"))
    if isinstance(data, dict):  # {"image": b64, "mask": b64}
        data = data.get("image")
    if data in (None, ""):
        if fallback is not None:
            return fallback  # img2img: the extension uses the init image
        raise InvalidRequest(f"{what} has no image; give a base64 picture in its 'image'.")
    return decode_image(data, f"{what}'s image")


def units_from(
    scripts: dict[str, Any] | None, fallback: Image.Image | None = None
) -> tuple[ControlUnit, ...]:
    """The enabled units of ``alwayson_scripts`` (case-insensitive "controlnet" key)."""
    if not scripts:
        return ()
    block = next((v for k, v in scripts.items() if str(k).lower() == "controlnet"), None)
    if block is None:
        return ()
    args = block.get("args") if isinstance(block, dict) else None
    if not isinstance(args, list):
        raise InvalidRequest("alwayson_scripts.controlnet needs 'args': a list of units.")
    units = []
    for i, arg in enumerate(args):
        what = f"ControlNet unit {i}"
        if not isinstance(arg, dict):
            raise InvalidRequest(f"{what} must be an object.")
        if arg.get("enabled", True) is False:
            continue
        module = str(arg.get("module") or "none").strip().lower()
        if module not in MODULES:
            raise InvalidRequest(
                f"{what}: the preprocessor {module!r} is not available in Easel; use one of: "
                f"{', '.join(MODULES)}, or send a ready-made control image with module none."
            )
        low, high = _number(arg, "threshold_a", 100, what), _number(arg, "threshold_b", 200, what)
        units.append(
            ControlUnit(
                model=_model(arg.get("model"), what),
                image=_image(arg, fallback, what),
                preprocessor=MODULES[module],
                weight=_number(arg, "weight", 1.0, what),
                guidance_start=_number(arg, "guidance_start", 0.0, what),
                guidance_end=_number(arg, "guidance_end", 1.0, what),
                control_mode=_mode(arg.get("control_mode", 0), what),
                threshold_a=100.0 if low < 0 else low,  # -1: the module's default
                threshold_b=200.0 if high < 0 else high,
            )
        )
    return tuple(units)
