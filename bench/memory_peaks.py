"""Peak RSS of the memory-heavy parts of a big job: the SDXL VAE decode at 1024x1024 with and
without tiling (Easel's 512 px tiles), and a 4x ESRGAN upscale to 2048x2048 in tiles.

Each case runs in a fresh interpreter (so one case's peak never hides another's) on random
weights of the real architectures: the SDXL VAE (AutoencoderKL 128/256/512/512, 83.7 M
parameters) and RealESRGAN x4plus's RRDBNet (64 features, 23 blocks, 16.7 M). A full SDXL
1024 job on random weights is out of reach on a 2-core CPU (~6.8 TFLOP per UNet forward),
so the UNet is left out: its weights (2.6 G parameters, 5.1 GB in bf16) plus the decode's
peak bound the job. Prints one line per case: peak RSS, RSS before the work, seconds.

    .venv/bin/python bench/memory_peaks.py [--dtype float32|bfloat16] [--case NAME]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CASES = ("vae-1024", "vae-1024-tiled", "upscale-2048-tiled")


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_case(case: str, dtype_name: str) -> dict[str, float | str]:
    import torch

    torch.set_grad_enabled(False)
    dtype = getattr(torch, dtype_name)
    if case.startswith("vae"):
        from diffusers import AutoencoderKL

        from app.engine.sdxl import use_small_vae_tiles

        torch.manual_seed(0)
        vae = AutoencoderKL(
            down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4,
            block_out_channels=(128, 256, 512, 512),
            layers_per_block=2,
            latent_channels=4,
            sample_size=1024,
            scaling_factor=0.13025,
        ).to(dtype)
        if case.endswith("tiled"):
            vae.enable_tiling()
            use_small_vae_tiles(vae)
        latents = torch.randn(1, 4, 128, 128, dtype=dtype)
        before, t0 = _rss_mb(), time.perf_counter()
        image = vae.decode(latents, return_dict=False)[0]
        assert image.shape == (1, 3, 1024, 1024)
    else:
        from PIL import Image

        from app.engine.upscale import build_esrgan, upscale_tiled

        torch.manual_seed(0)
        net = build_esrgan(64, 23, 4).to(dtype)
        picture = Image.new("RGB", (512, 512), (120, 80, 200))
        before, t0 = _rss_mb(), time.perf_counter()
        out = upscale_tiled(net, picture, tile=256, overlap=16)
        assert out.size == (2048, 2048)
    return {
        "case": case,
        "dtype": dtype_name,
        "peak_mb": round(_peak_mb()),
        "before_mb": round(before),
        "seconds": round(time.perf_counter() - t0, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dtype", default="bfloat16", choices=["float32", "bfloat16"])
    ap.add_argument("--case", choices=CASES)
    args = ap.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args.dtype)), flush=True)
        return
    for case in CASES:
        out = subprocess.run(
            [sys.executable, __file__, "--case", case, "--dtype", args.dtype],
            capture_output=True,
            text=True,
        )
        if out.returncode:
            print(f"{case}: failed\n{out.stderr[-2000:]}")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"{r['case']:<20} {r['dtype']:<9} peak RSS {r['peak_mb']:>6} MB "
            f"(before the work {r['before_mb']} MB)  {r['seconds']} s",
            flush=True,
        )


if __name__ == "__main__":
    main()
