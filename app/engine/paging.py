"""Weights paged from disk: on a CPU with too little RAM, the answer a GPU gets from model
offload.

The loaded networks' weights are written once, in the dtype they run in, to a safetensors
file in Easel's cache, and the networks are re-pointed at a memory map of that file
(``load_state_dict(assign=True)`` keeps safetensors' zero-copy tensors). The weights then
live in the page cache rather than in anonymous memory: while RAM is plentiful nothing
changes, and when it runs short the kernel drops the pages of whatever is idle (the text
encoders and the VAE during the denoising steps) and reads them back when they run, instead of
killing the app. A network later changed in place (a LoRA fused into it) gets private copies
of the pages it writes, so values are always the current ones.

Convolution weights in channels-last memory are stored NHWC and viewed back, so they stay
channels-last without a copy. One model's pages are kept at a time: paging another model, or
unloading, deletes the previous files.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)

NETWORKS = ("unet", "text_encoder", "text_encoder_2", "vae")
_NHWC = "easel.nhwc"


def paging_root() -> Path:
    from app.library.paths import cache_dir

    return cache_dir() / "paged-weights"


def _state(module: Any) -> tuple[dict[str, torch.Tensor], list[str]]:
    out: dict[str, torch.Tensor] = {}
    nhwc: list[str] = []
    seen: set[int] = set()
    for key, t in module.state_dict().items():
        t = t.detach()
        if t.untyped_storage().data_ptr() in seen:
            raise ValueError(f"{key} shares its storage with another weight")
        seen.add(t.untyped_storage().data_ptr())
        if (
            t.dim() == 4
            and not t.is_contiguous()
            and t.is_contiguous(memory_format=torch.channels_last)
        ):
            out[key] = t.permute(0, 2, 3, 1).contiguous()
            nhwc.append(key)
        else:
            out[key] = t.contiguous()
    return out, nhwc


def page_module(module: Any, path: Path) -> int:
    """Write ``module``'s weights to ``path`` and point it at a memory map of the file;
    returns the bytes now paged."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    state, nhwc = _state(module)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        save_file(state, str(tmp), metadata={_NHWC: ",".join(nhwc)})
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    del state
    mapped = load_file(str(path))
    with safe_open(str(path), framework="pt") as f:
        keys = [k for k in (f.metadata() or {}).get(_NHWC, "").split(",") if k]
    for key in keys:
        mapped[key] = mapped[key].permute(0, 3, 1, 2)
    module.load_state_dict(mapped, strict=True, assign=True)
    module.easel_paged = True
    return sum(t.numel() * t.element_size() for t in mapped.values())


def new_folder(root: Path | None = None) -> Path:
    """A fresh folder for one model's pages; every earlier one is deleted first."""
    root = root or paging_root()
    clear(root)
    return root / uuid.uuid4().hex[:12]


def page_networks(modules: dict[str, Any], folder: Path) -> int:
    """Page every network in ``modules`` (name -> module) not paged yet into ``folder``;
    returns the bytes paged."""
    total = 0
    for name, module in modules.items():
        if module is None or getattr(module, "easel_paged", False):
            continue
        if not any(True for _ in module.parameters()):
            continue
        try:
            total += page_module(module, folder / f"{name}.safetensors")
        except (OSError, ValueError, RuntimeError) as exc:  # a full disk: keep it in RAM
            log.warning("could not page %s from disk (%s); it stays in RAM", name, exc)
    return total


def weights_on_disk(folder: Path, variant: str | None) -> int:
    """Bytes of a diffusers folder's network weights (the variant's files when it has them)."""
    total = 0
    for sub in NETWORKS:
        files = sorted((folder / sub).glob("*.safetensors")) + sorted((folder / sub).glob("*.bin"))
        chosen = [f for f in files if variant and f".{variant}." in f.name] or [
            f for f in files if f.name.count(".") == 1
        ]
        total += sum(f.stat().st_size for f in chosen)
    return total


def short_of_ram(weights: int, free: int) -> bool:
    """Page while loading when the weights would take most of the RAM there is: the load
    itself then stays ~the UNet's size below the whole model's (measured: SDXL in an 8 GB
    cgroup, bench/memory_jobs.py)."""
    return bool(free) and weights > LOAD_SHARE * free


LOAD_SHARE = 0.6


def clear(root: Path | None = None) -> None:
    """Delete every paged-weights folder (mapped files stay readable until unmapped on
    Linux and macOS; on Windows a file still mapped is left for the next start)."""
    root = root or paging_root()
    if not root.is_dir():
        return
    for child in root.iterdir():
        shutil.rmtree(child, ignore_errors=True)
