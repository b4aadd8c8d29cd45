"""Shared set-up of the engine benchmarks: the options and a random-weight SD 1.5 engine."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def engine_options(doc: str, runs: int | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=4)
    if runs is not None:
        ap.add_argument("--runs", type=int, default=runs)
    ap.add_argument("--device", default=None)
    ap.add_argument("--arch", default="sd15")
    return ap.parse_args()


def random_engine(args: argparse.Namespace) -> tuple[Any, Any, dict[str, Any]]:
    """(engine, its pipeline, the components): SD 1.5's architecture with random weights,
    on the detected (or asked-for) device and dtype, progress bars off."""
    import diffusers
    import torch

    from app.engine.device import detect_device
    from app.engine.engine import Engine
    from app.engine.tiny import build_components

    device = detect_device(args.device)
    torch.set_grad_enabled(False)
    components = build_components(args.arch)
    pipe = diffusers.StableDiffusionPipeline(**components, requires_safety_checker=False)
    pipe = pipe.to(device.torch_device, device.torch_dtype())
    pipe.set_progress_bar_config(disable=True)
    engine = Engine(device)
    engine.load_pipeline(pipe, args.arch)
    return engine, pipe, components
