"""The engine's model slot: loading a model folder or a single-file checkpoint (paging the UNet
when RAM is short), placing it by the device policy, precision and paging changes, the
optional compile, the preview decoder, and the mode pipelines sharing the base's weights.

A mixin of ``Engine`` (app/engine/engine.py), which owns the state declared below and runs
the jobs; kept apart so each module stays about one thing.
"""

from __future__ import annotations

import gc
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from app.engine.device import DeviceInfo, detect_device
from app.errors import ModelLoadError

log = logging.getLogger(__name__)


class LoadedModel:
    """The loaded model and what changes it; ``Engine`` sets every attribute in __init__."""

    _device: DeviceInfo | None
    _pipes: dict[str, Any]
    _scheduler_config: Any
    model_name: str
    model_hash: str
    model_path: Path | None
    family: str
    inpainting: bool
    _controlnets: dict[str, Any]
    _paging: Path | None
    _load_note: str
    tiny_decoder: Any
    _tiny_looked: bool
    compile_model: bool
    _compiled: Any
    _compile_told: bool

    # -- model -----------------------------------------------------------------------------
    @property
    def device(self) -> DeviceInfo:
        if self._device is None:
            self._device = detect_device()
        return self._device

    @property
    def loaded(self) -> bool:
        return bool(self._pipes)

    def load(self, model: str | Path, name: str | None = None, model_hash: str = "") -> None:
        """Load a diffusers model folder, or a single .safetensors checkpoint, once."""
        path = Path(model).expanduser()
        if not path.exists():
            raise ModelLoadError(f"The model {str(path)!r} does not exist; pick another model.")
        if path.is_file():
            self._load_single_file(path, name)
            return
        if not (path / "model_index.json").is_file():
            raise ModelLoadError(
                f"{str(path)!r} is not a diffusers model folder (it has no model_index.json); "
                "choose the folder that contains model_index.json."
            )
        from diffusers import DiffusionPipeline
        from diffusers.utils import logging as diffusers_logging
        from transformers.utils import logging as transformers_logging

        diffusers_logging.disable_progress_bar()
        transformers_logging.disable_progress_bar()
        variant = _variant(path)
        self.unload()  # the old model's memory (and pages) go before the new one loads
        try:
            unet, note = self._paged_unet(path, variant)
            pipe = DiffusionPipeline.from_pretrained(
                path,
                dtype=self.device.torch_dtype(),
                variant=variant,
                safety_checker=None,
                requires_safety_checker=False,
                local_files_only=True,
                **({"unet": unet} if unet is not None else {}),
            )
        except (OSError, ValueError, RuntimeError, KeyError, TypeError) as exc:
            raise ModelLoadError(
                f"The model in {str(path)!r} could not be loaded; it is incomplete or corrupt "
                f"({_short(exc)}); download or import it again."
            ) from exc
        self.load_pipeline(pipe, name or display_name(path), model_hash)
        self.model_path = path
        self._load_note = note

    def _load_single_file(self, path: Path, name: str | None) -> None:
        from app.models.checkpoints import inspect_checkpoint, load_single_file_pipeline
        from app.models.download import family_config_dir
        from app.models.registry import model_hash

        info = inspect_checkpoint(path)
        config = family_config_dir(info.family) if info.family else None
        if info.kind == "checkpoint" and info.family and config is None:
            label = {"sd1": "SD 1.x", "sd2": "SD 2.x", "sd2-v": "SD 2.x", "sdxl": "SDXL"}
            raise ModelLoadError(
                f"{path.name} is an {label.get(info.family, info.family)} model, whose small "
                "config files are not on this computer yet; connect to the internet once and "
                "open the model manager so Easel can fetch them (a few MB)."
            )
        from app.models.prediction import prediction_override

        pipe = load_single_file_pipeline(
            path,
            config or path.parent,
            self.device.torch_dtype(),
            prediction_type=prediction_override(path),  # type: ignore[arg-type]
        )
        self.load_pipeline(pipe, name or path.stem, model_hash(path))
        self.model_path = path

    def load_pipeline(self, pipe: Any, name: str, model_hash: str = "") -> None:
        """Adopt an already built pipeline (tests, self-test, single-file imports)."""
        self.unload()
        if getattr(pipe, "unet", None) is None or getattr(pipe, "vae", None) is None:
            raise ModelLoadError(f"{name} is not a Stable Diffusion model; pick another model.")
        self.inpainting = pipe.unet.config.in_channels == 9
        self.family = "sdxl" if "XL" in type(pipe).__name__ else "sd"
        self._scheduler_config = pipe.scheduler.config
        self.model_name = name
        self.model_hash = model_hash
        self.tiny_decoder, self._tiny_looked = None, False
        self._compile_told = False
        self._place(pipe)
        if self.family == "sdxl":  # fp16 VAE, 512 px tiles: app/engine/sdxl.py
            from app.engine.sdxl import adapt_sdxl

            adapt_sdxl(pipe, self.device)
        self._pipes = {"base": pipe}

    def unload(self) -> None:
        self.model_path = None
        self._load_note = ""
        self._controlnets.clear()
        self._weights_changed(forget_failure=True)
        if not self._pipes:
            return  # a full collection walks torch's ~445k import-time objects: skip it
        self._pipes.clear()
        gc.collect()
        if self._paging is not None:
            from app.engine.paging import clear

            self._paging = None
            clear()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def _place(self, pipe: Any) -> None:
        dev = self.device
        if dev.cpu_offload:
            pipe.enable_model_cpu_offload()
        else:
            pipe.to(dev.torch_device)
        if dev.channels_last:  # the convolution-heavy networks; the text encoders have none
            for net in (pipe.unet, pipe.vae):
                dev.place(net)
        if dev.attention_slicing:
            pipe.enable_attention_slicing()
        if dev.vae_tiling:
            pipe.vae.enable_tiling()
        pipe.set_progress_bar_config(disable=True)

    def set_precision(self, precision: str) -> None:
        """Settings' precision override ("auto", "fp32", "bf16"): the loaded weights are cast
        in place (no reload); the header chip shows ``device.chip()`` afterwards."""
        from app.engine.device import detect_device

        # only the dtype changes: the rest of the policy (layout, slicing, offload) stays
        dev = replace(self.device, dtype=detect_device(self.device.kind, precision).dtype)
        if dev.dtype == self.device.dtype:
            return
        self._weights_changed()
        wider = dev.torch_dtype().itemsize > self.device.torch_dtype().itemsize
        self._device = dev
        dtype = dev.torch_dtype()
        if wider and self.model_path is not None:
            # Back up to fp32: the bf16 weights lost bits, so read them from disk again.
            self.load(self.model_path, self.model_name, self.model_hash)
            return
        if self._pipes:
            self._pipes["base"].to(dtype=dtype)
        for net in self._controlnets.values():
            net.to(dtype=dtype)
        if self.tiny_decoder is not None:
            self.tiny_decoder.vae.to(dtype=dtype)

    def page_weights(self) -> int:
        """Move the loaded networks' weights (and the ControlNets') to memory-mapped files
        (app/engine/paging.py), once per model; returns the bytes paged."""
        from app.engine.paging import NETWORKS, new_folder, page_networks

        self._weights_changed()  # paged models run eager: see _compile_notes
        base = self._pipes["base"]
        nets = {n: getattr(base, n, None) for n in NETWORKS}
        nets.update({f"controlnet-{i}": c for i, c in enumerate(self._controlnets.values())})
        if self._paging is None:
            self._paging = new_folder()
        total = page_networks(nets, self._paging)
        gc.collect()
        log.info("paged %.1f GB of weights into %s", total / 1024**3, self._paging)
        return total

    def _paged_unet(self, path: Path, variant: str | None) -> tuple[Any, str]:
        """On a CPU short of RAM, the UNet loaded alone and paged before the rest loads, so
        the load never holds the whole model in RAM at once, and the sentence saying so;
        (None, "") when RAM suffices."""
        from app.engine.memory import ram_free
        from app.engine.paging import new_folder, page_networks, short_of_ram, weights_on_disk

        if self.device.kind != "cpu" or not (path / "unet").is_dir():
            return None, ""
        weights, free = weights_on_disk(path, variant), ram_free()
        if not short_of_ram(weights, free):
            return None, ""
        from diffusers import UNet2DConditionModel

        unet = UNet2DConditionModel.from_pretrained(
            path,
            subfolder="unet",
            torch_dtype=self.device.torch_dtype(),
            variant=variant,
            local_files_only=True,
        )
        self.device.place(unet)
        self._paging = new_folder()
        page_networks({"unet": unet}, self._paging)
        gc.collect()
        return unet, (
            f"Loaded the UNet paged from disk: the model's {weights / 1024**3:.1f} GB would take "
            f"most of the {free / 1024**3:.1f} GB of RAM free (close other apps to run faster)."
        )

    # -- torch.compile (app/engine/compile.py) ---------------------------------------------
    def set_compile(self, on: bool) -> None:
        """Settings' "Compile the model": the UNet and the VAE decoder are compiled at the next
        job's first call (its notes say how long the warm-up took); off puts eager back."""
        if on != self.compile_model:
            self.compile_model = on
            self._compile_told = False
            self._weights_changed(forget_failure=True)

    def _weights_changed(self, forget_failure: bool = False) -> None:
        """Weights changed in place (LoRA fused, dtype cast, paged, another model): the
        compiled graphs hold the old ones frozen, so they go and the next job compiles again.
        A failed compile stays failed (eager, said once) until the model or the setting changes."""
        compiled = self._compiled
        if compiled is not None and (forget_failure or not compiled.failed):
            compiled.restore()
            self._compiled = None

    def _compile_notes(self) -> list[str]:
        """Compile the loaded model when the setting asks and this computer can; the sentence
        saying why not, once."""
        if self._compiled is not None:
            self._compiled.fresh.clear()  # a cancelled job's warm-up is not this job's
            return []
        if not self.compile_model:
            return []
        from app.engine.compile import compile_pipeline, compile_problem

        problem = compile_problem(self.device)
        if problem is None and self._paging is not None:
            # Frozen graphs keep their own copy of the weights in RAM, the opposite of paging.
            problem = (
                "torch.compile is off while the weights are paged from disk (too little RAM "
                "for a compiled copy); running without it."
            )
        if problem is not None:
            told, self._compile_told = self._compile_told, True
            return [] if told else [problem]
        self._compiled = compile_pipeline(self._pipes["base"], self.device)
        return []

    def preview_decoder(self) -> Any:
        """The installed TAESD for the loaded family (a ``TinyDecoder``), or None."""
        if not self._tiny_looked:
            from app.engine.taesd import find_decoder

            self._tiny_looked = True
            dev = self.device
            self.tiny_decoder = find_decoder(self.family, dev.torch_dtype(), dev.torch_device)
            if self.tiny_decoder is not None:
                dev.place(self.tiny_decoder.vae)
        return self.tiny_decoder

    def set_preview_decoder(self, vae: Any) -> None:
        """Adopt an ``AutoencoderTiny`` as this model's TAESD (tests, benchmarks); None: none."""
        from app.engine.taesd import TinyDecoder

        self._tiny_looked = True
        self.tiny_decoder = None if vae is None else TinyDecoder(self.device.place(vae))

    def pipeline(self, kind: str) -> Any:
        """The pipeline for "text", "image" or "inpaint", built once from the same weights."""
        if not self._pipes:
            raise ModelLoadError("No model is loaded; choose a model first.")
        if kind in self._pipes:
            return self._pipes[kind]
        from diffusers import (
            AutoPipelineForImage2Image,
            AutoPipelineForInpainting,
            AutoPipelineForText2Image,
        )

        base = self._pipes["base"]
        auto = {
            "text": AutoPipelineForText2Image,
            "image": AutoPipelineForImage2Image,
            "inpaint": AutoPipelineForInpainting,
        }[kind]
        pipe = base if _is_kind(base, kind) else auto.from_pipe(base)
        if self.device.cpu_offload and pipe is not base:
            pipe.enable_model_cpu_offload()
        pipe.set_progress_bar_config(disable=True)
        self._pipes[kind] = pipe
        return pipe


def display_name(path: Path) -> str:
    """The model's name for the UI and the metadata: a Hugging Face cache snapshot is named
    after its repo ("stable-diffusion-v1-5"), not its commit hash; a file after its stem."""
    if path.parent.name == "snapshots" and path.parent.parent.name.startswith("models--"):
        return path.parent.parent.name.split("--")[-1]
    return path.stem if path.is_file() else path.name


def _is_kind(pipe: Any, kind: str) -> bool:
    name = type(pipe).__name__
    if kind == "inpaint":
        return "Inpaint" in name
    if kind == "image":
        return "Img2Img" in name
    return "Img2Img" not in name and "Inpaint" not in name


def _variant(path: Path) -> str | None:
    # Hub snapshots often hold only the fp16 files ("...fp16.safetensors"); diffusers needs
    # to be told, or it looks for the fp32 names and fails.
    plain = list(path.glob("*/diffusion_pytorch_model.safetensors")) + list(
        path.glob("*/model.safetensors")
    )
    fp16 = list(path.glob("*/*.fp16.safetensors"))
    return "fp16" if fp16 and not plain else None


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]
