"""Preview cost: the per-step latent preview (4x3 matrix, CPU) against one denoising step.

Step time is measured on SD 1.5's architecture (random weights) at the benchmark size; the
preview is timed on latents of that size and of a full 512x512 image (64x64 latents).
Target: preview / step < 1%.

    .venv/bin/python bench/preview_cost.py [--size 128] [--steps 4] [--device cpu]
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from common import engine_options, random_engine  # noqa: E402

from app.engine.engine import Progress  # noqa: E402
from app.engine.preview import latents_to_rgb  # noqa: E402
from app.request import GenerationRequest  # noqa: E402


def time_preview(latent: torch.Tensor, n: int = 200) -> float:
    latents_to_rgb(latent)
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        latents_to_rgb(latent)
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def main() -> None:
    args = engine_options(__doc__ or "")
    engine, _, _ = random_engine(args)
    device = engine.device
    req = GenerationRequest(
        "a lighthouse", steps=args.steps, seed=1, width=args.size, height=args.size, sampler="Euler"
    )
    events: list[Progress] = []
    engine.generate(req.replace(steps=2))  # warm-up
    engine.generate(req, on_progress=events.append)
    step_times = [b.elapsed - a.elapsed for a, b in zip(events, events[1:], strict=False)]
    step = statistics.median(step_times)

    lat = torch.randn(4, args.size // 8, args.size // 8, device=device.torch_device)
    lat512 = torch.randn(4, 64, 64, device=device.torch_device)
    p_small, p_512 = time_preview(lat), time_preview(lat512)
    print(f"device: {device.describe()}; {args.arch} at {args.size}x{args.size}")
    print(f"denoising step (with CFG): median {step * 1000:.1f} ms over {len(step_times)} steps")
    print(
        f"preview at {args.size // 8}x{args.size // 8} latents: {p_small * 1000:.3f} ms "
        f"-> {p_small / step:.3%} of a step"
    )
    print(
        f"preview at 64x64 latents (512x512 image): {p_512 * 1000:.3f} ms "
        f"-> {p_512 / step:.3%} of a {args.size}px step (a 512px step costs ~4x more)"
    )
    print(f"ratio preview/step: {p_small / step:.4f}  (target < 0.01)")


if __name__ == "__main__":
    main()
