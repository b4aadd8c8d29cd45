"""Latent previews: the 4x3 matrix of REFERENCE.md, mapped from [-1, 1] to [0, 255]."""

from __future__ import annotations

import numpy as np
import torch

from app.engine.preview import SD_FACTORS, latents_to_rgb


def test_each_channel_maps_through_its_row() -> None:
    for c in range(4):
        lat = np.zeros((4, 2, 3), dtype=np.float32)
        lat[c] = 1.0
        rgb = latents_to_rgb(lat)
        expected = ((np.clip(SD_FACTORS[c], -1, 1) + 1) * 127.5).astype(np.uint8)
        assert rgb.shape == (2, 3, 3) and rgb.dtype == np.uint8
        assert (rgb == expected).all()


def test_zero_latent_is_mid_grey_and_extremes_clip() -> None:
    assert (latents_to_rgb(torch.zeros(4, 8, 8)) == 127).all()
    big = latents_to_rgb(torch.full((4, 1, 1), 100.0))
    assert big.min() >= 0 and big.max() == 255


def test_sdxl_bias_applies() -> None:
    rgb = latents_to_rgb(np.zeros((4, 1, 1), dtype=np.float32), family="sdxl")
    assert tuple(rgb[0, 0]) == (141, 125, 127)
