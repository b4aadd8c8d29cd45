"""Shared by the LoRA and embedding tests: fresh tiny pipelines, an Easel engine on one, and
what diffusers itself makes with the same LoRA/embedding files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import diffusers
import numpy as np
import torch
from PIL import Image

from app.engine.device import DeviceInfo
from app.engine.engine import Engine
from app.request import GenerationRequest
from app.samplers import SAMPLERS

SAMPLER = "Euler"
STEPS = 3
SIZE = 64
CPU = DeviceInfo(kind="cpu", dtype="float32", name="CPU")


def fresh_pipe(arch: str = "tiny") -> Any:
    """A pipeline on its own components: LoRAs and embeddings change the modules they go
    into, so no two tests (or the engine and its reference) may share them."""
    from app.engine.tiny import build_components

    components = build_components(arch, seed=0)  # type: ignore[arg-type]
    if arch == "tiny-sdxl":
        return diffusers.StableDiffusionXLPipeline(**components)
    return diffusers.StableDiffusionPipeline(**components, requires_safety_checker=False)


def engine_on(arch: str = "tiny") -> Engine:
    engine = Engine(CPU)
    engine.load_pipeline(fresh_pipe(arch), f"{arch}-model")
    return engine


def request(prompt: str, negative: str = "", seed: int = 7, **kw: Any) -> GenerationRequest:
    settings: dict[str, Any] = {
        "sampler": SAMPLER,
        "steps": STEPS,
        "cfg_scale": 7.0,
        "width": SIZE,
        "height": SIZE,
        **kw,
    }
    return GenerationRequest(prompt, negative_prompt=negative, seed=seed, **settings)


def diffusers_picture(
    prompt: str,
    negative: str = "",
    *,
    arch: str = "tiny",
    loras: list[tuple[Path | dict[str, Any], float]] = (),  # type: ignore[assignment]
    embeddings: list[tuple[Path, str]] = (),  # type: ignore[assignment]
    seed: int = 7,
) -> Image.Image:
    """diffusers' own load_lora_weights + set_adapters / load_textual_inversion + pipeline."""
    pipe = fresh_pipe(arch)
    spec = SAMPLERS[SAMPLER]
    pipe.scheduler = getattr(diffusers, spec.scheduler).from_config(
        pipe.scheduler.config, **spec.options
    )
    pipe.set_progress_bar_config(disable=True)
    names, weights = [], []
    for i, (lora, weight) in enumerate(loras):
        name = f"ref{i}"
        if isinstance(lora, dict):
            pipe.load_lora_weights(lora, adapter_name=name)
        else:
            pipe.load_lora_weights(str(lora.parent), weight_name=lora.name, adapter_name=name)
        names.append(name)
        weights.append(weight)
    if names:
        pipe.set_adapters(names, weights)
    for path, token in embeddings:
        if arch == "tiny-sdxl":
            from safetensors.torch import load_file

            state = load_file(str(path))
            pipe.load_textual_inversion(
                state["clip_l"], token=token, text_encoder=pipe.text_encoder,
                tokenizer=pipe.tokenizer,
            )  # fmt: skip
            pipe.load_textual_inversion(
                state["clip_g"], token=token, text_encoder=pipe.text_encoder_2,
                tokenizer=pipe.tokenizer_2,
            )  # fmt: skip
        else:
            pipe.load_textual_inversion(str(path), token=token)
    out = pipe(
        prompt=prompt,
        negative_prompt=negative or None,
        num_inference_steps=STEPS,
        guidance_scale=7.0,
        width=SIZE,
        height=SIZE,
        generator=[torch.Generator("cpu").manual_seed(seed)],
    )
    return out.images[0]


def max_diff(a: Image.Image, b: Image.Image) -> int:
    d = np.abs(np.asarray(a, dtype=np.int16) - np.asarray(b.convert("RGB"), dtype=np.int16))
    return int(d.max())
