"""LoRA cost: the per-step time with one and with three LoRAs against none, same process.

SD 1.5's architecture with random weights; random kohya-format LoRAs (rank 16, alpha 8) on
every UNet attention projection and the text encoder, applied through ``<lora:NAME:W>`` as a
user would. The first job with a LoRA pays its loading once (reported apart); the steps of
the jobs after it are what the ratio compares. Jobs alternate none / one / three so that the
machine's load drifts evenly over all three. Target: <= 1.05x once loaded.

    .venv/bin/python bench/lora_cost.py [--size 256] [--steps 4] [--runs 2] [--device cpu]
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ["EASEL_HOME"] = tempfile.mkdtemp(prefix="easel-bench-lora-")  # an empty library

from common import engine_options, random_engine  # noqa: E402

from app.engine.engine import Progress  # noqa: E402
from app.request import GenerationRequest  # noqa: E402

PROMPTS = {
    "none": "a lighthouse at dusk",
    "one": "a lighthouse at dusk <lora:bench0:0.8>",
    "three": "a lighthouse at dusk <lora:bench0:0.8> <lora:bench1:0.5> <lora:bench2:0.6>",
}


def step_times(engine: object, prompt: str, args: object) -> tuple[list[float], float]:
    marks: list[float] = []
    req = GenerationRequest(
        prompt, steps=args.steps, seed=1, width=args.size, height=args.size, sampler="Euler"
    )  # type: ignore[attr-defined]
    started = time.perf_counter()
    engine.generate(req, on_progress=lambda p: marks.append(time.perf_counter()))  # type: ignore[attr-defined]
    # Step i's time is the gap to the previous step's end; the first step also holds the
    # prompt encoding and LoRA switching, so it is left out of the per-step figure.
    return [b - a for a, b in zip(marks, marks[1:], strict=False)], marks[0] - started


def main() -> None:
    from app.engine.tiny_networks import save_kohya_lora
    from app.models import registry

    args = engine_options(__doc__ or "", runs=2)
    if args.size == 128:
        args.size = 256
    engine, pipe, _ = random_engine(args)
    folder = Path(os.environ["EASEL_HOME"]) / "library" / "Lora"
    for i in range(3):
        save_kohya_lora(pipe, folder / f"bench{i}.safetensors", rank=16, alpha=8.0, seed=i)
    registry.import_path(folder.parent)
    _ = Progress

    # Warm-up: one job of each kind (loads the three LoRAs once, fills caches).
    load_started = time.perf_counter()
    engine.generate(GenerationRequest(PROMPTS["three"], steps=1, width=64, height=64))
    load_time = time.perf_counter() - load_started
    engine.generate(GenerationRequest(PROMPTS["none"], steps=1, width=64, height=64))
    loads_before = engine.loras.loads

    steps: dict[str, list[float]] = {k: [] for k in PROMPTS}
    firsts: dict[str, list[float]] = {k: [] for k in PROMPTS}
    for _ in range(args.runs):
        for kind, prompt in PROMPTS.items():
            times, first = step_times(engine, prompt, args)
            steps[kind] += times
            firsts[kind].append(first)
    assert engine.loras.loads == loads_before, "a LoRA was loaded again"

    base = statistics.median(steps["none"])
    print(f"SD 1.5 architecture (random weights), {args.size}x{args.size}, {engine.device.kind}, "
          f"{args.steps} steps x {args.runs} runs per case")  # fmt: skip
    print(f"loading three rank-16 LoRAs (first job, 1 step at 64x64 included): {load_time:.2f} s")
    for kind in PROMPTS:
        med = statistics.median(steps[kind])
        first = statistics.median(firsts[kind])
        print(f"{kind:>5} LoRA(s): {med:.3f} s/step  ({med / base:.3f}x)  "
              f"first step incl. prompt + LoRA switch {first:.3f} s")  # fmt: skip
    print(f"LoRA files loaded after warm-up: {engine.loras.loads - loads_before} (target 0)")


if __name__ == "__main__":
    main()
