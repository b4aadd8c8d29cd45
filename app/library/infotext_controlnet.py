"""ControlNet units in the infotext, as the webui's ControlNet extension writes them:

    ControlNet 0: "Module: canny, Model: control_v11p_sd15_canny [d14c016b], Weight: 1,
    Resize Mode: Crop and Resize, Processor Res: 512, Threshold A: 100, Threshold B: 200,
    Guidance Start: 0, Guidance End: 1, Pixel Perfect: False, Control Mode: Balanced"

(one line; the value is JSON-quoted because it holds commas and colons). Read back on restore:
the model and the settings. The control image is not in the metadata.
"""

from __future__ import annotations

import re
from pathlib import Path

from app.request import CONTROL_MODES, ControlUnit

_KEY = re.compile(r"^ControlNet (\d+)$")
_MODEL = re.compile(r"^(.*?)(?: \[([0-9a-fA-F]{8,})\])?$")


def _num(value: float) -> str:
    return f"{value:g}"


def _model_name(model: str) -> str:
    # A path is written as the file's or folder's name, as the extension lists its models.
    if "/" in model or "\\" in model:
        return Path(model).stem if Path(model).suffix else Path(model).name
    return model


def unit_params(units: tuple[ControlUnit, ...]) -> dict[str, str]:
    """The ``ControlNet N`` keys for the request's units."""
    out: dict[str, str] = {}
    for i, u in enumerate(units):
        model = _model_name(u.model) + (f" [{u.model_hash[:8]}]" if u.model_hash else "")
        fields = [
            ("Module", u.preprocessor),
            ("Model", model),
            ("Weight", _num(u.weight)),
            ("Resize Mode", "Crop and Resize"),
            ("Processor Res", "512"),
            ("Threshold A", _num(u.threshold_a)),
            ("Threshold B", _num(u.threshold_b)),
            ("Guidance Start", _num(u.guidance_start)),
            ("Guidance End", _num(u.guidance_end)),
            ("Pixel Perfect", "False"),
            ("Control Mode", u.control_mode),
        ]
        out[f"ControlNet {i}"] = ", ".join(f"{k}: {v}" for k, v in fields)
    return out


def _float(text: str | None, default: float) -> float:
    try:
        return float(text) if text is not None else default
    except ValueError:
        return default


def units_from_params(params: dict[str, str]) -> tuple[ControlUnit, ...]:
    """The units an image was made with (model and settings; image None), in unit order."""
    found: list[tuple[int, ControlUnit]] = []
    for key, value in params.items():
        m = _KEY.match(key)
        if not m:
            continue
        fields: dict[str, str] = {}
        for part in value.split(", "):
            name, sep, val = part.partition(": ")
            if sep:
                fields[name.strip()] = val.strip()
        model = _MODEL.match(fields.get("Model", ""))
        if not model or not model.group(1) or model.group(1) == "None":
            continue
        mode = fields.get("Control Mode", "Balanced")
        module = fields.get("Module", "none")
        found.append(
            (
                int(m.group(1)),
                ControlUnit(
                    model=model.group(1),
                    preprocessor=module if module not in ("", "None") else "none",
                    weight=_float(fields.get("Weight"), 1.0),
                    guidance_start=_float(fields.get("Guidance Start"), 0.0),
                    guidance_end=_float(fields.get("Guidance End"), 1.0),
                    control_mode=mode if mode in CONTROL_MODES else "Balanced",
                    threshold_a=_float(fields.get("Threshold A"), 100.0),
                    threshold_b=_float(fields.get("Threshold B"), 200.0),
                    model_hash=model.group(2) or "",
                ),
            )
        )
    return tuple(u for _, u in sorted(found, key=lambda t: t[0]))
