"""The one registry of model kinds: what each kind is called, where its files live.

Every kind of model file Easel knows has one entry here, and everything else (the catalog,
imports, the user's A1111/ComfyUI folders scanned in place, `models list --kind`, the Models
tab's filter, delete) reads it from here, so a new kind is one more entry, not a new module.

Plain data: importable by the window at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from app.errors import InvalidRequest


@dataclass(frozen=True)
class Kind:
    id: str  # stored in ModelInfo.kind and the catalog's "kind"
    label: str  # shown in the Models tab and `models list`
    import_dir: str  # subfolder of Easel's models folder that imports of this kind go to
    a1111_dirs: tuple[str, ...]  # the webui's folder names for this kind (under models/)
    comfy_dirs: tuple[str, ...]  # ComfyUI's (under models/)
    suffixes: tuple[str, ...] = (".safetensors", ".ckpt", ".pt", ".pth", ".bin")


KINDS: dict[str, Kind] = {
    k.id: k
    for k in (
        Kind("checkpoint", "Checkpoint", "", ("Stable-diffusion",), ("checkpoints",)),
        Kind("lora", "LoRA", "lora", ("Lora", "LyCORIS"), ("loras",)),
        Kind("textual-inversion", "Embedding", "embeddings", ("embeddings",), ("embeddings",)),
        Kind("controlnet", "ControlNet", "controlnet", ("ControlNet",), ("controlnet",)),
        Kind("upscaler", "Upscaler", "upscalers", ("ESRGAN", "RealESRGAN"), ("upscale_models",)),
        Kind("vae", "VAE", "vae", ("VAE",), ("vae",)),
        Kind("vae-preview", "Preview decoder", "vae-preview", ("VAE-approx",), ("vae_approx",)),
        # Depth and pose models for ControlNet's preprocessors, downloaded on first use.
        Kind("preprocessor", "Preprocessor", "preprocessors", (), (), (".safetensors",)),
    )
}
KIND_IDS: tuple[str, ...] = tuple(KINDS)

# "inpainting" is a checkpoint whose UNet takes 9 channels: a filter, not a kind of file.
FILTERS: tuple[str, ...] = (*KIND_IDS, "inpainting")


def label(kind_id: str) -> str:
    k = KINDS.get(kind_id)
    return k.label if k else kind_id.capitalize()


def check_filter(kind: str | None) -> str | None:
    """A kind filter as typed by a user ("LoRA", "lora", "embedding"): its id, or a sentence."""
    if kind is None or kind == "":
        return None
    wanted = kind.strip().lower()
    aliases = {"embedding": "textual-inversion", "ti": "textual-inversion", "taesd": "vae-preview"}
    wanted = aliases.get(wanted, wanted)
    for k in KINDS.values():
        if wanted in (k.id, k.label.lower()):
            return k.id
    if wanted == "inpainting":
        return "inpainting"
    raise InvalidRequest(f"Unknown model kind {kind!r}; use one of: {', '.join(FILTERS)}.")


def matches(kind_filter: str | None, kind: str, inpainting: bool) -> bool:
    if kind_filter is None:
        return True
    if kind_filter == "inpainting":
        return kind == "checkpoint" and inpainting
    return kind == kind_filter


def kind_of_folder(folder: Path) -> str | None:
    """The kind a folder holds by its A1111/ComfyUI name (``models/Lora`` holds LoRAs), if any.

    A file's own contents decide its kind when they can (a checkpoint dropped into ``Lora`` is
    still a checkpoint); the folder is the hint for files whose contents don't say, such as
    ESRGAN upscalers.
    """
    name = folder.name.lower()
    for k in KINDS.values():
        if name in {d.lower() for d in (*k.a1111_dirs, *k.comfy_dirs, k.import_dir) if d}:
            return k.id
    return None


def kind_of_path(path: Path, root: Path) -> str | None:
    """The folder hint for a file found under a scanned library root (nearest folder wins)."""
    for parent in path.parents:
        hint = kind_of_folder(parent)
        if hint is not None:
            return hint
        if parent == root:
            break
    return None
