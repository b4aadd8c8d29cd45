"""bf16 weights against fp32 on the CPU: one CFG UNet step and the VAE decode at 512x512.

SD 1.5's architecture with random weights (bench/common.py's components), side by side in one
process; the bf16 copy is the same weights cast (bf16 weights, not autocast). Also checks the
bf16 decode of the same latents is within 2/255 mean of fp32.

    .venv/bin/python bench/cpu_dtype.py [--size 512] [--runs 2]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from app.engine.device import detect_device  # noqa: E402
from app.engine.tiny import build_components  # noqa: E402


def timed(fn, runs: int) -> float:
    fn()  # warm-up
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--runs", type=int, default=2)
    args = ap.parse_args()
    dev = detect_device("cpu")  # sets threads = physical cores
    torch.set_grad_enabled(False)
    comps = build_components("sd15")
    unet32, vae32 = comps["unet"].eval(), comps["vae"].eval()
    unet16, vae16 = (
        copy.deepcopy(unet32).to(torch.bfloat16),
        copy.deepcopy(vae32).to(torch.bfloat16),
    )
    n = args.size // 8
    lat = torch.randn(2, 4, n, n)  # CFG: conditional + unconditional in one batch
    ctx = torch.randn(2, 77, 768)
    t = torch.tensor(500)
    dec = torch.randn(1, 4, n, n)
    print(f"{dev.chip()}; SD 1.5 architecture, random weights, {args.size}x{args.size}")
    with torch.inference_mode():
        s32 = timed(lambda: unet32(lat, t, ctx), args.runs)
        s16 = timed(lambda: unet16(lat.bfloat16(), t, ctx.bfloat16()), args.runs)
        print(f"CFG step: fp32 {s32:.2f} s, bf16 {s16:.2f} s, ratio {s16 / s32:.2f}")
        d32 = timed(lambda: vae32.decode(dec), 1)
        d16 = timed(lambda: vae16.decode(dec.bfloat16()), 1)
        print(f"VAE decode: fp32 {d32:.2f} s, bf16 {d16:.2f} s, ratio {d16 / d32:.2f}")
        a = ((vae32.decode(dec).sample.clamp(-1, 1) + 1) * 127.5).round()
        b = ((vae16.decode(dec.bfloat16()).sample.float().clamp(-1, 1) + 1) * 127.5).round()
        diff = (a - b).abs()
        print(
            f"bf16 decode vs fp32: mean {diff.mean():.2f}/255, max {diff.max():.0f}/255 "
            f"(target mean <= 2)"
        )


if __name__ == "__main__":
    main()
