"""The catalog of models Easel offers to download (``resources/catalog.json``).

Kept light on purpose (json only, no huggingface_hub, no torch): the UI reads it at start-up to
fill the model picker before the heavy stack is imported.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from app.library.paths import resources_dir
from app.models.kinds import KIND_IDS

FAMILIES = (
    "sd1",
    "sd2",
    "sd2-v",
    "sdxl",
    "lora-sd1",
    "taesd",
    "taesdxl",
    "controlnet-sd1",
    "controlnet-sdxl",
    "preprocessor",
)
KINDS = KIND_IDS


@dataclass(frozen=True)
class Recommended:
    """The settings a model was made for; the UI pre-fills them when the model is picked."""

    width: int
    height: int
    steps: int
    cfg: float
    sampler: str


@dataclass(frozen=True)
class CatalogEntry:
    id: str
    name: str
    repo_id: str
    revision: str
    family: str
    kind: str
    size_bytes: int
    allow_patterns: tuple[str, ...]
    description: str = ""
    default: bool = False
    variant: str | None = None
    inpainting: bool = False
    base_family: str | None = None
    preview: str | None = None  # id of the preview decoder entry (taesd / taesdxl)
    recommended: Recommended | None = None
    licence: str = ""
    licence_url: str = ""


@dataclass(frozen=True)
class FamilyConfigSource:
    """Where the small config files of a model family come from (for offline single-file import)."""

    family: str
    repo_id: str
    allow_patterns: tuple[str, ...]
    ignore_patterns: tuple[str, ...] = ()
    revision: str = "main"


def catalog_path() -> Path:
    return resources_dir() / "catalog.json"


def _entry(raw: dict[str, Any]) -> CatalogEntry:
    rec = raw.get("recommended")
    if raw.get("family") not in FAMILIES or raw.get("kind") not in KINDS:
        raise ValueError(f"catalog entry {raw.get('id')!r} has an unknown family or kind")
    return CatalogEntry(
        id=raw["id"],
        name=raw["name"],
        repo_id=raw["repo_id"],
        revision=raw.get("revision", "main"),
        family=raw["family"],
        kind=raw["kind"],
        size_bytes=int(raw["size_bytes"]),
        allow_patterns=tuple(raw["allow_patterns"]),
        description=raw.get("description", ""),
        default=bool(raw.get("default", False)),
        variant=raw.get("variant"),
        inpainting=bool(raw.get("inpainting", False)),
        base_family=raw.get("base_family"),
        preview=raw.get("preview"),
        recommended=Recommended(**rec) if rec else None,
        licence=raw.get("licence", ""),
        licence_url=raw.get("licence_url", ""),
    )


@cache
def _load(path: str) -> tuple[tuple[CatalogEntry, ...], dict[str, FamilyConfigSource]]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    entries = tuple(_entry(raw) for raw in data["models"])
    families = {
        name: FamilyConfigSource(
            family=name,
            repo_id=raw["repo_id"],
            allow_patterns=tuple(raw["allow_patterns"]),
            ignore_patterns=tuple(raw.get("ignore_patterns", ())),
            revision=raw.get("revision", "main"),
        )
        for name, raw in data.get("family_configs", {}).items()
        if isinstance(raw, dict)
    }
    return entries, families


def load_catalog(path: str | Path | None = None) -> tuple[CatalogEntry, ...]:
    """Every catalog entry, in the order the UI lists them."""
    return _load(str(path or catalog_path()))[0]


def family_config_sources(path: str | Path | None = None) -> dict[str, FamilyConfigSource]:
    """The config-only sources keyed by family: ``sd1``, ``sd2`` and ``sdxl``."""
    return dict(_load(str(path or catalog_path()))[1])


def default_entry() -> CatalogEntry:
    """The model a first run offers to download (SD 1.5)."""
    entries = load_catalog()
    return next((e for e in entries if e.default), entries[0])


def get(entry_id: str) -> CatalogEntry:
    """The entry with this catalog id or Hugging Face repo id; KeyError when there is none."""
    for entry in load_catalog():
        if entry_id in (entry.id, entry.repo_id):
            return entry
    raise KeyError(f"No model {entry_id!r} in the catalog.")
