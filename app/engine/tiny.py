"""Random-weight Stable Diffusion components built in memory, with no download.

Used by the tests, the benchmarks and the frozen app's ``--selftest``: the real pipelines run
on them exactly as on downloaded weights. ``arch="tiny"`` is a few MB and runs in well under
a second per step on a CPU; ``arch="sd15"`` has Stable Diffusion 1.5's full architecture
(UNet 860 M, CLIP ViT-L text encoder, VAE) with random weights, for benchmarks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

Arch = Literal["tiny", "tiny-inpaint", "sd15", "tiny-sd2", "tiny-sdxl"]


def _byte_vocab(size: int) -> tuple[dict[str, int], list[str]]:
    # A byte-level BPE vocabulary with no merges: every character becomes a token. Enough for
    # CLIPTokenizer to encode any prompt the way the real one does (bos, ids, eos, padding).
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    bs += list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    chars = [chr(c) for c in cs]
    tokens = chars + [c + "</w>" for c in chars]
    vocab = {tok: i for i, tok in enumerate(tokens)}
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    assert len(vocab) <= size
    return vocab, []


def build_tokenizer(vocab_size: int = 1000) -> Any:
    from transformers import CLIPTokenizer

    vocab, merges = _byte_vocab(vocab_size)
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=77)


def build_components(arch: Arch = "tiny", seed: int = 0) -> dict[str, Any]:
    """The components of a StableDiffusionPipeline with random weights (fp32, CPU).

    ``"tiny-sd2"`` and ``"tiny-sdxl"`` give the components of a tiny SD 2.x (v-prediction) and
    a tiny SDXL pipeline instead (see ``build_sd2_components`` / ``build_sdxl_components``).
    """
    if arch == "tiny-sd2":
        return build_sd2_components(seed)
    if arch == "tiny-sdxl":
        return build_sdxl_components(seed)
    import torch
    from diffusers import AutoencoderKL, PNDMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    if arch == "sd15":
        unet = UNet2DConditionModel(
            sample_size=64,
            in_channels=4,
            out_channels=4,
            block_out_channels=(320, 640, 1280, 1280),
            layers_per_block=2,
            down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
            up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
            cross_attention_dim=768,
            attention_head_dim=8,
        )
        vae = AutoencoderKL(
            in_channels=3,
            out_channels=3,
            latent_channels=4,
            block_out_channels=(128, 256, 512, 512),
            down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4,
            layers_per_block=2,
            sample_size=512,
        )
        text_config = CLIPTextConfig(
            vocab_size=49408,
            hidden_size=768,
            intermediate_size=3072,
            num_hidden_layers=12,
            num_attention_heads=12,
            max_position_embeddings=77,
            hidden_act="quick_gelu",
            projection_dim=768,
        )
        vocab_size = 49408
    else:
        unet = UNet2DConditionModel(
            sample_size=8,
            in_channels=9 if arch == "tiny-inpaint" else 4,
            out_channels=4,
            block_out_channels=(32, 64),
            layers_per_block=1,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            cross_attention_dim=32,
            attention_head_dim=4,
            norm_num_groups=8,
        )
        vae = AutoencoderKL(
            in_channels=3,
            out_channels=3,
            latent_channels=4,
            block_out_channels=(16, 32, 32, 32),
            down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4,
            layers_per_block=1,
            norm_num_groups=8,
            sample_size=64,
        )
        text_config = CLIPTextConfig(
            vocab_size=1000,
            hidden_size=32,
            intermediate_size=37,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=77,
            projection_dim=32,
            bos_token_id=512,
            eos_token_id=513,
            pad_token_id=513,
        )
        vocab_size = 1000
    text_encoder = CLIPTextModel(text_config)
    scheduler = PNDMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        num_train_timesteps=1000,
        skip_prk_steps=True,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    for module in (unet, vae, text_encoder):
        module.eval()  # type: ignore[union-attr]
    return {
        "unet": unet,
        "vae": vae,
        "text_encoder": text_encoder,
        "tokenizer": build_tokenizer(vocab_size),
        "scheduler": scheduler,
        "safety_checker": None,
        "feature_extractor": None,
        "image_encoder": None,
    }


def save_model_folder(path: str | Path, arch: Arch = "tiny", seed: int = 0) -> Path:
    """Write a diffusers-format model folder (model_index.json + components) to ``path``."""
    from diffusers import (
        StableDiffusionInpaintPipeline,
        StableDiffusionPipeline,
        StableDiffusionXLPipeline,
    )

    pipe: Any
    if arch == "tiny-sdxl":
        pipe = StableDiffusionXLPipeline(**build_components(arch, seed))
    else:
        cls = StableDiffusionInpaintPipeline if arch == "tiny-inpaint" else StableDiffusionPipeline
        pipe = cls(**build_components(arch, seed), requires_safety_checker=False)
    out = Path(path)
    pipe.save_pretrained(out, safe_serialization=True)
    return out


def _tiny_vae() -> Any:
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        block_out_channels=(16, 32, 32, 32),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        layers_per_block=1,
        norm_num_groups=8,
        sample_size=64,
    )


def _tiny_text_config(hidden: int, act: str = "quick_gelu", projection_dim: int = 32) -> Any:
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        vocab_size=1000,
        hidden_size=hidden,
        intermediate_size=hidden + 5,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=77,
        hidden_act=act,
        projection_dim=projection_dim,
        bos_token_id=512,
        eos_token_id=513,
        pad_token_id=513,
    )


def build_sd2_components(seed: int = 0) -> dict[str, Any]:
    """A tiny SD 2.x-like pipeline: linear attention projections, per-block head counts, a
    48-wide text encoder (not SD1-tiny's 32, as 1024 is not SD1's 768) and v-prediction."""
    import torch
    from diffusers import DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=8,
        in_channels=4,
        out_channels=4,
        block_out_channels=(32, 64),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=48,
        attention_head_dim=[2, 4],
        use_linear_projection=True,
        norm_num_groups=8,
    )
    text_encoder = CLIPTextModel(_tiny_text_config(48, act="gelu", projection_dim=48))
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        num_train_timesteps=1000,
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
        prediction_type="v_prediction",
    )
    components = {
        "unet": unet,
        "vae": _tiny_vae(),
        "text_encoder": text_encoder,
        "tokenizer": build_tokenizer(1000),
        "scheduler": scheduler,
        "safety_checker": None,
        "feature_extractor": None,
        "image_encoder": None,
    }
    for name in ("unet", "vae", "text_encoder"):
        components[name].eval()
    return components


def build_sdxl_components(seed: int = 0) -> dict[str, Any]:
    """A tiny SDXL-like pipeline: two text encoders of different widths (32 and 64, the second
    with a projection), a UNet conditioned on their concatenation (96) plus the size/crop
    "text_time" embedding, and an Euler scheduler as SDXL ships with.

    The widths must differ, as CLIP-L's 768 and bigG's 1280 do: diffusers' single-file loader
    tells the two encoders apart by their position-embedding width."""
    import torch
    from diffusers import EulerDiscreteScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(seed)
    projection_dim = 32
    unet = UNet2DConditionModel(
        sample_size=8,
        in_channels=4,
        out_channels=4,
        block_out_channels=(32, 64),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32 + 64,
        attention_head_dim=[2, 4],
        use_linear_projection=True,
        transformer_layers_per_block=(1, 2),
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        projection_class_embeddings_input_dim=6 * 8 + projection_dim,
        norm_num_groups=8,
    )
    text_encoder = CLIPTextModel(_tiny_text_config(32))
    text_encoder_2 = CLIPTextModelWithProjection(
        _tiny_text_config(64, act="gelu", projection_dim=projection_dim)
    )
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        num_train_timesteps=1000,
        steps_offset=1,
        timestep_spacing="leading",
    )
    components = {
        "unet": unet,
        "vae": _tiny_vae(),
        "text_encoder": text_encoder,
        "text_encoder_2": text_encoder_2,
        "tokenizer": build_tokenizer(1000),
        "tokenizer_2": build_tokenizer(1000),
        "scheduler": scheduler,
        "feature_extractor": None,
        "image_encoder": None,
    }
    for name in ("unet", "vae", "text_encoder", "text_encoder_2"):
        components[name].eval()
    return components
