"""Preview cost: the per-step latent preview (4x3 matrix, CPU) and TAESD against a step.

Step time is measured on SD 1.5's architecture (random weights) at the benchmark size; the
preview is timed on latents of that size and of a full 512x512 image (64x64 latents).
Target: matrix preview / step < 1%. Then TAESD (its real architecture, random weights, in
the engine's dtype): one full-resolution preview against one step, and a whole generation
with TAESD installed, where the throttle keeps all previews under 5% of the time.

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

from app.engine import taesd  # noqa: E402
from app.engine.engine import Progress  # noqa: E402
from app.engine.preview import latents_to_rgb  # noqa: E402
from app.request import GenerationRequest  # noqa: E402


def time_preview(latent: torch.Tensor, n: int = 200, fn: object = latents_to_rgb) -> float:
    fn(latent)  # type: ignore[operator]
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        fn(latent)  # type: ignore[operator]
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def taesd_part(engine: object, req: GenerationRequest, step: float, size: int) -> None:
    device = engine.device  # type: ignore[attr-defined]
    # placed as the engine places it (channels-last on this CPU), in the engine's dtype
    vae = device.place(taesd.build_sd15_taesd().to(device.torch_dtype()))
    decoder = taesd.TinyDecoder(vae)
    lat = torch.randn(4, size // 8, size // 8, device=device.torch_device)
    lat512 = torch.randn(4, 64, 64, device=device.torch_device)
    t_small = time_preview(lat, 5, decoder.preview)
    t_512 = time_preview(lat512, 3, decoder.preview)
    print(
        f"TAESD preview at {size}x{size}: {t_small * 1000:.1f} ms -> {t_small / step:.2%} of "
        f"a step; at 512x512: {t_512 * 1000:.1f} ms"
    )
    engine.set_preview_decoder(vae)  # type: ignore[attr-defined]
    made: list[taesd.Previewer] = []
    real = taesd.Previewer

    def keep(*a: object, **k: object) -> taesd.Previewer:
        p = real(*a, **k)  # type: ignore[arg-type]
        made.append(p)
        return p

    taesd.Previewer = keep  # type: ignore[assignment,misc]
    try:
        events: list[Progress] = []
        t0 = time.perf_counter()
        engine.generate(req, on_progress=events.append)  # type: ignore[attr-defined]
        total = time.perf_counter() - t0
    finally:
        taesd.Previewer = real  # type: ignore[misc]
    p = made[-1]
    print(
        f"generation with TAESD previews: {total:.2f} s, {p.tiny_previews} TAESD + "
        f"{p.matrix_previews} matrix previews, TAESD time {p.spent:.3f} s = "
        f"{p.spent / total:.2%} of the generation (target < 5%)"
    )


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
    taesd_part(engine, req, step, args.size)


if __name__ == "__main__":
    main()
