"""Easel's CPU path (torch) against OpenVINO on the same weights: one CFG UNet step and the
VAE decode, SD 1.5's architecture with random weights.

Each backend runs in its own process (torch slows ~25% when OpenVINO shares its process), on
the same seed-0 weights: torch fp32, torch bf16 (bf16 weights, Easel's policy on this CPU;
both placed by ``DeviceInfo.place``, channels-last, as the engine does), torch bf16 compiled
(Easel's "Compile the model": ``app.engine.compile``, inductor with freezing; the first call's
compile seconds are printed), OpenVINO f32 and bf16 (``openvino.convert_model`` on the torch modules, static shapes,
``INFERENCE_PRECISION_HINT`` set explicitly: OpenVINO silently picks bf16 on this CPU). The
decoded pixels of every backend are compared with torch fp32, never trusted blind.

    pip install openvino   # the bench's own dependency, never Easel's
    .venv/bin/python bench/cpu_backends.py [--size 512] [--runs 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BACKENDS = ("torch-fp32", "torch-bf16", "torch-bf16-compiled", "openvino-f32", "openvino-bf16")


def timed(fn, runs: int) -> tuple[float, object, float]:
    """The median of ``runs`` calls, the last output, and the first (warm-up) call's seconds."""
    t = time.perf_counter()
    out = fn()  # warm-up (the compile, for the compiled row)
    first = time.perf_counter() - t
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        out = fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples), out, first


def run_one(backend: str, size: int, runs: int, latents_file: Path) -> dict:
    sys.path.insert(0, str(ROOT))
    import numpy as np
    import torch

    from app.engine.device import detect_device
    from app.engine.tiny import build_components

    torch.set_grad_enabled(False)
    threads = detect_device("cpu").threads if hasattr(detect_device("cpu"), "threads") else None
    if threads:
        torch.set_num_threads(threads)
    parts = build_components("sd15")
    unet, vae = parts["unet"].eval(), parts["vae"].eval()
    lat = size // 8
    gen = torch.Generator().manual_seed(0)
    sample = torch.randn(2, 4, lat, lat, generator=gen)
    timestep = torch.tensor(500)
    context = torch.randn(2, 77, 768, generator=gen)
    z = torch.randn(1, 4, lat, lat, generator=gen)

    unet.requires_grad_(False)
    vae.requires_grad_(False)

    class Unet(torch.nn.Module):  # the modules as children: tracing needs them as parameters
        def __init__(self) -> None:
            super().__init__()
            self.unet = unet

        def forward(self, x, t, c):
            return self.unet(x, t, encoder_hidden_states=c, return_dict=False)[0]

    class Decoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.vae = vae

        def forward(self, z):
            return self.vae.decode(z / self.vae.config.scaling_factor, return_dict=False)[0]

    result: dict = {"backend": backend}
    if backend.startswith("torch"):
        from dataclasses import replace
        from types import SimpleNamespace

        bf16 = "bf16" in backend
        dtype = torch.bfloat16 if bf16 else torch.float32
        dev = replace(detect_device("cpu"), dtype="bfloat16" if bf16 else "float32")
        for net in (unet, vae):
            dev.place(net.to(dtype))  # channels-last, as the engine places them
        if backend.endswith("compiled"):
            from app.engine.compile import compile_pipeline, compile_problem

            problem = compile_problem(dev)
            if problem:
                raise SystemExit(problem)
            compile_pipeline(SimpleNamespace(unet=unet, vae=vae), dev)
        with torch.inference_mode():  # as the engine runs (freezing needs autograd off)
            step_s, _, step_first = timed(
                lambda: Unet()(sample.to(dtype), timestep, context.to(dtype)), runs
            )
            dec_s, img, dec_first = timed(lambda: Decoder()(z.to(dtype)).float(), runs)
        if backend.endswith("compiled"):
            result["compile_unet_s"] = round(step_first - step_s, 1)
            result["compile_decoder_s"] = round(dec_first - dec_s, 1)
    else:
        import openvino as ov

        precision = "bf16" if backend.endswith("bf16") else "f32"
        core = ov.Core()
        config = {"INFERENCE_PRECISION_HINT": precision}
        t0 = time.perf_counter()
        unet_ov = core.compile_model(
            ov.convert_model(Unet(), example_input=(sample, timestep, context)), "CPU", config
        )
        dec_ov = core.compile_model(ov.convert_model(Decoder(), example_input=(z,)), "CPU", config)
        result["convert_compile_s"] = round(time.perf_counter() - t0, 1)
        step_s, _, _ = timed(
            lambda: unet_ov([sample.numpy(), timestep.numpy(), context.numpy()]), runs
        )
        dec_s, out, _ = timed(lambda: dec_ov([z.numpy()])[0], runs)
        img = torch.from_numpy(np.asarray(out))
    pixels = ((img[0].clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()
    if backend == "torch-fp32":
        np.save(latents_file, pixels)
    else:
        ref = np.load(latents_file)
        diff = np.abs(pixels.astype(np.int16) - ref.astype(np.int16))
        result["decode_max_diff"] = int(diff.max())
        result["decode_mean_diff"] = round(float(diff.mean()), 3)
    result["cfg_step_s"] = round(step_s, 3)
    result["decode_s"] = round(dec_s, 3)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--only", choices=BACKENDS, help=argparse.SUPPRESS)  # one child process
    ap.add_argument("--ref", type=Path, default=ROOT / "bench" / "out" / "cpu_backends_ref.npy")
    args = ap.parse_args()
    if args.only:
        print(json.dumps(run_one(args.only, args.size, args.runs, args.ref)), flush=True)
        return
    args.ref.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    for backend in BACKENDS:  # torch fp32 first: it writes the reference pixels
        cmd = [sys.executable, __file__, "--only", backend, "--size", str(args.size),
               "--runs", str(args.runs), "--ref", str(args.ref)]  # fmt: skip
        out = subprocess.run(cmd, capture_output=True, text=True)
        if "No module named 'openvino'" in out.stderr:
            print(f"{backend}: skipped (OpenVINO is not installed: pip install openvino)")
            continue
        if out.returncode != 0:
            print(f"{backend}: failed\n{out.stderr[-2000:]}", file=sys.stderr)
            continue
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    by = {r["backend"]: r for r in rows}
    print(f"\n{args.size}x{args.size}, median of {args.runs}:")
    print(f"{'backend':19} {'CFG step s':>10} {'decode s':>9} {'decode max/mean diff':>21}")
    for r in rows:
        d = f"{r.get('decode_max_diff', 0)}/{r.get('decode_mean_diff', 0)}"
        print(f"{r['backend']:19} {r['cfg_step_s']:>10} {r['decode_s']:>9} {d:>21}")
    if "torch-bf16-compiled" in by:
        c = by["torch-bf16-compiled"]
        print(f"torch.compile warm-up: UNet {c['compile_unet_s']} s, VAE decoder "
              f"{c['compile_decoder_s']} s (once per model and size)")  # fmt: skip
    for name in ("torch-bf16", "torch-bf16-compiled"):
        if name in by and "openvino-bf16" in by:
            t, o = by[name], by["openvino-bf16"]
            print(f"Easel CPU path ({name}) / OpenVINO bf16: step {t['cfg_step_s'] / o['cfg_step_s']:.2f}x,"
                  f" decode {t['decode_s'] / o['decode_s']:.2f}x (<= 1.0 is the goal)")  # fmt: skip
    if "torch-fp32" in by and "openvino-f32" in by:
        t, o = by["torch-fp32"], by["openvino-f32"]
        print(f"torch fp32 / OpenVINO f32: step {t['cfg_step_s'] / o['cfg_step_s']:.2f}x,"
              f" decode {t['decode_s'] / o['decode_s']:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
