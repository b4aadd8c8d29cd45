"""Single-file checkpoints (``.safetensors`` / ``.ckpt``): what a file is, and loading it offline.

What a file is comes from its tensor names and shapes alone (for safetensors, from the header;
no tensor data is read):

- kind: a LoRA (``lora_unet_*``, ``*.lora_down.weight``, ``lora_A``/``lora_B``, LyCORIS), a
  standalone VAE (``encoder.*``/``decoder.*`` only), a textual-inversion embedding
  (``emb_params``, ``string_to_param``, SDXL ``clip_l``/``clip_g``) or a full checkpoint
  (``model.diffusion_model.*`` and friends). LoRAs are checked first: they too name UNet
  blocks, and must never be taken for checkpoints.
- family: SDXL when the SGM ``conditioner.embedders.1`` (OpenCLIP bigG) is there; SD 2.x when
  the text encoder is OpenCLIP (``cond_stage_model.model.*``); SD 1.x when it is Hugging Face
  CLIP (``cond_stage_model.transformer.*``); without a text encoder, the UNet's cross-attention
  width decides (768 SD1, 1024 SD2, 2048 SDXL). The UNet's input channels say inpainting (9).
- v-prediction cannot be read from weights. Easel follows diffusers' ``infer_diffusers_model_type``
  / ``fetch_diffusers_config``: every SD 2.x checkpoint except inpainting is given the SD 2.1
  (768, ``v_prediction``) config, and A1111 likewise runs SD 2 768 models as v. Exceptions that
  the file itself states win: ``modelspec.prediction_type`` / ``modelspec.architecture`` in the
  safetensors metadata, ``global_step == 875000`` (SD 2.0 base, the value diffusers' legacy
  loader tests) and the ``v_pred`` marker key ComfyUI/A1111 honour on SDXL v-models. SD 2.x
  512 "base" models carry none of these: pass ``prediction_type="epsilon"`` when loading them.

Loading hands diffusers ``from_single_file`` the family's config folder (``config_dir``), with
``local_files_only=True``, so nothing is fetched from the Hub; the pipeline class, the UNet's
input channels and the scheduler's prediction type come from our detection, not from diffusers'
own (which keys on tensor names and real-model sizes and calls any tiny or unusual file "v1").
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from app.errors import ModelLoadError, UnsafeModelFile
from app.models.safeload import (
    TensorMeta,
    file_sha256,
    load_pickle_state_dict,
    read_safetensors_header,
    save_safetensors_atomic,
)
from app.models.torchzip import is_torch_zip, verify_archive

Kind = Literal["checkpoint", "lora", "controlnet", "vae", "textual-inversion", "unknown"]
Family = Literal["sd1", "sd2", "sd2-v", "sdxl"]
PredictionType = Literal["epsilon", "v_prediction"]

PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")
_UNET = "model.diffusion_model."
_CONV_IN = _UNET + "input_blocks.0.0.weight"
_CONTEXT_FAMILY = {768: "sd1", 1024: "sd2", 2048: "sdxl"}
_LORA_MARKERS = (
    ".lora_down.",
    ".lora_up.",
    ".lora_A.",
    ".lora_B.",
    ".lora.down.",
    ".lora.up.",
    ".hada_w1_a",
    ".lokr_w1",
    "lora_magnitude_vector",
)
_TI_KEYS = {"emb_params", "clip_l", "clip_g", "string_to_param", "string_to_token"}


@dataclass(frozen=True)
class CheckpointInfo:
    """What a model file is. ``sha256_10`` (A1111's "Model hash") is computed on first use."""

    path: Path
    kind: Kind
    family: Family | None
    inpainting: bool
    format: Literal["safetensors", "ckpt"]
    size_bytes: int
    tensors: int
    prediction_type: PredictionType | None = None

    @cached_property
    def sha256_10(self) -> str:
        return file_sha256(self.path)[:10]


def _is_lora(keys: list[str]) -> bool:
    return any(
        k.startswith(("lora_unet_", "lora_te_", "lora_te1_", "lora_te2_"))
        or any(m in k for m in _LORA_MARKERS)
        for k in keys
    )


def _lora_family(shapes: dict[str, tuple[int, ...]]) -> Family | None:
    if any(k.startswith(("lora_te1_", "lora_te2_")) for k in shapes):
        return "sdxl"
    for key, shape in shapes.items():
        down = "lora_down" in key or "lora_A" in key
        if down and "attn2" in key and "to_k" in key and len(shape) == 2:
            family = _CONTEXT_FAMILY.get(shape[1])
            return "sd2-v" if family == "sd2" else family  # type: ignore[return-value]
    return None


def _ti_family(shapes: dict[str, tuple[int, ...]]) -> Family | None:
    if "clip_g" in shapes:
        return "sdxl"
    for shape in shapes.values():
        if shape:
            family = _CONTEXT_FAMILY.get(shape[-1])
            return "sd2-v" if family == "sd2" else family  # type: ignore[return-value]
    return None


def _context_dim(shapes: dict[str, tuple[int, ...]]) -> int | None:
    for key, shape in shapes.items():
        if key.startswith(_UNET) and "attn2.to_k.weight" in key and len(shape) == 2:
            return shape[1]
    return None


def _checkpoint_family(shapes: dict[str, tuple[int, ...]]) -> str | None:
    keys = shapes.keys()
    if any(k.startswith("conditioner.embedders.1.") for k in keys):
        return "sdxl"
    if any(k.startswith("conditioner.embedders.") for k in keys):
        return None  # the SDXL refiner (OpenCLIP only) or another SGM model: not supported
    if any(k.startswith("cond_stage_model.model.") for k in keys):
        return "sd2"
    if any(k.startswith("cond_stage_model.transformer.") for k in keys):
        return "sd1"
    context = _context_dim(shapes)
    return _CONTEXT_FAMILY.get(context) if context else None


def _prediction_type(
    family: str, inpainting: bool, keys: set[str], metadata: dict[str, str]
) -> PredictionType:
    stated = metadata.get("modelspec.prediction_type", "").lower()
    if stated in ("v", "v_prediction", "v-prediction"):
        return "v_prediction"
    if stated in ("epsilon", "eps"):
        return "epsilon"
    architecture = metadata.get("modelspec.architecture", "").lower()
    if architecture.endswith("-v") or "768-v" in architecture:
        return "v_prediction"
    if "v_pred" in keys:
        return "v_prediction"
    if family != "sd2" or inpainting:
        return "epsilon"
    if architecture.startswith("stable-diffusion-v2") or metadata.get("global_step") == "875000":
        return "epsilon"  # an SD 2 "base" (512, epsilon) model that says so
    return "v_prediction"


# A1111's models/ControlNet files: the original layout ("control_model.input_hint_block",
# sometimes without the prefix) or diffusers' ("controlnet_cond_embedding").
_CONTROLNET_PREFIXES = (
    "control_model.input_hint_block.",
    "input_hint_block.",
    "controlnet_cond_embedding.",
)


def _controlnet_family(shapes: dict[str, tuple[int, ...]]) -> Family | None:
    """sd1 or sdxl from the cross-attention width (768 / 2048); None when it has none."""
    widths = {s[1] for k, s in shapes.items() if k.endswith("attn2.to_k.weight") and len(s) == 2}
    if 2048 in widths:
        return "sdxl"
    if 768 in widths:
        return "sd1"
    if 1024 in widths:
        return "sd2"
    return None


def classify(
    tensors: dict[str, TensorMeta], metadata: dict[str, str] | None = None
) -> dict[str, Any]:
    """kind, family, inpainting and prediction_type from tensor names and shapes alone."""
    metadata = metadata or {}
    shapes = {k: v.shape for k, v in tensors.items()}
    keys = list(shapes)
    result: dict[str, Any] = {
        "kind": "unknown",
        "family": None,
        "inpainting": False,
        "prediction_type": None,
    }
    if _is_lora(keys):
        result.update(kind="lora", family=_lora_family(shapes))
        return result
    if any(k.startswith(_CONTROLNET_PREFIXES) for k in keys):
        result.update(kind="controlnet", family=_controlnet_family(shapes))
        return result
    model_prefixes = (_UNET, "cond_stage_model.", "conditioner.embedders.")
    if any(k.startswith(model_prefixes) for k in keys) and any(k.startswith(_UNET) for k in keys):
        result["kind"] = "checkpoint"
        family = _checkpoint_family(shapes)
        in_channels = shapes.get(_CONV_IN, (0, 4))[1]
        if in_channels not in (4, 9):
            family = None  # instruct-pix2pix (8), the x4 upscaler (7): other pipelines
        result["inpainting"] = in_channels == 9
        if family is not None:
            prediction = _prediction_type(family, in_channels == 9, set(keys), metadata)
            if family == "sd2" and prediction == "v_prediction":
                family = "sd2-v"
            result.update(family=family, prediction_type=prediction)
        return result
    roots = {k.removeprefix("first_stage_model.").removeprefix("vae.").split(".")[0] for k in keys}
    if {"encoder", "decoder"} <= roots <= {"encoder", "decoder", "quant_conv", "post_quant_conv"}:
        result["kind"] = "vae"
        return result
    if keys and len(keys) <= 4 and {k.split(".")[0] for k in keys} <= _TI_KEYS:
        result.update(kind="textual-inversion", family=_ti_family(shapes))
    elif len(keys) == 1 and 1 <= len(shapes[keys[0]]) <= 2 and shapes[keys[0]][-1] in (768, 1024):
        # diffusers' learned_embeds format: one tensor named after its token ("<cat-toy>").
        result.update(kind="textual-inversion", family=_ti_family(shapes))
    return result


# UNet weights whose rank every SD family shares; anything else there is not an SD model.
_UNET_RANKS = {
    _CONV_IN: 4,
    _UNET + "out.2.weight": 4,
    _UNET + "time_embed.0.weight": 2,
}


def _unet_shape_problem(tensors: dict[str, TensorMeta]) -> str | None:
    for key, meta in tensors.items():
        rank = _UNET_RANKS.get(key)
        if rank is None and key.startswith(_UNET) and "attn2.to_k.weight" in key:
            rank = 2
        if rank is not None and len(meta.shape) != rank:
            return f"its UNet weight {key} has shape {list(meta.shape)}"
    return None


def _is_pickle_path(path: Path) -> bool:
    return path.suffix.lower() in PICKLE_SUFFIXES


def inspect_checkpoint(path: str | Path) -> CheckpointInfo:
    """What ``path`` is. A safetensors file is judged by its header alone; a pickle is opened
    only through the allow-list (UnsafeModelFile otherwise). Raises ModelLoadError with a
    sentence saying what is wrong with a damaged file."""
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"{path.name} does not exist; check the path.")
    size = path.stat().st_size
    if _is_pickle_path(path):
        state, metadata = load_pickle_state_dict(path)
        tensors = {k: TensorMeta(str(v.dtype), tuple(v.shape)) for k, v in state.items()}
        fmt: Literal["safetensors", "ckpt"] = "ckpt"
    else:
        tensors, metadata = read_safetensors_header(path)
        fmt = "safetensors"
    if not _is_lora(list(tensors)) and (problem := _unet_shape_problem(tensors)):
        raise ModelLoadError(
            f"{path.name} is not a Stable Diffusion model ({problem}); "
            "check that it is an SD 1.x, 2.x or XL checkpoint."
        )
    found = classify(tensors, metadata)
    return CheckpointInfo(path=path, format=fmt, size_bytes=size, tensors=len(tensors), **found)


def convert_ckpt_to_safetensors(src: str | Path, dst: str | Path) -> Path:
    """Convert a pickle checkpoint to safetensors once: loaded through the allow-list (never
    unsafely), written atomically. When ``dst`` already is a complete safetensors file it is
    returned as is, so importing the same model again does not convert again."""
    src, dst = Path(src), Path(dst)
    if dst.is_file():
        try:
            read_safetensors_header(dst)
            return dst
        except ModelLoadError:
            pass  # a damaged earlier result: convert again
    if src.is_file() and is_torch_zip(src):
        verify_archive(src)  # a flipped byte in the weights is corrupt, not imported
    state, metadata = load_pickle_state_dict(src)
    if not state:
        raise ModelLoadError(f"{src.name} holds no tensors; check that it is a model file.")
    metadata["easel.converted_from"] = src.name
    try:
        return save_safetensors_atomic(state, dst, metadata)
    except OSError as exc:
        raise ModelLoadError(
            f"Could not write {dst.name} ({exc.strerror}); free some disk space and import "
            f"{src.name} again."
        ) from None
    except MemoryError:
        raise ModelLoadError(
            f"{src.name} needs more memory than this computer has to convert; close other "
            "programs and import it again."
        ) from None
    except Exception as exc:  # noqa: BLE001 - safetensors/torch refusals: one sentence
        raise ModelLoadError(
            f"{src.name} could not be converted to safetensors ({type(exc).__name__}); "
            "get a .safetensors version of this model."
        ) from None


def _config_json(config_dir: Path, name: str) -> dict[str, Any]:
    file = config_dir / name
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        raise ModelLoadError(
            f"The configuration files in {config_dir} are missing or damaged ({name}); "
            "connect to the internet once so Easel can download them again."
        ) from None


def _pipeline_class(family: str, inpainting: bool) -> Any:
    import diffusers

    if family == "sdxl":
        name = "StableDiffusionXLInpaintPipeline" if inpainting else "StableDiffusionXLPipeline"
    else:
        name = "StableDiffusionInpaintPipeline" if inpainting else "StableDiffusionPipeline"
    return getattr(diffusers, name)


def _check_config_matches(info: CheckpointInfo, config_dir: Path, index: dict[str, Any]) -> None:
    is_xl_config = "text_encoder_2" in index
    if is_xl_config != (info.family == "sdxl"):
        raise ModelLoadError(
            f"The configuration in {config_dir} is for a different model family than "
            f"{info.path.name} ({info.family}); use that family's configuration."
        )


def load_single_file_pipeline(
    path: str | Path,
    config_dir: str | Path,
    torch_dtype: Any = None,
    *,
    prediction_type: PredictionType | None = None,
) -> Any:
    """A diffusers pipeline (StableDiffusion[XL][Inpaint]Pipeline, as detected; safety checker
    off) from a single ``.safetensors`` checkpoint, configured from ``config_dir`` (a local
    folder with model_index.json, component configs and tokenizers) without any download.
    ``prediction_type`` overrides the detected one (for SD 2.x 512 epsilon models)."""
    path, config_dir = Path(path), Path(config_dir)
    info = inspect_checkpoint(path)
    if info.format != "safetensors":
        raise ModelLoadError(
            f"{path.name} is a pickle checkpoint; import it first so Easel converts it to "
            ".safetensors."
        )
    if info.kind != "checkpoint":
        what = {
            "lora": "a LoRA",
            "vae": "a VAE",
            "textual-inversion": "a textual-inversion embedding",
        }.get(info.kind)
        if what:
            raise ModelLoadError(
                f"{path.name} is {what}, not a checkpoint; load a checkpoint and apply it to that."
            )
        raise ModelLoadError(
            f"{path.name} is not a Stable Diffusion checkpoint Easel recognises; "
            "check that it is an SD 1.x, SD 2.x or SDXL model."
        )
    if info.family is None:
        raise ModelLoadError(
            f"{path.name} has an architecture Easel does not support (not SD 1.x, SD 2.x or "
            "SDXL text-to-image or inpainting); use a supported model."
        )
    index = _config_json(config_dir, "model_index.json")
    _check_config_matches(info, config_dir, index)
    unet_config = _config_json(config_dir, "unet/config.json")
    scheduler_name = (index.get("scheduler") or [None, None])[1]

    import diffusers
    from diffusers.loaders.single_file_utils import SingleFileComponentError

    prediction = prediction_type or info.prediction_type or "epsilon"
    kwargs: dict[str, Any] = {}
    try:
        scheduler_cls = getattr(diffusers, scheduler_name or "", None) or diffusers.DDIMScheduler
        kwargs["scheduler"] = scheduler_cls.from_pretrained(
            config_dir, subfolder="scheduler", prediction_type=prediction, local_files_only=True
        )
        in_channels = 9 if info.inpainting else 4
        if unet_config.get("in_channels") != in_channels:
            # The family's config is the text-to-image one; an inpainting file's UNet takes
            # latents + mask + masked image (9 channels) and must be built so.
            kwargs["unet"] = diffusers.UNet2DConditionModel.from_single_file(
                str(path),
                config=str(config_dir),
                subfolder="unet",
                in_channels=in_channels,
                local_files_only=True,
                torch_dtype=torch_dtype,
            )
        if info.family != "sdxl":
            kwargs.update(safety_checker=None, requires_safety_checker=False)
        kwargs.update(feature_extractor=None)
        pipe = _pipeline_class(info.family, info.inpainting).from_single_file(
            str(path),
            config=str(config_dir),
            local_files_only=True,
            torch_dtype=torch_dtype,
            **kwargs,
        )
    except (UnsafeModelFile, ModelLoadError):
        raise
    except SingleFileComponentError:
        raise ModelLoadError(
            f"{path.name} lacks part of the model (a text encoder or VAE); "
            "use a full checkpoint, not a UNet-only file."
        ) from None
    except (
        ValueError,
        KeyError,
        RuntimeError,
        OSError,
        IndexError,
        TypeError,
        AttributeError,
    ) as exc:
        raise ModelLoadError(
            f"{path.name} could not be loaded as {info.family} ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0][:200] if str(exc) else 'no detail'}); "
            "check that the file and its configuration belong together."
        ) from exc
    return pipe
