"""The engine: torch + diffusers, headless. Never imports Qt."""

from __future__ import annotations

import os

# transformers warns on every import that torchvision is missing (we use the PIL processors).
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
