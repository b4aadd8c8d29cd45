"""What a single-file checkpoint predicts, when the user says so: SD 2.x 512 "base" files
(epsilon) and 768 files (v-prediction) have the same weights' shapes, and files rarely say
which they are. Easel guesses v for SD 2.x (as the webui and diffusers do); a choice made in
the window or with ``--prediction-type`` is remembered per file here and wins at load time.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from app.library.paths import data_dir

PREDICTION_TYPES: dict[str, str] = {
    "auto": "Automatic (from the file)",
    "epsilon": "epsilon (SD 2.x 512 base)",
    "v_prediction": "v-prediction (SD 2.x 768)",
}
_LOCK = threading.Lock()


def _path() -> Path:
    return data_dir() / "prediction-types.json"


def _key(model: str | Path) -> str:
    return str(Path(model).expanduser().resolve())


def _load() -> dict[str, str]:
    try:
        raw = json.loads(_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}


def prediction_override(model: str | Path) -> str | None:
    """ "epsilon" or "v_prediction" when chosen for this file, else None (detected)."""
    value = _load().get(_key(model))
    return value if value in ("epsilon", "v_prediction") else None


def set_prediction_override(model: str | Path, prediction: str) -> None:
    """Remember ``prediction`` ("auto" forgets) for this file; written atomically."""
    if prediction not in PREDICTION_TYPES:
        raise ValueError(f"unknown prediction type {prediction!r}")
    with _LOCK:
        data = _load()
        if prediction == "auto":
            data.pop(_key(model), None)
        else:
            data[_key(model)] = prediction
        path = _path()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
        os.replace(tmp, path)


def load_key(model: str) -> str:
    """What identifies a loaded model: its path, plus the prediction type chosen for it (a
    new choice makes the worker load the file again)."""
    choice = prediction_override(model) if model.endswith((".safetensors", ".ckpt")) else None
    return f"{model}#{choice}" if choice else model
