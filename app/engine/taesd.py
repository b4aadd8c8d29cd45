"""TAESD / TAESDXL: the tiny autoencoder, for full-resolution live previews and Fast's decode.

diffusers' ``AutoencoderTiny`` decodes the UNet's (scaled) latents directly, at ~1/18 of the
full VAE's cost (0.14 vs 2.51 TFLOP at 512x512). Previews through it are throttled by time:
``Previewer`` only runs it while the previews so far, plus the next one, stay under 5% of the
generation time; every other step gets the 4x3 matrix preview (``app.engine.preview``), which
costs nothing. Without TAESD installed, every step gets the matrix, as before.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from app.engine.preview import latents_to_rgb

log = logging.getLogger(__name__)

PREVIEW_BUDGET = 0.05  # previews may take this share of the generation time
# Before the first TAESD preview is timed, assume it costs this share of a UNet step: the
# FLOP ratio is 0.14 / 1.61 TFLOP for an SD 1.5 CFG step (0.09), 0.17 without CFG.
FIRST_GUESS = 0.2


class TinyDecoder:
    """An ``AutoencoderTiny`` ready to decode one family's latents."""

    def __init__(self, vae: Any, name: str = "TAESD") -> None:
        self.vae = vae.eval()
        self.name = name

    @property
    def dtype(self) -> Any:
        return next(self.vae.parameters()).dtype

    def decode(self, latents: Any) -> Any:
        """(n, 4, h, w) scaled latents to (n, 3, 8h, 8w) in [-1, 1] (fp32)."""
        import torch

        param = next(self.vae.parameters())
        with torch.inference_mode():
            # AutoencoderTiny's scaling factor is 1: it takes the UNet's latents as they are.
            lat = latents.to(param.device, dtype=param.dtype)
            lat = lat / float(getattr(self.vae.config, "scaling_factor", 1.0))
            out = self.vae.decode(lat, return_dict=False)[0]
        return out.float()

    def decode_np(self, latents: Any) -> np.ndarray:
        """The pictures as diffusers' ``output_type="np"`` gives them: (n, H, W, 3) in [0, 1]."""
        image = self.decode(latents)
        image = (image / 2 + 0.5).clamp(0, 1)
        return image.cpu().permute(0, 2, 3, 1).numpy()

    def preview(self, latent: Any) -> np.ndarray:
        """One latent (4, h, w) to an (8h, 8w, 3) uint8 picture."""
        image = self.decode_np(latent[None])[0]
        return (image * 255).round().astype(np.uint8)


class Previewer:
    """Per job: TAESD previews within the time budget, the matrix preview otherwise."""

    def __init__(
        self,
        decoder: TinyDecoder | None,
        family: str,
        budget: float | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.decoder = decoder
        self.family = family
        self.budget = PREVIEW_BUDGET if budget is None else budget
        self.clock = clock
        self.spent = 0.0  # seconds spent in TAESD previews so far
        self.next_cost = -1.0  # the last TAESD preview's cost; < 0 until one ran
        self.tiny_previews = 0
        self.matrix_previews = 0

    def preview(self, latent: Any, elapsed: float, step: int = 1) -> np.ndarray:
        """The preview after ``step`` steps, ``elapsed`` seconds into the generation."""
        if self.decoder is not None and elapsed > 0:
            guess = self.next_cost if self.next_cost >= 0 else FIRST_GUESS * elapsed / step
            if self.spent + guess <= self.budget * elapsed:
                started = self.clock()
                try:
                    image = self.decoder.preview(latent)
                except (RuntimeError, ValueError) as exc:  # never lose a job to a preview
                    log.warning("TAESD preview failed (%s); using the matrix preview", exc)
                    self.decoder = None
                else:
                    cost = self.clock() - started
                    self.spent += cost
                    self.next_cost = cost
                    self.tiny_previews += 1
                    return image
        self.matrix_previews += 1
        return latents_to_rgb(latent, self.family)


def decoder_id(family: str) -> str:
    """The catalog entry of the preview decoder for a model family."""
    return "taesdxl" if family == "sdxl" else "taesd"


def installed_decoder_path(family: str) -> Path | None:
    """Where the family's TAESD is on disk (a diffusers folder), if it is installed."""
    try:
        from app.models import registry

        for m in registry.list_models(include_available=False, kind="vae-preview"):
            if m.id == decoder_id(family) and m.installed and m.path:
                path = Path(m.path)
                if (path / "config.json").is_file():
                    return path
    except Exception as exc:  # noqa: BLE001 - a broken model library must not stop a job
        log.warning("could not look for TAESD: %s", exc)
    return None


def load_decoder(path: str | Path, dtype: Any, device: str) -> TinyDecoder:
    from diffusers import AutoencoderTiny

    vae = AutoencoderTiny.from_pretrained(str(path), torch_dtype=dtype, local_files_only=True)
    return TinyDecoder(
        vae.to(device), "TAESDXL" if "xl" in Path(path).as_posix().lower() else "TAESD"
    )


def find_decoder(family: str, dtype: Any, device: str) -> TinyDecoder | None:
    """The installed TAESD for ``family``, loaded, or None (then previews use the matrix)."""
    path = installed_decoder_path(family)
    if path is None:
        return None
    try:
        decoder = load_decoder(path, dtype, device)
    except (OSError, ValueError, RuntimeError, KeyError, TypeError) as exc:
        log.warning("TAESD in %s could not be loaded (%s); previews use the matrix", path, exc)
        return None
    decoder.name = "TAESDXL" if family == "sdxl" else "TAESD"
    return decoder


def build_tiny_taesd(seed: int = 0) -> Any:
    """A tiny random ``AutoencoderTiny`` with TAESD's layout (tests, benchmarks)."""
    import torch
    from diffusers import AutoencoderTiny

    torch.manual_seed(seed)
    vae: Any = AutoencoderTiny(
        encoder_block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        num_encoder_blocks=(1, 1, 1, 1),
        num_decoder_blocks=(1, 1, 1, 1),
    )
    return vae.eval()


def build_sd15_taesd(seed: int = 0) -> Any:
    """TAESD's real architecture (64 channels, 1/3/3/3 blocks) with random weights."""
    import torch
    from diffusers import AutoencoderTiny

    torch.manual_seed(seed)
    vae: Any = AutoencoderTiny()
    return vae.eval()
