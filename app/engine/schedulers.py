"""Scheduler classes for samplers diffusers cannot configure on their own, and the lookup.

The webui runs Euler a on any schedule; diffusers' EulerAncestralDiscreteScheduler only knows
evenly spaced timesteps. The subclass below keeps its step (the sampler itself is diffusers')
and replaces only the sigmas with the Karras, exponential or beta ones, computed by diffusers'
own EulerDiscreteScheduler helpers, exactly as EulerDiscreteScheduler does for Euler.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from diffusers import EulerAncestralDiscreteScheduler, EulerDiscreteScheduler

if TYPE_CHECKING:  # diffusers' lazy top-level names hide the classes' attributes from mypy
    _EulerAncestralBase: Any = EulerAncestralDiscreteScheduler
else:
    _EulerAncestralBase = EulerAncestralDiscreteScheduler


class EulerAncestralSigmasScheduler(_EulerAncestralBase):
    """Euler a with `use_karras_sigmas`, `use_exponential_sigmas` or `use_beta_sigmas`."""

    _SIGMA_FLAGS = ("use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas")

    @classmethod
    def from_config(cls, config: Any = None, **kwargs: Any) -> Any:  # type: ignore[override]
        # The parent's __init__ does not know the flags: build it, then record them in its
        # config so they survive save/reload and from_config copies.
        flags = {k: bool(kwargs.pop(k, False)) for k in cls._SIGMA_FLAGS}
        if config is not None:
            config = {k: v for k, v in dict(config).items() if k not in cls._SIGMA_FLAGS}
        scheduler = super().from_config(config, **kwargs)
        scheduler.register_to_config(**flags)
        return scheduler

    # diffusers' own conversions (they read only self.config's optional sigma_min/max, rho)
    _convert_to_karras = EulerDiscreteScheduler._convert_to_karras
    _convert_to_exponential = EulerDiscreteScheduler._convert_to_exponential
    _convert_to_beta = EulerDiscreteScheduler._convert_to_beta
    _sigma_to_t = EulerDiscreteScheduler._sigma_to_t

    def set_timesteps(self, num_inference_steps: int, device: str | torch.device = None) -> None:  # type: ignore[assignment]
        super().set_timesteps(num_inference_steps, device)
        cfg = self.config
        convert = None
        if cfg.get("use_karras_sigmas"):
            convert = self._convert_to_karras
        elif cfg.get("use_exponential_sigmas"):
            convert = self._convert_to_exponential
        elif cfg.get("use_beta_sigmas"):
            convert = self._convert_to_beta
        if convert is None:
            return
        full = np.array(((1 - self.alphas_cumprod) / self.alphas_cumprod) ** 0.5)
        log_sigmas = np.log(full)
        sigmas = convert(in_sigmas=np.flip(full).copy(), num_inference_steps=num_inference_steps)
        timesteps = np.array([self._sigma_to_t(s, log_sigmas) for s in sigmas], dtype=np.float32)
        sigmas = np.concatenate([sigmas, [0.0]]).astype(np.float32)
        self.sigmas = torch.from_numpy(sigmas)
        self.timesteps = torch.from_numpy(timesteps).to(device=device)
        self._step_index = None
        self._begin_index = None


_OURS = {"EulerAncestralSigmasScheduler": EulerAncestralSigmasScheduler}


def scheduler_class(name: str) -> Any:
    """The scheduler class for a name in app.samplers: diffusers', or one of Easel's."""
    if name in _OURS:
        return _OURS[name]
    import diffusers

    return getattr(diffusers, name)
