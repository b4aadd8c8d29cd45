"""Convert tiny diffusers pipelines to the original CompVis / SGM single-file key layout.

The inverse of diffusers' ``convert_ldm_unet_checkpoint``, ``convert_ldm_vae_checkpoint``,
``convert_ldm_clip_checkpoint`` and ``convert_open_clip_checkpoint`` (the mapping of the classic
``scripts/convert_diffusers_to_original_stable_diffusion.py``), so that the tests can write
single-file checkpoints shaped like the files users download, from weights whose diffusers
twin is known, and compare the two pipelines' images.

- SD 1.x: ``model.diffusion_model.*``, ``first_stage_model.*``,
  ``cond_stage_model.transformer.text_model.*`` (Hugging Face CLIP layout).
- SD 2.x: the text encoder in OpenCLIP layout, ``cond_stage_model.model.*``, with fused
  ``attn.in_proj_weight``.
- SDXL: ``conditioner.embedders.0.transformer.text_model.*`` (CLIP-L, Hugging Face layout) and
  ``conditioner.embedders.1.model.*`` (OpenCLIP bigG layout, with ``text_projection``).
"""

from __future__ import annotations

from typing import Any

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."

_UNET_TOP = {
    "time_embedding.linear_1": "time_embed.0",
    "time_embedding.linear_2": "time_embed.2",
    "add_embedding.linear_1": "label_emb.0.0",
    "add_embedding.linear_2": "label_emb.0.2",
    "conv_in": "input_blocks.0.0",
    "conv_norm_out": "out.0",
    "conv_out": "out.2",
}
_UNET_RESNET = [
    ("norm1", "in_layers.0"),
    ("conv1", "in_layers.2"),
    ("norm2", "out_layers.0"),
    ("conv2", "out_layers.3"),
    ("time_emb_proj", "emb_layers.1"),
    ("conv_shortcut", "skip_connection"),
]


def _unet_prefix_map(config: Any) -> list[tuple[str, str]]:
    """(diffusers prefix, original prefix) pairs for every block of a UNet2DConditionModel."""
    per_block = config.layers_per_block
    n_blocks = len(config.block_out_channels)
    pairs: list[tuple[str, str]] = []
    for b in range(n_blocks):
        for j in range(per_block):
            index = 1 + b * (per_block + 1) + j
            pairs.append((f"down_blocks.{b}.resnets.{j}.", f"input_blocks.{index}.0."))
            pairs.append((f"down_blocks.{b}.attentions.{j}.", f"input_blocks.{index}.1."))
        if b < n_blocks - 1:
            index = 1 + b * (per_block + 1) + per_block
            pairs.append((f"down_blocks.{b}.downsamplers.0.conv.", f"input_blocks.{index}.0.op."))
    pairs.append(("mid_block.resnets.0.", "middle_block.0."))
    pairs.append(("mid_block.attentions.0.", "middle_block.1."))
    pairs.append(("mid_block.resnets.1.", "middle_block.2."))
    for b, block_type in enumerate(config.up_block_types):
        has_attention = "CrossAttn" in block_type
        for j in range(per_block + 1):
            index = b * (per_block + 1) + j
            pairs.append((f"up_blocks.{b}.resnets.{j}.", f"output_blocks.{index}.0."))
            pairs.append((f"up_blocks.{b}.attentions.{j}.", f"output_blocks.{index}.1."))
        if b < n_blocks - 1:
            index = b * (per_block + 1) + per_block
            slot = 2 if has_attention else 1
            pairs.append((f"up_blocks.{b}.upsamplers.0.", f"output_blocks.{index}.{slot}."))
    return pairs


def unet_to_original(unet: Any) -> dict[str, Any]:
    pairs = _unet_prefix_map(unet.config)
    out: dict[str, Any] = {}
    for key, tensor in unet.state_dict().items():
        new = None
        for diffusers_name, original_name in _UNET_TOP.items():
            if key.startswith(diffusers_name + "."):
                new = original_name + key[len(diffusers_name) :]
        if new is None:
            for diffusers_prefix, original_prefix in pairs:
                if key.startswith(diffusers_prefix):
                    rest = key[len(diffusers_prefix) :]
                    if ".resnets." in diffusers_prefix:
                        for a, b in _UNET_RESNET:
                            rest = rest.replace(a + ".", b + ".", 1) if rest.startswith(a) else rest
                    new = original_prefix + rest
                    break
        if new is None:
            raise KeyError(f"no original name for UNet key {key}")
        out[UNET_PREFIX + new] = tensor.detach().clone()
    return out


def vae_to_original(vae: Any) -> dict[str, Any]:
    n_up = len(vae.config.up_block_types)
    out: dict[str, Any] = {}
    for key, tensor in vae.state_dict().items():
        new = key
        for side in ("encoder", "decoder"):
            new = new.replace(f"{side}.conv_norm_out.", f"{side}.norm_out.")
        for i in range(len(vae.config.down_block_types)):
            new = new.replace(f"encoder.down_blocks.{i}.resnets.", f"encoder.down.{i}.block.")
            new = new.replace(
                f"encoder.down_blocks.{i}.downsamplers.0.", f"encoder.down.{i}.downsample."
            )
        for i in range(n_up):
            # The original decoder counts its levels from the lowest resolution up.
            new = new.replace(
                f"decoder.up_blocks.{i}.resnets.", f"decoder.up.{n_up - 1 - i}.block."
            )
            new = new.replace(
                f"decoder.up_blocks.{i}.upsamplers.0.", f"decoder.up.{n_up - 1 - i}.upsample."
            )
        for i in range(2):
            new = new.replace(f"mid_block.resnets.{i}.", f"mid.block_{i + 1}.")
        new = new.replace("conv_shortcut.", "nin_shortcut.")
        if "mid_block.attentions.0." in new:
            new = new.replace("mid_block.attentions.0.", "mid.attn_1.")
            for a, b in (
                ("group_norm.", "norm."),
                ("to_q.", "q."),
                ("to_k.", "k."),
                ("to_v.", "v."),
            ):
                new = new.replace(a, b)
            new = new.replace("to_out.0.", "proj_out.")
            if tensor.ndim == 2:
                # The original attention uses 1x1 convolutions, not linear layers.
                tensor = tensor[:, :, None, None]
        out[VAE_PREFIX + new] = tensor.detach().clone()
    return out


def clip_to_original(text_encoder: Any, prefix: str) -> dict[str, Any]:
    """Hugging Face CLIP layout under ``prefix`` (always with the ``text_model.`` level, which
    transformers >= 5.6 flattened away in ``CLIPTextModel``)."""
    out: dict[str, Any] = {}
    for key, tensor in text_encoder.state_dict().items():
        if key.endswith("position_ids"):
            continue
        name = key if key.startswith("text_model.") else "text_model." + key
        out[prefix + name] = tensor.detach().clone()
    return out


def open_clip_to_original(text_encoder: Any, prefix: str) -> dict[str, Any]:
    """OpenCLIP layout under ``prefix``: resblocks with fused q/k/v ``in_proj``."""
    import torch

    state = {
        k.removeprefix("text_model."): v.detach().clone()
        for k, v in text_encoder.state_dict().items()
        if not k.endswith("position_ids")
    }
    hidden = text_encoder.config.hidden_size
    out: dict[str, Any] = {
        prefix + "token_embedding.weight": state.pop("embeddings.token_embedding.weight"),
        prefix + "positional_embedding": state.pop("embeddings.position_embedding.weight"),
        prefix + "ln_final.weight": state.pop("final_layer_norm.weight"),
        prefix + "ln_final.bias": state.pop("final_layer_norm.bias"),
    }
    if "text_projection.weight" in state:
        out[prefix + "text_projection"] = state.pop("text_projection.weight").T.contiguous()
    else:
        # Real SD 2 files carry OpenCLIP's projection although SD 2 never uses it; diffusers
        # reads its first dimension as the width to split in_proj by.
        out[prefix + "text_projection"] = torch.eye(hidden)
    for i in range(text_encoder.config.num_hidden_layers):
        src = f"encoder.layers.{i}."
        dst = f"{prefix}transformer.resblocks.{i}."
        for part in ("weight", "bias"):
            out[dst + f"attn.in_proj_{part}"] = torch.cat(
                [state.pop(f"{src}self_attn.{p}_proj.{part}") for p in ("q", "k", "v")]
            )
            out[dst + f"attn.out_proj.{part}"] = state.pop(f"{src}self_attn.out_proj.{part}")
            out[dst + f"ln_1.{part}"] = state.pop(f"{src}layer_norm1.{part}")
            out[dst + f"ln_2.{part}"] = state.pop(f"{src}layer_norm2.{part}")
            out[dst + f"mlp.c_fc.{part}"] = state.pop(f"{src}mlp.fc1.{part}")
            out[dst + f"mlp.c_proj.{part}"] = state.pop(f"{src}mlp.fc2.{part}")
    if state:
        raise KeyError(f"no OpenCLIP name for {sorted(state)}")
    return out


def pipeline_to_original(components: dict[str, Any], layout: str) -> dict[str, Any]:
    """One original-layout state dict for ``layout`` "sd1" (also inpainting), "sd2" or "sdxl"."""
    out = unet_to_original(components["unet"])
    out.update(vae_to_original(components["vae"]))
    if layout == "sd1":
        out.update(clip_to_original(components["text_encoder"], "cond_stage_model.transformer."))
    elif layout == "sd2":
        out.update(open_clip_to_original(components["text_encoder"], "cond_stage_model.model."))
    elif layout == "sdxl":
        out.update(
            clip_to_original(components["text_encoder"], "conditioner.embedders.0.transformer.")
        )
        out.update(
            open_clip_to_original(components["text_encoder_2"], "conditioner.embedders.1.model.")
        )
    else:
        raise ValueError(f"unknown layout {layout}")
    return {k: v.contiguous() for k, v in out.items()}
