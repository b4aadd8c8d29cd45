"""The engine: one loaded model, every mode on the same weights, progress, cancel, errors.

Headless and Qt-free; the window's worker and the CLI both call ``Engine.generate``.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from app.engine.device import DeviceInfo
from app.engine.embeddings import EmbeddingManager
from app.engine.engine_model import LoadedModel
from app.engine.images import is_broken
from app.engine.lora import LoraManager, apply_networks
from app.engine.modes import MODES, ModeCall
from app.engine.noise import variation_noise
from app.engine.schedulers import scheduler_class
from app.errors import Cancelled, EngineError, ModelLoadError, OutOfMemory
from app.request import MAX_SEED, GenerationRequest, validate
from app.samplers import resolve_sampler

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Progress:
    step: int  # 1-based: steps done so far
    total: int
    preview: np.ndarray | None  # (h, w, 3) uint8 from the latents of the first image, or None
    elapsed: float  # seconds since the first step started


@dataclass(frozen=True)
class GenerationResult:
    request: GenerationRequest  # as run: seed resolved, images loaded, model filled in
    images: list[Image.Image]
    seeds: list[int]
    infotexts: list[str]
    elapsed: float
    redecoded_fp32: bool = False
    notes: tuple[str, ...] = ()  # what was done to make it fit or fast, one sentence each
    stopped_at: int = 0  # finished early at this step (the webui's Interrupt): the picture then


ProgressCallback = Callable[[Progress], None]


class Engine(LoadedModel):
    """Owns one pipeline and its mode variants (``from_pipe``: shared weights, no reload)."""

    def __init__(self, device: DeviceInfo | None = None, preview_min_interval: float = 0.0) -> None:
        self._device = device
        self.preview_min_interval = preview_min_interval
        self._pipes: dict[str, Any] = {}
        self._scheduler_config: Any = None
        self.model_name = ""
        self.model_hash = ""
        self.model_path: Path | None = None
        self.family = "sd"
        self.inpainting = False
        self.loras = LoraManager()  # adapters on the base pipeline, cached across jobs
        self.embeddings = EmbeddingManager()
        self._controlnets: dict[str, Any] = {}
        self._paging: Path | None = None  # the loaded model's paged weights (paging.py)
        self._load_note = ""  # said once, with the first job after a load that paged
        self._stopped: tuple[int, int] | None = None  # the last job's finish_early (step, steps)
        self.last_conditioning_seconds = 0.0
        self.tiny_decoder: Any = None  # TAESD (app/engine/taesd.py), looked up once per model
        self._tiny_looked = False
        self.compile_model = False  # Settings' "Compile the model" (app/engine/compile.py)
        self._compiled: Any = None  # the loaded model's CompiledPipeline, from its first job
        self._compile_told = False  # why it can't compile, said once

    # -- generation ------------------------------------------------------------------------
    def generate(
        self,
        request: GenerationRequest,
        on_progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        finish_early: threading.Event | None = None,
    ) -> GenerationResult:
        """The pictures of ``request``. ``cancel`` stops within a step and raises Cancelled;
        ``finish_early`` stops within a step and decodes the picture reached (the webui's
        Interrupt), saying so in the notes and ``stopped_at``."""
        req = validate(request)
        if not self._pipes:
            raise ModelLoadError("No model is loaded; choose a model first.")
        seed = req.seed if req.seed >= 0 else secrets.randbelow(MAX_SEED + 1)
        seeds, subseeds, subseed = variation_seeds(req, seed)
        req = req.replace(
            seed=seed,
            subseed=subseed,
            model=req.model or self.model_name,
            model_hash=req.model_hash or self.model_hash,
        )
        if cancel is not None and cancel.is_set():
            raise Cancelled()
        from app.engine.speed import apply_speed, infotext_keys

        req, recipe = apply_speed(self, req)
        tiny = self.preview_decoder() if recipe is not None and recipe.tiny_decode else None
        # LoRAs and embeddings go onto the shared base modules before any step runs; the
        # pipeline sees the prompt without <lora:...> tags, the request keeps them.
        lora_changes = self.loras.changes
        run_req, network_info = apply_networks(
            self.loras, self.embeddings, self._pipes["base"], req
        )
        if self.loras.changes != lora_changes:
            self._weights_changed()  # a LoRA fused in or out: the frozen graphs are stale
        compile_notes = self._compile_notes()
        call = MODES[req.mode](req, self.inpainting)
        if self.family == "sdxl":  # original/target size and crop as the webui sets them
            from app.engine.sdxl import micro_conditioning

            w, h = call.kwargs.get("width", req.width), call.kwargs.get("height", req.height)
            call.kwargs.update(micro_conditioning(int(w), int(h)))
        pipe = self.pipeline(call.pipe_kind)
        nets = [self.controlnet(u.model) for u in req.controlnets]
        if nets:
            pipe = self._with_controlnets(pipe, req, call, nets)
        pipe.scheduler = self._scheduler(req.sampler, req.schedule)
        started = time.perf_counter()
        if subseeds:
            call.kwargs["subseeds"] = subseeds
        from app.engine.controlnet import prompt_first
        from app.engine.memory import run_fitting

        self._stopped = None

        def run(r: GenerationRequest, c: ModeCall, s: list[int]) -> tuple[list[Any], bool]:
            return self._run(pipe, r, c, s, on_progress, cancel, tiny, finish_early)

        with prompt_first(nets, req.controlnets):
            if req.hires:  # the webui's hires fix: app/engine/hires.py
                from app.engine.hires import run_hires

                images, redecoded = run_hires(
                    self, pipe, run_req, call, seeds, on_progress, cancel, finish_early
                )
                notes: list[str] = []
            else:
                images, redecoded, notes = run_fitting(self, pipe, run_req, call, seeds, run, nets)
        stopped_at = 0
        if self._stopped is not None:
            stopped_at, total = self._stopped
            notes = [
                f"Interrupted at step {stopped_at} of {total}: this is the picture it had reached.",
                *notes,
            ]
        if self._load_note:
            notes, self._load_note = [*notes, self._load_note], ""
        if recipe is not None:
            notes[:0] = [f"{infotext_keys(recipe)['Speed']}: {recipe.summary}."]
            notes += [recipe.note + "."] if recipe.note else []
        if self._compiled is not None:
            compile_notes += self._compiled.notes()
        notes += compile_notes
        network_info = {**network_info, **infotext_keys(recipe)}
        if call.finish is not None:
            images = [call.finish(im) for im in images]
        from app.library.infotext import infotext_from_request

        return GenerationResult(
            request=req,
            images=images,
            seeds=seeds,
            infotexts=[
                infotext_from_request(
                    req.replace(subseed=sub) if subseeds else req, s, extra=network_info
                )
                for s, sub in zip(seeds, subseeds or seeds, strict=True)
            ],
            elapsed=time.perf_counter() - started,
            redecoded_fp32=redecoded,
            notes=tuple(notes),
            stopped_at=stopped_at,
        )

    # -- ControlNet (app/engine/controlnet.py) ----------------------------------------------
    def add_controlnet(self, name: str, net: Any) -> None:
        """Adopt an already built ControlNetModel under a name units can use (tests)."""
        from app.engine.controlnet import check_family

        check_family(net, self.family, name)
        self._controlnets[name] = self.device.place(net)

    def controlnet(self, name: str) -> Any:
        """A ControlNet model by id, name or path, loaded once per loaded base model."""
        if name not in self._controlnets:
            from app.engine.controlnet import load_controlnet

            net = load_controlnet(name, self.device.torch_dtype(), self.family)
            self._controlnets[name] = self.device.place(net)
        return self._controlnets[name]

    def _with_controlnets(
        self, pipe: Any, req: GenerationRequest, call: ModeCall, nets: list[Any]
    ) -> Any:
        from app.engine.controlnet import control_kwargs, controlnet_pipeline

        cn_pipe = controlnet_pipeline(self._pipes["base"], self.family, call.pipe_kind, nets)
        if self.device.cpu_offload:
            cn_pipe.enable_model_cpu_offload()
        size = (
            int(call.kwargs.get("width", req.width)),
            int(call.kwargs.get("height", req.height)),
        )
        call.kwargs.update(control_kwargs(req, call.pipe_kind, size))
        return cn_pipe

    def _scheduler(self, sampler: str, schedule: str = "") -> Any:
        spec = resolve_sampler(sampler, schedule)
        assert spec is not None  # validate() checked the name and the schedule
        cls = scheduler_class(spec.scheduler)
        return cls.from_config(self._scheduler_config, **spec.options)

    def _run(
        self,
        pipe: Any,
        req: GenerationRequest,
        call: ModeCall,
        seeds: list[int],
        on_progress: ProgressCallback | None,
        cancel: threading.Event | None,
        tiny: Any = None,
        finish_early: threading.Event | None = None,
    ) -> tuple[list[Any], bool]:
        """One pipeline call: the images (PIL), or with ``output_type="latent"`` in the call the
        latents; ``tiny`` (a TAESD ``TinyDecoder``) decodes the pictures instead of the full VAE.
        ``finish_early`` set: the pipeline skips its remaining steps (diffusers' ``interrupt``)
        and decodes the latents reached; ``self._stopped`` records (step, steps)."""
        from app.engine.taesd import Previewer

        generators = [torch.Generator("cpu").manual_seed(s) for s in seeds]
        kwargs = dict(call.kwargs)
        output_type = kwargs.pop("output_type", "np")
        subseeds = kwargs.pop("subseeds", None)
        if subseeds:
            kwargs["latents"] = self._variation_latents(pipe, req, generators, subseeds)
        state: dict[str, Any] = {"latents": None, "last_preview": 0.0, "t0": time.perf_counter()}
        previewer = Previewer(self.preview_decoder(), self.family)

        prompt_kwargs, cond = self._prompt_kwargs(pipe, req)

        def on_step_end(p: Any, i: int, t: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
            latents = kwargs["latents"]
            changes = {} if cond is None else _scheduled_embeds(p, cond, i, req.batch_size)
            state["latents"] = latents
            if cancel is not None and cancel.is_set():
                raise Cancelled()
            total = int(getattr(p, "_num_timesteps", 0) or req.steps)
            early = finish_early is not None and finish_early.is_set() and i + 1 < total
            if early and not p._interrupt:
                p._interrupt = True  # the pipeline's loop skips the rest, then decodes
                self._stopped = (i + 1, total)
            if on_progress is not None:
                now = time.perf_counter()
                preview = None
                if now - state["last_preview"] >= self.preview_min_interval or i + 1 == total:
                    preview = previewer.preview(latents[0], now - state["t0"], i + 1)
                    state["last_preview"] = now
                on_progress(Progress(i + 1, total, preview, now - state["t0"]))
            return changes

        try:
            with torch.inference_mode():
                out = pipe(
                    **prompt_kwargs,
                    num_inference_steps=req.steps,
                    guidance_scale=req.cfg_scale,
                    num_images_per_prompt=req.batch_size,
                    generator=generators,
                    output_type="latent" if tiny is not None else output_type,
                    callback_on_step_end=on_step_end,
                    **kwargs,
                )
                if output_type == "latent":
                    return list(out.images), False
                images = out.images if tiny is None else tiny.decode_np(out.images)
                redecoded = False
                if is_broken(images) and state["latents"] is not None:
                    log.warning("decode gave NaN/black pixels; decoding again in fp32")
                    images = self._decode_fp32(pipe, state["latents"])
                    redecoded = True
                    if is_broken(images):
                        raise EngineError(
                            "The image came out black even at full precision; this model's VAE "
                            "looks broken: try another model."
                        )
        except Cancelled:
            raise
        except torch.OutOfMemoryError as exc:
            raise self._oom(req) from exc
        except RuntimeError as exc:
            if "out of memory" in str(exc).lower():
                raise self._oom(req) from exc
            raise
        return [_to_pil(im) for im in images], redecoded

    def _prompt_kwargs(self, pipe: Any, req: GenerationRequest) -> tuple[dict[str, Any], Any]:
        """The prompt as diffusers takes it: plain text when diffusers' own encoding is the
        webui's (short, no emphasis, clip skip 1), else embeddings built the webui's way."""
        from app.engine.conditioning import build_conditioning, needs_webui_conditioning

        plain = {"prompt": req.prompt, "negative_prompt": req.negative_prompt or None}
        if getattr(pipe, "text_encoder", None) is None:
            return plain, None  # an SDXL refiner (bigG only): diffusers' own encoding
        xl = self.family == "sdxl"  # the webui applies no clip skip to SDXL
        if not needs_webui_conditioning(
            req.prompt, req.negative_prompt, 1 if xl else req.clip_skip
        ) and _fits_one_chunk(pipe.tokenizer, req.prompt, req.negative_prompt):
            return plain, None
        started = time.perf_counter()
        if xl:
            from app.engine.conditioning_sdxl import build_sdxl_conditioning

            xcond = build_sdxl_conditioning(pipe, req.prompt, req.negative_prompt, req.steps)
            self.last_conditioning_seconds = time.perf_counter() - started
            return xcond.call_kwargs(), (xcond if xcond.scheduled else None)
        cond = build_conditioning(pipe, req.prompt, req.negative_prompt, req.steps, req.clip_skip)
        self.last_conditioning_seconds = time.perf_counter() - started
        pos, neg = cond.at(0)
        kwargs = {"prompt_embeds": pos, "negative_prompt_embeds": neg}
        return kwargs, (cond if cond.scheduled else None)

    def _variation_latents(
        self, pipe: Any, req: GenerationRequest, generators: list[Any], subseeds: list[int]
    ) -> Any:
        # Unscaled noise: the pipeline's prepare_latents multiplies by init_noise_sigma.
        factor = int(getattr(pipe, "vae_scale_factor", 8))
        channels = int(pipe.vae.config.latent_channels)
        shape = (channels, req.height // factor, req.width // factor)
        noise = variation_noise(shape, generators, subseeds, req.subseed_strength)
        return noise.to(self.device.torch_device, dtype=pipe.unet.dtype)

    def _decode_fp32(self, pipe: Any, latents: Any) -> np.ndarray:
        vae = pipe.vae
        dtype = vae.dtype
        # eager: an fp32 call would compile the decoder again, for one picture
        eager = self._compiled.eager() if self._compiled is not None else contextlib.nullcontext()
        with eager:
            try:
                vae.to(torch.float32)
                lat = latents.to(torch.float32)
                cfg = vae.config
                mean, std = getattr(cfg, "latents_mean", None), getattr(cfg, "latents_std", None)
                if mean is not None and std is not None:
                    m = torch.tensor(mean).view(1, -1, 1, 1).to(lat)
                    s = torch.tensor(std).view(1, -1, 1, 1).to(lat)
                    lat = lat * s / cfg.scaling_factor + m
                else:
                    lat = lat / cfg.scaling_factor
                image = vae.decode(lat, return_dict=False)[0]
                return pipe.image_processor.postprocess(image, output_type="np")
            finally:
                vae.to(dtype)

    def _oom(self, req: GenerationRequest) -> OutOfMemory:
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        return OutOfMemory(
            f"The {self.device.kind.upper()} ran out of memory at {req.width}x{req.height}, "
            f"batch {req.batch_size}; lower the size or the batch, or close other apps using it."
        )


def _fits_one_chunk(tokenizer: Any, *texts: str) -> bool:
    for text in texts:
        ids = tokenizer(text, truncation=False, add_special_tokens=False)["input_ids"]
        if len(ids) > 75:
            return False
    return True


def _scheduled_embeds(pipe: Any, cond: Any, i: int, batch: int) -> dict[str, Any]:
    """The embeddings for the next step (the webui's 0-based step i + 1), in the layout the
    pipeline keeps them: negative then positive when CFG is on, each repeated per image."""
    if hasattr(cond, "step_changes"):  # SDXL: the pooled vector switches too
        return dict(cond.step_changes(pipe, i, batch))
    pos, neg = cond.at(i + 1)
    pos = pos.repeat(batch, 1, 1)
    if getattr(pipe, "do_classifier_free_guidance", False):
        return {"prompt_embeds": torch.cat([neg.repeat(batch, 1, 1), pos])}
    return {"prompt_embeds": pos}


def variation_seeds(req: GenerationRequest, seed: int) -> tuple[list[int], list[int], int]:
    """Seeds and variation seeds per image, as the webui numbers them (processing.py).

    Without a variation, seeds count up from the seed. With one, every image keeps the seed
    and the variation seeds count up instead, so a batch shows variations of one picture.
    """
    n, wrap = req.batch_size, MAX_SEED + 1
    if req.subseed_strength <= 0:
        return [(seed + i) % wrap for i in range(n)], [], req.subseed
    subseed = req.subseed if req.subseed >= 0 else secrets.randbelow(wrap)
    return [seed] * n, [(subseed + i) % wrap for i in range(n)], subseed


def _to_pil(image: np.ndarray) -> Image.Image:
    # The same rounding as diffusers' numpy_to_pil, so our PNGs equal its PIL output.
    return Image.fromarray((image * 255).round().astype("uint8"))
