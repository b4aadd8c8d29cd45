"""The window's persisted settings: last prompt and parameters, models, window geometry.

A small JSON file under ``config_dir()`` (so ``EASEL_HOME`` isolates it in tests). Reading is
lenient: a missing, corrupt or older file gives the defaults for whatever it lacks.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.library import paths
from app.request import MAX_BATCH, MAX_SEED, MAX_SIZE, MAX_STEPS, MIN_SIZE, GenerationRequest
from app.samplers import DEFAULT_SAMPLER, DEFAULT_SCHEDULE, SAMPLERS, SCHEDULES

log = logging.getLogger(__name__)

SETTINGS_FILE = "window.json"
MAX_RECENT_MODELS = 8
MAX_BATCH_COUNT = 100
# What restoring a picture's settings puts back into the window (besides the prompts)
RESTORED_FIELDS = (
    "sampler",
    "schedule",
    "steps",
    "cfg_scale",
    "seed",
    "subseed",
    "subseed_strength",
    "width",
    "height",
    "clip_skip",
    "speed",
)
ENGINES = ("local", "server")


@dataclass
class UiSettings:
    prompt: str = ""
    negative_prompt: str = ""
    sampler: str = DEFAULT_SAMPLER
    steps: int = 25
    cfg_scale: float = 7.0
    seed: int = -1
    width: int = 512
    height: int = 512
    batch_size: int = 1
    batch_count: int = 1
    model_path: str = ""
    recent_models: list[str] = field(default_factory=list)
    geometry: str = ""  # base64 of QWidget.saveGeometry()
    splitter: str = ""  # base64 of QSplitter.saveState()
    clip_skip: int = 1
    speed: str = "quality"  # app.speed: quality | balanced | fast
    precision: str = "auto"  # the engine's dtype: auto (the device policy) | fp32 | bf16
    compile_model: bool = False  # torch.compile the UNet and VAE decoder (app/engine/compile.py)
    schedule: str = DEFAULT_SCHEDULE
    subseed: int = -1
    subseed_strength: float = 0.0
    # Settings → Engine: where generation runs, and whether other apps may use this computer's.
    engine: str = "local"  # "local" (this computer) or "server" (an Easel server)
    server_url: str = ""
    server_token: str = ""
    share_engine: bool = False  # "Let other apps use Easel": loopback only, off by default
    share_port: int = 7860
    share_token: str = ""  # generated the first time sharing is turned on

    def to_request(self, **changes: Any) -> GenerationRequest:
        """The txt2img request these settings describe (validated later, by the engine)."""
        req = GenerationRequest(
            prompt=self.prompt,
            negative_prompt=self.negative_prompt,
            sampler=self.sampler,
            steps=self.steps,
            cfg_scale=self.cfg_scale,
            seed=self.seed,
            width=self.width,
            height=self.height,
            batch_size=self.batch_size,
            clip_skip=self.clip_skip,
            speed=self.speed,
            schedule=self.schedule,
            subseed=self.subseed,
            subseed_strength=self.subseed_strength,
        )
        return req.replace(**changes) if changes else req

    def remember_model(self, path: str) -> None:
        """Make ``path`` the current model and the first of the recent ones."""
        self.model_path = path
        self.recent_models = [path] + [p for p in self.recent_models if p != path]
        del self.recent_models[MAX_RECENT_MODELS:]


def settings_path() -> Path:
    return paths.config_dir() / SETTINGS_FILE


def _clamp(value: Any, low: float, high: float, default: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    value = type(default)(value)
    return min(max(value, low), high)


def _sanitize(s: UiSettings) -> UiSettings:
    d = UiSettings()
    s.prompt = s.prompt if isinstance(s.prompt, str) else d.prompt
    s.negative_prompt = s.negative_prompt if isinstance(s.negative_prompt, str) else ""
    s.sampler = s.sampler if s.sampler in SAMPLERS else d.sampler
    s.steps = _clamp(s.steps, 1, MAX_STEPS, d.steps)
    s.cfg_scale = _clamp(s.cfg_scale, 0.0, 30.0, d.cfg_scale)
    s.seed = _clamp(s.seed, -1, MAX_SEED, d.seed)
    s.width = _clamp(s.width, MIN_SIZE, MAX_SIZE, d.width) // 8 * 8
    s.height = _clamp(s.height, MIN_SIZE, MAX_SIZE, d.height) // 8 * 8
    s.batch_size = _clamp(s.batch_size, 1, MAX_BATCH, d.batch_size)
    s.batch_count = _clamp(s.batch_count, 1, MAX_BATCH_COUNT, d.batch_count)
    s.clip_skip = _clamp(s.clip_skip, 1, 12, d.clip_skip)
    s.schedule = s.schedule if s.schedule in SCHEDULES else d.schedule
    s.subseed = _clamp(s.subseed, -1, MAX_SEED, d.subseed)
    s.subseed_strength = _clamp(s.subseed_strength, 0.0, 1.0, d.subseed_strength)
    s.model_path = s.model_path if isinstance(s.model_path, str) else ""
    s.speed = s.speed if s.speed in ("quality", "balanced", "fast") else d.speed
    s.precision = s.precision if s.precision in ("auto", "fp32", "bf16") else d.precision
    s.compile_model = s.compile_model if isinstance(s.compile_model, bool) else d.compile_model
    if not isinstance(s.recent_models, list):
        s.recent_models = []
    s.recent_models = [p for p in s.recent_models if isinstance(p, str) and p][:MAX_RECENT_MODELS]
    s.engine = s.engine if s.engine in ENGINES else d.engine
    s.share_engine = s.share_engine if isinstance(s.share_engine, bool) else False
    s.share_port = _clamp(s.share_port, 1024, 65535, d.share_port)
    for name in ("geometry", "splitter", "server_url", "server_token", "share_token"):
        if not isinstance(getattr(s, name), str):
            setattr(s, name, "")
    return s


def load_settings() -> UiSettings:
    try:
        data = json.loads(settings_path().read_text(encoding="utf-8"))
    except FileNotFoundError:
        return UiSettings()
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable settings %s: %s", settings_path(), exc)
        return UiSettings()
    if not isinstance(data, dict):
        return UiSettings()
    known = {f.name for f in dataclasses.fields(UiSettings)}
    return _sanitize(UiSettings(**{k: v for k, v in data.items() if k in known}))


def save_settings(settings: UiSettings) -> None:
    """Write atomically (temp file + rename) so a crash never leaves half a file."""
    path = settings_path()
    tmp = path.with_suffix(".tmp")
    try:
        tmp.write_text(json.dumps(dataclasses.asdict(settings), indent=2), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("could not save settings to %s: %s", path, exc)
