"""The webui's own sampling code (k-diffusion) against Easel on the same model, seed and prompt.

The webui samples SD 1.x with k-diffusion (modules/sd_samplers_kdiffusion.py): the UNet is
wrapped in ``k_diffusion.external.CompVisDenoiser`` (discrete sigmas from the model's
alphas_cumprod, no quantization: the webui's default), classifier-free guidance is
modules/sd_samplers_cfg_denoiser.py (cond and uncond in one batch, cond first,
``uncond + (cond - uncond) * scale``), the schedule is the sampler's "Automatic" one
(Uniform = ``model_wrap.get_sigmas(n)``, Karras = ``get_sigmas_karras`` between the model's
smallest and largest sigma), the start noise is ``randn(seed) * sigmas[0]``, and the picture is
``clamp((decode + 1) / 2) * 255`` truncated to uint8. This script does exactly that on the
tiny random-weight SD 1.x model (or SD 1.5's architecture with ``--arch sd15``), runs Easel's
``Engine.generate`` with the same request, and prints the max pixel difference of each
sampler. DDIM is not a k-diffusion sampler in the webui (it runs its own CompVis-style DDIM,
modules/sd_samplers_timesteps.py): its row compares Easel with diffusers' DDIMScheduler in the
CompVis configuration the webui's DDIM uses (leading timesteps + 1, final alpha from t=0).

k-diffusion comes from PyPI with --no-deps (``pip install --no-deps k-diffusion torchdiffeq``;
scipy, torchsde and tqdm are already there). Only ``k_diffusion.sampling`` and
``k_diffusion.external`` are loaded: the package's ``__init__`` and ``utils`` import
torchvision, which Easel never installs, so the package is stubbed with the one helper those
two modules use.

    .venv/bin/python bench/a1111_fidelity.py [--steps 20] [--size 64] [--arch tiny]
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
import types
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PROMPT = "a lighthouse on a rocky cliff at dusk, oil painting"
NEGATIVE = "blurry, low quality"
# Easel's sampler name -> (k-diffusion function, the webui's Automatic schedule for it)
KDIFF = {
    "Euler": ("sample_euler", "Uniform"),
    "DPM++ 2M Karras": ("sample_dpmpp_2m", "Karras"),
    "Heun": ("sample_heun", "Uniform"),
    "LMS": ("sample_lms", "Uniform"),
}


def load_k_diffusion() -> tuple[Any, Any]:
    """(k_diffusion.sampling, k_diffusion.external) without the package's __init__."""
    if "k_diffusion.sampling" in sys.modules:
        return sys.modules["k_diffusion.sampling"], sys.modules["k_diffusion.external"]
    spec = importlib.util.find_spec("k_diffusion")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(
            "k-diffusion is not installed: pip install --no-deps k-diffusion torchdiffeq"
        )
    package = types.ModuleType("k_diffusion")
    package.__path__ = list(spec.submodule_search_locations)
    utils = types.ModuleType("k_diffusion.utils")

    def append_dims(x: Any, target_dims: int) -> Any:
        return x[(...,) + (None,) * (target_dims - x.ndim)]

    utils.append_dims = append_dims  # type: ignore[attr-defined]
    package.utils = utils  # type: ignore[attr-defined]
    sys.modules["k_diffusion"] = package
    sys.modules["k_diffusion.utils"] = utils
    sampling = importlib.import_module("k_diffusion.sampling")
    external = importlib.import_module("k_diffusion.external")
    # The webui replaces to_d with the plain division (modules/sd_schedulers.py)
    sampling.to_d = lambda x, sigma, denoised: (x - denoised) / sigma
    return sampling, external


class CompVisModel:
    """What CompVisDenoiser needs of an ldm model: alphas_cumprod and apply_model."""

    def __init__(self, unet: Any, alphas_cumprod: Any) -> None:
        self.unet = unet
        self.alphas_cumprod = alphas_cumprod

    def apply_model(self, x: Any, t: Any, cond: Any) -> Any:
        return self.unet(x, t, encoder_hidden_states=cond).sample


class WebuiCFG:
    """modules/sd_samplers_cfg_denoiser.py's CFGDenoiser.forward for one prompt, batch 1."""

    def __init__(self, denoiser: Any) -> None:
        self.inner_model = denoiser

    def __call__(self, x: Any, sigma: Any, cond: Any, uncond: Any, cond_scale: float) -> Any:
        import torch

        x_in = torch.cat([x, x])
        sigma_in = torch.cat([sigma, sigma])
        x_out = self.inner_model(x_in, sigma_in, cond=torch.cat([cond, uncond]))
        denoised_uncond = x_out[-uncond.shape[0] :]
        return denoised_uncond + (x_out[0:1] - denoised_uncond) * cond_scale


def webui_conditioning(pipe: Any, prompt: str, negative: str) -> tuple[Any, Any]:
    from app.engine.conditioning import build_conditioning

    return build_conditioning(pipe, prompt, negative, 20, 1).at(0)


def webui_picture(
    pipe: Any, sampler: str, steps: int, cfg: float, seed: int, size: int
) -> tuple[Any, Any]:
    """The webui's picture as uint8 (its truncation) and as float in [0, 1]."""
    import numpy as np
    import torch

    sampling, external = load_k_diffusion()
    func, schedule = KDIFF[sampler]
    model = CompVisModel(pipe.unet, pipe.scheduler.alphas_cumprod.to(torch.float32))
    denoiser = external.CompVisDenoiser(model, quantize=False)
    if schedule == "Karras":
        sigma_min, sigma_max = denoiser.sigmas[0].item(), denoiser.sigmas[-1].item()
        sigmas = sampling.get_sigmas_karras(n=steps, sigma_min=sigma_min, sigma_max=sigma_max)
    else:
        sigmas = denoiser.get_sigmas(steps)
    cond, uncond = webui_conditioning(pipe, PROMPT, NEGATIVE)
    shape = (1, 4, size // 8, size // 8)
    x = torch.randn(shape, generator=torch.Generator("cpu").manual_seed(seed)) * sigmas[0]
    extra = {"cond": cond, "uncond": uncond, "cond_scale": cfg}
    with torch.inference_mode():
        latents = getattr(sampling, func)(
            WebuiCFG(denoiser), x, sigmas, extra_args=extra, disable=True
        )
        image = pipe.vae.decode(latents / pipe.vae.config.scaling_factor).sample
    image = torch.clamp((image[0] + 1.0) / 2.0, 0.0, 1.0).permute(1, 2, 0).numpy()
    return (255.0 * image).astype(np.uint8), image


def webui_ddim(pipe: Any, steps: int, cfg: float, seed: int, size: int) -> Any:
    """diffusers' DDIM in the CompVis configuration of the webui's DDIM (eta 0)."""
    import diffusers
    import numpy as np
    import torch

    ref = diffusers.StableDiffusionPipeline(**pipe.components)
    ref.scheduler = diffusers.DDIMScheduler.from_config(
        pipe.scheduler.config,
        timestep_spacing="leading",
        steps_offset=1,
        set_alpha_to_one=False,
        clip_sample=False,
    )
    ref.set_progress_bar_config(disable=True)
    cond, uncond = webui_conditioning(pipe, PROMPT, NEGATIVE)
    out = ref(
        prompt_embeds=cond,
        negative_prompt_embeds=uncond,
        num_inference_steps=steps,
        guidance_scale=cfg,
        width=size,
        height=size,
        generator=torch.Generator("cpu").manual_seed(seed),
        output_type="np",
    ).images[0]
    return (255.0 * out).astype(np.uint8), out


def webui_own_ddim(pipe: Any, steps: int, cfg: float, seed: int, size: int) -> Any:
    """The webui's own DDIM (modules/sd_samplers_timesteps_impl.py, eta 0), re-derived here:
    timesteps 1, 1 + 1000 // N, ...; it steps from each one to the one below and stops at
    t=1, so N steps make N - 1 UNet calls and end at alphas_cumprod[1], not at t=0."""
    import numpy as np
    import torch

    cond, uncond = webui_conditioning(pipe, PROMPT, NEGATIVE)
    alphas = pipe.scheduler.alphas_cumprod.to(torch.float64)
    timesteps = torch.clip(torch.arange(0, 1000, 1000 // steps) + 1, 0, 999)
    shape = (1, 4, size // 8, size // 8)
    x = torch.randn(shape, generator=torch.Generator("cpu").manual_seed(seed))
    with torch.inference_mode():
        for index in range(len(timesteps) - 1, 0, -1):
            t = timesteps[index]
            out = pipe.unet(
                torch.cat([x, x]), torch.cat([t[None], t[None]]), torch.cat([cond, uncond])
            ).sample
            e_t = out[1:] + (out[:1] - out[1:]) * cfg
            a_t, a_prev = alphas[t].item(), alphas[timesteps[index - 1]].item()
            pred_x0 = (x - (1 - a_t) ** 0.5 * e_t) / a_t**0.5
            x = a_prev**0.5 * pred_x0 + (1.0 - a_prev) ** 0.5 * e_t
        image = pipe.vae.decode(x / pipe.vae.config.scaling_factor).sample
    image = torch.clamp((image[0] + 1.0) / 2.0, 0.0, 1.0).permute(1, 2, 0).numpy()
    return (255.0 * image).astype(np.uint8), image


def easel_picture(engine: Any, sampler: str, steps: int, cfg: float, seed: int, size: int) -> Any:
    import numpy as np

    from app.request import GenerationRequest

    req = GenerationRequest(
        PROMPT,
        negative_prompt=NEGATIVE,
        sampler=sampler,
        steps=steps,
        cfg_scale=cfg,
        seed=seed,
        width=size,
        height=size,
    )
    return np.asarray(engine.generate(req).images[0])


def fidelity(
    engine: Any, pipe: Any, steps: int, cfg: float, seed: int, size: int
) -> dict[str, tuple[int, int]]:
    """Sampler -> (max pixel difference against the webui's saved PNG, against its
    picture rounded as Easel rounds)."""
    import numpy as np

    rows = {}
    for sampler in [*KDIFF, "DDIM", "DDIM (webui's own)"]:
        if sampler == "DDIM":
            webui_u8, webui_f = webui_ddim(pipe, steps, cfg, seed, size)
        elif sampler.startswith("DDIM"):
            webui_u8, webui_f = webui_own_ddim(pipe, steps, cfg, seed, size)
        else:
            webui_u8, webui_f = webui_picture(pipe, sampler, steps, cfg, seed, size)
        ours = easel_picture(engine, sampler.split(" (")[0], steps, cfg, seed, size)
        ours = ours.astype(np.int16)
        rounded = (webui_f * 255).round().astype(np.int16)
        rows[sampler] = (
            int(np.abs(ours - webui_u8.astype(np.int16)).max()),
            int(np.abs(ours - rounded).max()),
        )
    return rows


def build(arch: str) -> tuple[Any, Any]:
    import diffusers
    import torch

    from app.engine.device import DeviceInfo
    from app.engine.engine import Engine
    from app.engine.tiny import build_components

    torch.set_grad_enabled(False)
    pipe = diffusers.StableDiffusionPipeline(
        **build_components(arch), requires_safety_checker=False
    )
    pipe.set_progress_bar_config(disable=True)
    engine = Engine(DeviceInfo(kind="cpu", dtype="float32", name="CPU"))
    engine.load_pipeline(pipe, arch)
    return engine, pipe


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--cfg", type=float, default=7.0)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--arch", default="tiny")
    args = ap.parse_args()
    engine, pipe = build(args.arch)
    rows = fidelity(engine, pipe, args.steps, args.cfg, args.seed, args.size)
    print(f"{args.arch}, {args.size}x{args.size}, {args.steps} steps, CFG {args.cfg}")
    print(f"{'sampler':<20}{'vs webui PNG':>14}{'same rounding':>15}   goal <= 2/255")
    for sampler, (png, same) in rows.items():
        ref = " (vs diffusers' DDIM as CompVis configures it)" if sampler == "DDIM" else ""
        print(f"{sampler:<20}{png:>10}/255{same:>13}/255{ref}")


if __name__ == "__main__":
    main()
