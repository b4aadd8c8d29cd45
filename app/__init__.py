"""Easel: a desktop app for Stable Diffusion."""

from __future__ import annotations

import os

__version__ = "0.1.0"

# Apple's MPS backend lacks a few operators; torch reads this once, when it is first imported,
# so it must be set before anything imports torch.
os.environ.setdefault("PYTORCH_ENABLE_MPS_FALLBACK", "1")
