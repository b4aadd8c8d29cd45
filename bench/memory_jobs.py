"""Whole jobs on a machine with little RAM: each speed path at SD 1.5 512 and SDXL 1024, and a
2048 px upscale, run by Easel's Engine in a memory cgroup capped as a small machine would be.

A cgroup (v1 ``memory.limit_in_bytes``, no swap) is what "a machine with 8 GB of RAM" means to
the kernel: page cache over the cap is reclaimed, anonymous memory over it gets the process
killed. Each case runs in a fresh interpreter that moves itself into the cgroup before
importing torch, loads a model folder from disk as the app does (random weights of the real
architectures, saved once as an fp16 variant like the hub's: SD 1.5 1.7 GB, SDXL 6.9 GB),
generates, and prints its peak: the process's peak RSS, its peak anonymous RSS (RssAnon) (sampled every
20 ms), the cgroup's peak charge (RSS + page cache), the seconds per step, and "finished" or
"killed". Without root (no cgroup) the cases run uncapped and the line says so.

Quality and Balanced run ``--steps`` steps (default 2: the peak does not grow with the step
count); Fast and Turbo run their recipes (4-step LCM-LoRA + TAESD; 1-step Turbo + TAESD).

    sudo .venv/bin/python bench/memory_jobs.py [--case NAME] [--models DIR] [--steps 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CGROUP = Path(os.environ.get("EASEL_BENCH_CGROUP", "/sys/fs/cgroup/memory/easel-bench"))
GB = 1024**3
PROMPT = "a lighthouse on a cliff at dusk, oil painting"
# case: (family, size, speed, model name the recipe sees, cap in GB)
CASES: dict[str, tuple[str, int, str, str, int]] = {
    "sd15-quality-512": ("sd15", 512, "quality", "sd15-random", 4),
    "sd15-balanced-512": ("sd15", 512, "balanced", "sd15-random", 4),
    "sd15-fast-512": ("sd15", 512, "fast", "sd15-random", 4),
    "sd15-turbo-512": ("sd15", 512, "fast", "sd-turbo-random", 4),
    "sdxl-quality-1024": ("sdxl", 1024, "quality", "sdxl-random", 8),
    "sdxl-turbo-1024": ("sdxl", 1024, "fast", "sdxl-turbo-random", 8),
    "upscale-2048": ("esrgan", 512, "x4", "RealESRGAN_x4plus-random", 4),
}


def build_sdxl(dtype: Any) -> Any:
    """SDXL base's architecture (UNet 2.57 G parameters, CLIP ViT-L, OpenCLIP bigG, VAE) with
    random weights, built directly in ``dtype`` (fp32 first would need 14 GB)."""
    import torch
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )
    from transformers import (
        CLIPTextConfig,
        CLIPTextModel,
        CLIPTextModelWithProjection,
    )

    from app.engine.tiny import build_tokenizer

    torch.manual_seed(0)
    before = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        unet = UNet2DConditionModel(
            sample_size=128,
            block_out_channels=(320, 640, 1280),
            layers_per_block=2,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
            cross_attention_dim=2048,
            attention_head_dim=[5, 10, 20],
            use_linear_projection=True,
            transformer_layers_per_block=[1, 2, 10],
            addition_embed_type="text_time",
            addition_time_embed_dim=256,
            projection_class_embeddings_input_dim=2816,
        )
        vae = AutoencoderKL(
            block_out_channels=(128, 256, 512, 512),
            down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4,
            layers_per_block=2,
            latent_channels=4,
            sample_size=1024,
            scaling_factor=0.13025,
        )
        common = {"vocab_size": 49408, "max_position_embeddings": 77}
        te1 = CLIPTextModel(
            CLIPTextConfig(
                hidden_size=768,
                intermediate_size=3072,
                num_hidden_layers=12,
                num_attention_heads=12,
                hidden_act="quick_gelu",
                projection_dim=768,
                **common,
            )
        )
        te2 = CLIPTextModelWithProjection(
            CLIPTextConfig(
                hidden_size=1280,
                intermediate_size=5120,
                num_hidden_layers=32,
                num_attention_heads=20,
                hidden_act="gelu",
                projection_dim=1280,
                **common,
            )
        )
    finally:
        torch.set_default_dtype(before)
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        steps_offset=1,
        timestep_spacing="leading",
    )
    return StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=te1,
        text_encoder_2=te2,
        tokenizer=build_tokenizer(49408),
        tokenizer_2=build_tokenizer(49408),
        unet=unet,
        scheduler=scheduler,
    )


def prepare(models: Path, family: str) -> Path:
    """The model folder (fp16 variant, safetensors), saved once."""
    import torch

    folder = models / f"{family}-random"
    if (folder / "model_index.json").is_file():
        return folder
    if family == "sd15":
        from diffusers import StableDiffusionPipeline

        from app.engine.tiny import build_components

        pipe = StableDiffusionPipeline(**build_components("sd15"), requires_safety_checker=False)
        pipe = pipe.to(torch.float16)
    else:
        pipe = build_sdxl(torch.float16)
    t0 = time.perf_counter()
    pipe.save_pretrained(folder, variant="fp16", safe_serialization=True)
    print(f"saved {folder} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return folder


class AnonPeak:
    """The process's peak anonymous RSS (what must fit in RAM), sampled every 20 ms."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, _status("RssAnon"))

    def stop(self) -> int:
        self._stop.set()
        return max(self.peak, _status("RssAnon"))


def _status(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return 0


def run_case(case: str, models: Path, steps: int) -> dict[str, Any]:
    family, size, speed, name, _cap = CASES[case]
    os.environ.setdefault("EASEL_HOME", tempfile.mkdtemp(prefix="easel-membench-"))
    anon = AnonPeak()
    import torch

    from app.engine.device import detect_device
    from app.engine.engine import Engine
    from app.engine.taesd import build_sd15_taesd
    from app.request import GenerationRequest

    torch.set_grad_enabled(False)
    device = detect_device()
    out: dict[str, Any] = {"case": case, "device": device.chip()}
    t0 = time.perf_counter()
    if family == "esrgan":
        from PIL import Image

        from app.engine.upscale import build_esrgan, upscale_tiled

        torch.manual_seed(0)
        net = build_esrgan(64, 23, 4).to(device.torch_dtype())
        result = upscale_tiled(net, Image.new("RGB", (size, size), (120, 80, 200)), 256, 16)
        assert result.size == (4 * size, 4 * size)
        out["seconds"] = round(time.perf_counter() - t0, 1)
    else:
        engine = Engine(device)
        engine.load(models / f"{family}-random", name)
        out["load_s"] = round(time.perf_counter() - t0, 1)
        out["after_load_anon_mb"] = round(_status("RssAnon") / 2**20)
        engine.set_preview_decoder(build_sd15_taesd().to(device.torch_dtype()))
        if speed == "fast" and "turbo" not in name:
            from app.engine.tiny_networks import save_kohya_lora
            from app.models import registry

            lora_dir = Path(os.environ["EASEL_HOME"]) / "webui" / "Lora"
            lora = lora_dir / "lcm-lora-bench.safetensors"
            save_kohya_lora(engine.pipeline("text"), lora, seed=3, scale=0.0)
            registry.import_path(lora_dir.parent)
        req = GenerationRequest(PROMPT, steps=steps, seed=1, width=size, height=size, speed=speed)
        events: list[Any] = []
        t1 = time.perf_counter()
        res = engine.generate(req, on_progress=events.append)
        assert res.images[0].size == (size, size)
        per = [b.elapsed - a.elapsed for a, b in zip(events, events[1:], strict=False)]
        out["steps"] = len(events)
        out["step_s"] = round(sorted(per)[len(per) // 2] if per else events[0].elapsed, 2)
        out["job_s"] = round(time.perf_counter() - t1, 1)
        out["notes"] = list(res.notes)
    out["peak_rss_mb"] = round(_status("VmHWM") / 2**20)  # ru_maxrss survives exec: not it
    out["peak_anon_mb"] = round(anon.stop() / 2**20)
    return out


def _cgroup(cap_gb: int) -> bool:
    """The bench's cgroup capped at ``cap_gb``, its peak reset; False without one."""
    try:
        CGROUP.mkdir(exist_ok=True)
        (CGROUP / "memory.limit_in_bytes").write_text(str(cap_gb * GB))
        (CGROUP / "memory.max_usage_in_bytes").write_text("0")
        (CGROUP / "memory.failcnt").write_text("0")
        return True
    except OSError:
        return False


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--case", choices=list(CASES), action="append")
    ap.add_argument("--models", type=Path, default=ROOT / "bench" / "out" / "models")
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--cap", type=int, help="GB for every case instead of its own cap")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    cases = args.case or list(CASES)
    if args.child:
        if CGROUP.is_dir():
            (CGROUP / "cgroup.procs").write_text(str(os.getpid()))
        print(json.dumps(run_case(cases[0], args.models, args.steps)), flush=True)
        return
    for family in sorted({CASES[c][0] for c in cases} - {"esrgan"}):
        prepare(args.models, family)
    for case in cases:
        cap = args.cap or CASES[case][4]
        capped = _cgroup(cap)
        cmd = [sys.executable, __file__, "--child", "--case", case, "--models", str(args.models),
               "--steps", str(args.steps)]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True)
        where = f"in a {cap} GB cgroup" if capped else "uncapped (no cgroup: run as root)"
        if proc.returncode:
            verdict = "killed (out of memory)" if proc.returncode in (-9, 137) else "failed"
            print(f"{case} {where}: {verdict}, exit {proc.returncode}\n{proc.stderr[-1500:]}")
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        if capped:
            r["cgroup_peak_mb"] = round(
                int((CGROUP / "memory.max_usage_in_bytes").read_text()) / 2**20
            )
        print(f"{case} {where}: finished {json.dumps(r)}", flush=True)


if __name__ == "__main__":
    main()
