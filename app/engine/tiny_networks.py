"""Random LoRAs and embeddings shaped for a given pipeline, in the formats people download.

For the tests and benchmarks (no download): the same files a trainer writes, with random
weights, for whatever pipeline they are given (the tiny models of ``app.engine.tiny`` or the
full SD 1.5 architecture):

- kohya/webui: ``lora_unet_<module path>.lora_down.weight`` / ``.lora_up.weight`` (+ ``.alpha``),
  ``lora_te_`` (SDXL: ``lora_te1_``/``lora_te2_``); SDXL UNet keys either in diffusers naming or
  in kohya's SGM naming (``input_blocks_4_1_...``) as sd-scripts writes them for SDXL;
- diffusers/PEFT: built with ``peft.LoraConfig`` + ``get_peft_model_state_dict`` and written with
  the pipeline's own ``save_lora_weights``;
- embeddings: ``emb_params`` / ``clip_l`` + ``clip_g`` safetensors and the webui's ``.pt``.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

ATTENTION = ("to_q", "to_k", "to_v", "to_out.0")
TEXT_ATTENTION = ("q_proj", "k_proj", "v_proj", "out_proj")


def _linears(module: Any, suffixes: tuple[str, ...]) -> list[tuple[str, Any]]:
    import torch

    return [
        (name, m)
        for name, m in module.named_modules()
        if isinstance(m, torch.nn.Linear) and name.endswith(suffixes)
    ]


def _sgm_name(name: str, layers_per_block: int) -> str:
    """diffusers UNet module path -> kohya's SGM path for SDXL (attention modules only)."""
    parts = name.split(".")
    if parts[0] == "down_blocks" and parts[2] == "attentions":
        block = 1 + int(parts[1]) * (layers_per_block + 1) + int(parts[3])
        return ".".join(["input_blocks", str(block), "1", *parts[4:]])
    if parts[0] == "up_blocks" and parts[2] == "attentions":
        block = int(parts[1]) * (layers_per_block + 1) + int(parts[3])
        return ".".join(["output_blocks", str(block), "1", *parts[4:]])
    if parts[0] == "mid_block" and parts[1] == "attentions":
        return ".".join(["middle_block", "1", *parts[3:]])
    return name


def kohya_lora(
    pipe: Any,
    *,
    rank: int = 4,
    alpha: float | None = None,
    seed: int = 0,
    scale: float = 0.2,
    text_encoder: bool = True,
    sgm: bool = False,
) -> dict[str, Any]:
    """A kohya-format LoRA state dict for ``pipe``'s attention layers (and text encoders)."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    out: dict[str, Any] = {}

    def add(prefix: str, name: str, m: Any) -> None:
        key = prefix + name.replace(".", "_")
        out[key + ".lora_down.weight"] = torch.randn(rank, m.in_features, generator=gen) * scale
        out[key + ".lora_up.weight"] = torch.randn(m.out_features, rank, generator=gen) * scale
        if alpha is not None:
            out[key + ".alpha"] = torch.tensor(float(alpha))

    lpb = pipe.unet.config.layers_per_block
    for name, m in _linears(pipe.unet, ATTENTION):
        add("lora_unet_", _sgm_name(name, lpb) if sgm else name, m)
    if text_encoder:
        xl = getattr(pipe, "text_encoder_2", None) is not None
        encoders = [("lora_te1_" if xl else "lora_te_", pipe.text_encoder)]
        if xl:
            encoders.append(("lora_te2_", pipe.text_encoder_2))
        for prefix, te in encoders:
            for name, m in _linears(te, TEXT_ATTENTION):
                # kohya names CLIP's modules from text_model (transformers 4's layout).
                add(prefix, name if name.startswith("text_model") else "text_model." + name, m)
    return out


def save_safetensors(tensors: dict[str, Any], path: str | Path, **metadata: str) -> Path:
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path), metadata=metadata or None)
    return path


def save_kohya_lora(pipe: Any, path: str | Path, **options: Any) -> Path:
    metadata = options.pop("metadata", {})
    return save_safetensors(kohya_lora(pipe, **options), path, **metadata)


def save_peft_lora(
    pipe: Any,
    path: str | Path,
    *,
    rank: int = 4,
    alpha: int = 8,
    seed: int = 0,
    scale: float = 0.3,
    text_encoder: bool = True,
) -> Path:
    """A diffusers/PEFT LoRA file, made the way diffusers' training scripts make one."""
    import torch
    from peft import LoraConfig, inject_adapter_in_model
    from peft.utils import get_peft_model_state_dict

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)

    def layers(model: Any, targets: tuple[str, ...]) -> tuple[dict[str, Any], dict[str, Any]]:
        config = LoraConfig(
            r=rank, lora_alpha=alpha, target_modules=list(targets), init_lora_weights=False
        )
        # peft's own injection (transformers' add_adapter wants a newer peft than PyPI has).
        model = inject_adapter_in_model(config, copy.deepcopy(model))
        state = {k: v.detach() * scale for k, v in get_peft_model_state_dict(model).items()}
        return state, config.to_dict()

    unet_layers, unet_meta = layers(pipe.unet, ATTENTION)
    kwargs: dict[str, Any] = {
        "unet_lora_layers": unet_layers,
        "unet_lora_adapter_metadata": unet_meta,
    }
    if text_encoder:
        kwargs["text_encoder_lora_layers"], kwargs["text_encoder_lora_adapter_metadata"] = layers(
            pipe.text_encoder, TEXT_ATTENTION
        )
        if getattr(pipe, "text_encoder_2", None) is not None:
            te2, te2_meta = layers(pipe.text_encoder_2, TEXT_ATTENTION)
            kwargs["text_encoder_2_lora_layers"] = te2
            kwargs["text_encoder_2_lora_adapter_metadata"] = te2_meta
    type(pipe).save_lora_weights(str(path.parent), weight_name=path.name, **kwargs)
    return path


def embedding_vectors(width: int, vectors: int = 2, seed: int = 0, scale: float = 1.0) -> Any:
    import torch

    gen = torch.Generator().manual_seed(seed)
    return torch.randn(vectors, width, generator=gen) * scale


def save_embedding(pipe: Any, path: str | Path, vectors: int = 2, seed: int = 0) -> Path:
    """An embedding for ``pipe`` in the format its suffix says: ``.safetensors`` (emb_params,
    or clip_l + clip_g for SDXL) or ``.pt`` (the webui's string_to_param pickle)."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    width = pipe.text_encoder.get_input_embeddings().weight.shape[-1]
    te2 = getattr(pipe, "text_encoder_2", None)
    if te2 is not None:
        width_2 = te2.get_input_embeddings().weight.shape[-1]
        tensors = {
            "clip_l": embedding_vectors(width, vectors, seed),
            "clip_g": embedding_vectors(width_2, vectors, seed + 1),
        }
    else:
        tensors = {"emb_params": embedding_vectors(width, vectors, seed)}
    if path.suffix == ".pt":
        data = {
            "string_to_token": {"*": 265},
            "string_to_param": {"*": tensors["emb_params"]},
            "name": path.stem,
            "step": 100,
            "sd_checkpoint": "0123456789",
            "sd_checkpoint_name": "tiny",
        }
        torch.save(data, path)
        return path
    return save_safetensors(tensors, path)
