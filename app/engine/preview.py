"""Cheap per-step previews: latents to RGB with a 4x3 matrix, no VAE (REFERENCE.md)."""

from __future__ import annotations

from typing import Any

import numpy as np

# Rows: latent channels 0-3; columns: R, G, B. The factors ComfyUI publishes.
SD_FACTORS = np.array(
    [
        [0.3512, 0.2297, 0.3227],
        [0.3250, 0.4974, 0.2350],
        [-0.2829, 0.1762, 0.2721],
        [-0.2120, -0.2616, -0.7177],
    ],
    dtype=np.float32,
)
SDXL_FACTORS = np.array(
    [
        [0.3651, 0.4232, 0.4341],
        [-0.2533, -0.0042, 0.1068],
        [0.1076, 0.1111, -0.0362],
        [-0.3165, -0.2492, -0.2188],
    ],
    dtype=np.float32,
)
SDXL_BIAS = np.array([0.1084, -0.0175, -0.0011], dtype=np.float32)


def latents_to_rgb(latent: Any, family: str = "sd") -> np.ndarray:
    """One latent (4, h, w), a torch tensor or array, to an (h, w, 3) uint8 image."""
    if hasattr(latent, "detach"):
        latent = latent.detach().to("cpu", copy=False).float().numpy()
    lat = np.asarray(latent, dtype=np.float32)
    if family == "sdxl":
        rgb = np.einsum("chw,cr->hwr", lat, SDXL_FACTORS) + SDXL_BIAS
    else:
        rgb = np.einsum("chw,cr->hwr", lat, SD_FACTORS)
    return ((np.clip(rgb, -1.0, 1.0) + 1.0) * 127.5).astype(np.uint8)
