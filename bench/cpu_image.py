"""Seconds per 512x512 picture on the CPU: Quality vs Fast (4-step LCM + TAESD) vs Turbo 1-step,
each through Easel (its device policy: bf16 where the CPU has it) and through a bare diffusers
pipeline in fp32 on the same random SD 1.5 weights, side by side in one process.

Quality runs ``--quality-steps`` steps (default 3) and is extrapolated to 25 from the measured
per-step time (text encoding + 25 x step + VAE decode); Fast and Turbo run in full. The Fast
LCM-LoRA is a random LoRA named like one (fused into the UNet, so it costs no step time).
Prints every ratio, each path's FLOP/s against the floor in issue 12, and the mean pixel
difference of Easel's pictures from the fp32 ones.

    .venv/bin/python bench/cpu_image.py [--size 512] [--quality-steps 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("EASEL_HOME", tempfile.mkdtemp(prefix="easel-bench-"))

import diffusers  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from app.engine.device import detect_device  # noqa: E402
from app.engine.engine import Engine  # noqa: E402
from app.engine.taesd import TinyDecoder, build_sd15_taesd  # noqa: E402
from app.engine.tiny import build_components  # noqa: E402
from app.request import GenerationRequest  # noqa: E402

LORA = "lcm-lora-bench"
PROMPT = "a lighthouse on a cliff at dusk, oil painting"
CFG_STEP_TFLOP, NOCFG_STEP_TFLOP, VAE_TFLOP, TAESD_TFLOP = 1.61, 0.805, 2.51, 0.14


def _timed_steps(pipe: Any, steps: int, **kw: Any) -> tuple[Any, list[float], float]:
    """Run ``pipe`` with latent output: (latents, per-step seconds, total seconds)."""
    stamps: list[float] = []

    def on_step(p: Any, i: int, t: Any, k: dict[str, Any]) -> dict[str, Any]:
        stamps.append(time.perf_counter())
        return {}

    t0 = time.perf_counter()
    out = pipe(
        prompt=PROMPT,
        num_inference_steps=steps,
        generator=[torch.Generator("cpu").manual_seed(1)],
        output_type="latent",
        callback_on_step_end=on_step,
        **kw,
    )
    total = time.perf_counter() - t0
    per = [b - a for a, b in zip([t0, *stamps], stamps, strict=False)]
    return out.images, per, total


def _decode_vae(pipe: Any, latents: Any) -> tuple[np.ndarray, float]:
    t0 = time.perf_counter()
    with torch.inference_mode():
        img = pipe.vae.decode(latents / pipe.vae.config.scaling_factor, return_dict=False)[0]
    img = pipe.image_processor.postprocess(img.float(), output_type="np")
    return img[0], time.perf_counter() - t0


def _decode_tiny(tiny: TinyDecoder, latents: Any) -> tuple[np.ndarray, float]:
    t0 = time.perf_counter()
    img = tiny.decode_np(latents)[0]
    return img, time.perf_counter() - t0


def bare(components: dict[str, Any], taesd: Any, size: int, q_steps: int) -> dict[str, Any]:
    """diffusers as its docs show it, fp32, same components."""
    pipe = diffusers.StableDiffusionPipeline(**components, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    tiny = TinyDecoder(taesd)
    res: dict[str, Any] = {}
    base = pipe.scheduler.config
    pipe.scheduler = diffusers.DPMSolverMultistepScheduler.from_config(base, use_karras_sigmas=True)
    lat, per, total = _timed_steps(pipe, q_steps, guidance_scale=7.0, width=size, height=size)
    _, dec = _decode_vae(pipe, lat)
    step = float(np.median(per[1:] if len(per) > 1 else per))
    # the run as measured, plus the steps it did not run at the median step time
    res["quality"] = {"step": step, "decode": dec, "picture": total + dec + (25 - q_steps) * step}
    pipe.scheduler = diffusers.LCMScheduler.from_config(base)
    lat, per, total = _timed_steps(pipe, 4, guidance_scale=1.0, width=size, height=size)
    img, dec = _decode_tiny(tiny, lat)
    res["fast"] = {"total": total + dec, "image": img, "steps": per, "decode": dec}
    pipe.scheduler = diffusers.EulerAncestralDiscreteScheduler.from_config(
        base, timestep_spacing="trailing"
    )
    lat, per, total = _timed_steps(pipe, 1, guidance_scale=0.0, width=size, height=size)
    img, dec = _decode_tiny(tiny, lat)
    res["turbo"] = {"total": total + dec, "image": img, "steps": per, "decode": dec}
    return res


def easel(components: dict[str, Any], taesd: Any, size: int, q_steps: int) -> dict[str, Any]:
    from app.engine.tiny_networks import save_kohya_lora
    from app.models import registry
    from app.prompts.extra_networks import parse_prompt_networks

    device = detect_device()
    pipe = diffusers.StableDiffusionPipeline(**components, requires_safety_checker=False)
    lora_dir = Path(os.environ["EASEL_HOME"]) / "webui" / "Lora"
    save_kohya_lora(pipe, lora_dir / f"{LORA}.safetensors", seed=3, scale=0.0)
    registry.import_path(lora_dir.parent)
    pipe = pipe.to(device.torch_device, device.torch_dtype())
    engine = Engine(device)
    engine.load_pipeline(pipe, "sd15-random")
    engine.set_preview_decoder(taesd.to(dtype=device.torch_dtype()))
    res: dict[str, Any] = {"device": device.chip()}
    req = GenerationRequest(PROMPT, steps=q_steps, seed=1, width=size, height=size)
    events: list[Any] = []
    t0 = time.perf_counter()
    engine.generate(req, on_progress=events.append)
    total = time.perf_counter() - t0
    per = [b.elapsed - a.elapsed for a, b in zip(events, events[1:], strict=False)]
    step = float(np.median(per)) if per else events[0].elapsed
    res["quality"] = {"step": step, "picture": total + (25 - q_steps) * step}
    for name, model in (("fast", "sd15-random"), ("turbo", "sd-turbo-random")):
        engine.model_name = model
        if name == "fast":  # loading and fusing the LoRA is once per session: not per picture
            engine.loras.apply(pipe, parse_prompt_networks(f"<lora:{LORA}:1>").loras)
        t0 = time.perf_counter()
        out = engine.generate(req.replace(speed="fast"))
        res[name] = {
            "total": time.perf_counter() - t0,
            "image": np.asarray(out.images[0], dtype=np.float32) / 255,
            "recipe": out.notes[0] if out.notes else "",
        }
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--quality-steps", type=int, default=3)
    ap.add_argument("--arch", default="sd15", help="tiny: a quick check that every path runs")
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    threads = detect_device().threads
    if threads:
        torch.set_num_threads(threads)
    components = build_components(args.arch, seed=0)
    taesd = build_sd15_taesd()
    px = (args.size / 512) ** 2
    print(f"{args.arch} architecture, random weights, {args.size}x{args.size}, {threads} threads")
    b = bare(components, taesd, args.size, args.quality_steps)
    e = easel(components, taesd, args.size, args.quality_steps)  # casts the same weights
    bq = b["quality"]
    bare_q = bq["picture"]
    easel_q = e["quality"]["picture"]
    print(f"Easel device: {e['device']}")
    print(
        f"Quality (25 steps DPM++ 2M Karras, CFG 7, full VAE; {args.quality_steps} steps run, "
        f"extrapolated): bare fp32 {bare_q:.1f} s (step {bq['step']:.2f} s, decode "
        f"{bq['decode']:.2f} s), Easel {easel_q:.1f} s (step {e['quality']['step']:.2f} s); "
        f"ratio {easel_q / bare_q:.2f}"
    )
    for name, label in (("fast", "Fast (4-step LCM, CFG 1, TAESD)"), ("turbo", "Turbo 1-step")):
        ratio = e[name]["total"] / b[name]["total"]
        diff = float(np.abs(e[name]["image"] - b[name]["image"]).mean() * 255)
        print(
            f"{label}: bare fp32 {b[name]['total']:.1f} s, Easel {e[name]['total']:.1f} s; "
            f"ratio {ratio:.2f}; mean |Easel - fp32| {diff:.2f}/255  [{e[name]['recipe']}]"
        )
    flop = {
        "quality bare": (25 * CFG_STEP_TFLOP + VAE_TFLOP) * px / bare_q,
        "quality Easel": (25 * CFG_STEP_TFLOP + VAE_TFLOP) * px / easel_q,
        "fast bare": (4 * NOCFG_STEP_TFLOP + TAESD_TFLOP) * px / b["fast"]["total"],
        "fast Easel": (4 * NOCFG_STEP_TFLOP + TAESD_TFLOP) * px / e["fast"]["total"],
        "turbo bare": (NOCFG_STEP_TFLOP + TAESD_TFLOP) * px / b["turbo"]["total"],
        "turbo Easel": (NOCFG_STEP_TFLOP + TAESD_TFLOP) * px / e["turbo"]["total"],
    }
    print(
        "throughput (GFLOP/s; floor: fp32 222, bf16 446): "
        + ", ".join(f"{k} {v * 1000:.0f}" for k, v in flop.items())
    )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(f"peak RSS of the whole run (both paths, one process): {rss:.1f} GB")


if __name__ == "__main__":
    main()
