"""Variation seeds with the webui's semantics (modules/rng.py, ImageRNG.first).

Each image's starting noise is the spherical interpolation of its seed's noise and its
variation seed's noise. The seed's noise is drawn from the image's own generator, exactly as
diffusers' prepare_latents draws it, so the generator is left where the pipeline would leave it
(ancestral samplers draw their later noise from it) and strength 0 is the seed's picture.
"""

from __future__ import annotations

import torch


def slerp(val: float, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """The webui's slerp, on one image's (C, H, W) noise: norms along dim 1, as it does."""
    low_norm = low / torch.norm(low, dim=1, keepdim=True)
    high_norm = high / torch.norm(high, dim=1, keepdim=True)
    dot = (low_norm * high_norm).sum(1)
    if dot.mean() > 0.9995:
        # The webui's own fallback for (nearly) parallel noises, weights as it writes them.
        return low * val + high * (1 - val)
    omega = torch.acos(dot)
    so = torch.sin(omega)
    return (torch.sin((1.0 - val) * omega) / so).unsqueeze(1) * low + (
        torch.sin(val * omega) / so
    ).unsqueeze(1) * high


def variation_noise(
    shape: tuple[int, int, int],
    generators: list[torch.Generator],
    subseeds: list[int],
    strength: float,
) -> torch.Tensor:
    """Unscaled starting noise (batch, C, H, W) for one generator and variation seed per image.

    Draws each image's noise from its generator in the shape diffusers uses (1, C, H, W), which
    yields the same numbers as the webui's (C, H, W) draw for the same seed.
    """
    images = []
    for generator, subseed in zip(generators, subseeds, strict=True):
        noise = torch.randn((1, *shape), generator=generator, device="cpu")[0]
        sub = torch.randn((1, *shape), generator=torch.Generator("cpu").manual_seed(subseed))[0]
        images.append(slerp(strength, noise, sub))
    return torch.stack(images)
