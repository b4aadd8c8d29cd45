"""SDXL specifics: micro-conditioning as the webui sets it, the VAE's fp16 problem, tiling.

- Micro-conditioning (``sd_models_xl.get_learned_conditioning``): ``original_size`` and
  ``target_size`` are the picture's own size (height, width), ``crop_coords_top_left`` is
  (0, 0) (the webui's ``sdxl_crop_top/left`` defaults), for the prompt and the negative alike.
  Diffusers' defaults agree; Easel passes them explicitly so a pipeline change cannot move them.
  The hires fix's second pass uses the hires size (``calculate_hr_conds``: SdConditioning
  with ``hr_upscale_to_x/y``).
- The SDXL VAE overflows in fp16 (NaN, black pictures). With fp16 weights Easel swaps in
  madebyollin/sdxl-vae-fp16-fix when it is installed (catalog id ``sdxl-vae-fp16-fix``, kind
  ``vae``); without it the VAE is marked ``force_upcast`` so diffusers decodes in fp32 (and
  the engine's black-picture check re-decodes in fp32 as a last resort). bf16 has fp32's
  range and needs neither.
- Tiling: the SDXL VAE's config says 1024 px tiles, so diffusers' tiling does nothing at
  1024x1024; Easel's tiles are 512 px (64 latents) as for SD 1.x.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

log = logging.getLogger(__name__)

FP16_FIX_ID = "sdxl-vae-fp16-fix"
TILE_PX = 512


def micro_conditioning(width: int, height: int) -> dict[str, Any]:
    """The SDXL pipelines' size arguments for a picture of ``width`` x ``height``."""
    size = (height, width)
    return {
        "original_size": size,
        "target_size": size,
        "crops_coords_top_left": (0, 0),
        "negative_original_size": size,
        "negative_target_size": size,
        "negative_crops_coords_top_left": (0, 0),
    }


def use_small_vae_tiles(vae: Any, tile_px: int = TILE_PX) -> None:
    """Tile at ``tile_px`` pixels when tiling is on (diffusers reads these at decode time)."""
    factor = 2 ** (len(vae.config.block_out_channels) - 1)
    vae.tile_sample_min_size = tile_px
    vae.tile_latent_min_size = tile_px // factor


def fp16_fix_path() -> str | None:
    """Where the installed fp16-fix VAE is, or None."""
    from app.models import registry

    for m in registry.list_models(include_available=False, kind="vae"):
        if m.installed and m.path and (m.id == FP16_FIX_ID or "fp16-fix" in m.name.lower()):
            return m.path
    return None


def prepare_sdxl_vae(pipe: Any, dtype: torch.dtype, fix_path: str | None = None) -> str:
    """Make the SDXL VAE safe in ``dtype``; returns what was done ("fp16-fix", "upcast",
    "") for the log and the tests."""
    if dtype != torch.float16:
        return ""
    path = fix_path if fix_path is not None else fp16_fix_path()
    if path:
        from diffusers import AutoencoderKL

        try:
            vae = AutoencoderKL.from_pretrained(path, torch_dtype=dtype, local_files_only=True)
        except (OSError, ValueError) as exc:
            log.warning("the fp16-fix VAE in %s could not be loaded (%s); upcasting", path, exc)
        else:
            pipe.vae = vae.to(pipe.vae.device)
            pipe.register_modules(vae=pipe.vae)
            return "fp16-fix"
    pipe.vae.register_to_config(force_upcast=True)
    return "upcast"


def adapt_sdxl(pipe: Any, device: Any) -> None:
    """What an SDXL pipeline needs once it is placed: a VAE safe in the device's dtype, and
    512 px VAE tiles, turned on where memory is short (no GPU and under 12 GB of RAM)."""
    done = prepare_sdxl_vae(pipe, device.torch_dtype())
    if done:
        log.info("SDXL VAE in fp16: %s", done)
    use_small_vae_tiles(pipe.vae)
    if device.kind == "cpu":
        from app.engine.device import system_memory

        ram = system_memory()
        if ram and ram < 12 * 1024**3:
            pipe.vae.enable_tiling()
