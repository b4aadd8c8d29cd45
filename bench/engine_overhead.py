"""Engine overhead: the same request through Engine and through a bare diffusers pipeline.

SD 1.5's architecture with random weights (UNet 860 M, CLIP ViT-L, VAE), alternating runs in
one process, median of each. Target: ratio <= 1.03.

    .venv/bin/python bench/engine_overhead.py [--size 128] [--steps 4] [--runs 5] [--device cpu]
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from common import engine_options, random_engine  # noqa: E402

from app.request import GenerationRequest  # noqa: E402
from app.samplers import SAMPLERS  # noqa: E402


def main() -> None:
    args = engine_options(__doc__ or "", runs=5)
    import diffusers

    engine, pipe, components = random_engine(args)
    device = engine.device

    sampler = "DPM++ 2M Karras"
    spec = SAMPLERS[sampler]
    req = GenerationRequest(
        "a photo of a lighthouse on a cliff at dusk, dramatic sky",
        negative_prompt="blurry",
        sampler=sampler,
        steps=args.steps,
        seed=1,
        width=args.size,
        height=args.size,
    )
    bare = diffusers.StableDiffusionPipeline(**{**pipe.components})
    bare.set_progress_bar_config(disable=True)

    def run_bare() -> None:
        bare.scheduler = getattr(diffusers, spec.scheduler).from_config(
            components["scheduler"].config, **spec.options
        )
        bare(
            prompt=req.prompt,
            negative_prompt=req.negative_prompt,
            num_inference_steps=req.steps,
            guidance_scale=req.cfg_scale,
            width=req.width,
            height=req.height,
            generator=[torch.Generator("cpu").manual_seed(1)],
        ).images[0]

    def run_engine() -> None:
        engine.generate(req, on_progress=lambda p: None)

    def sync() -> None:
        if device.kind == "cuda":
            torch.cuda.synchronize()

    def timed(fn) -> float:
        sync()
        t = time.perf_counter()
        fn()
        sync()
        return time.perf_counter() - t

    print(
        f"device: {device.describe()}; arch {args.arch}; {args.size}x{args.size}, "
        f"{args.steps} steps, {sampler}, CFG {req.cfg_scale}"
    )
    timed(run_bare), timed(run_engine)  # warm-up: allocator, kernels, caches
    bare_t, engine_t = [], []
    for i in range(args.runs):
        # Alternate which goes first so drift (thermal, other load) hits both alike.
        order = (("bare", run_bare), ("engine", run_engine))
        for name, fn in order if i % 2 == 0 else reversed(order):
            (bare_t if name == "bare" else engine_t).append(timed(fn))
    b, e = statistics.median(bare_t), statistics.median(engine_t)
    print(f"diffusers pipeline: median {b:.3f}s  runs {', '.join(f'{x:.3f}' for x in bare_t)}")
    print(f"Easel engine:       median {e:.3f}s  runs {', '.join(f'{x:.3f}' for x in engine_t)}")
    print(f"ratio of minimums (least disturbed runs): {min(engine_t) / min(bare_t):.3f}")
    print(f"ratio engine/diffusers: {e / b:.3f}  (target <= 1.03)")


if __name__ == "__main__":
    main()
