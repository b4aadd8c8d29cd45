"""Adaptive memory: estimate a job's peak before it runs, take measures instead of failing.

The measures, cheapest first: attention slicing, VAE tiling, model CPU offload (GPUs; a
CPU pages its weights from disk instead: app/engine/paging.py), batch split (one image at a
time). Before a job,
measures are added in that order until the estimated peak fits the memory there is; when an
out-of-memory error happens anyway, the next measure is added and the job runs once more.
What was done comes back as a sentence ("Used VAE tiling to fit 2048x2048 in 8 GB").
Measures are taken off again after the job (the device policy's own stay), so the next,
smaller job runs at full speed.

The estimate is deliberately simple, from the loaded weights' real sizes and per-pixel
activation costs that match SD 1.5 / SDXL peaks within ~30%; it decides when to act, and the
OOM retry covers the cases it misjudges.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from app.errors import OutOfMemory
from app.request import GenerationRequest

log = logging.getLogger(__name__)

SLICING, TILING, OFFLOAD, PAGED, SPLIT = (
    "attention slicing",
    "VAE tiling",
    "model CPU offload",
    "weights paged from disk",
    "batch split",
)
MEASURES: tuple[str, ...] = (SLICING, TILING, OFFLOAD, PAGED, SPLIT)
HEADROOM = 0.9  # leave a tenth for the allocator's fragmentation and the rest of the system
UNET_ACTIVATIONS = 24  # live tensors of the UNet's first level width at the peak
VAE_ACTIVATIONS = 10  # live 128-channel full-resolution tensors in the VAE decoder's peak
VAE_TILE = 512  # the tile side when the VAE does not say


@dataclass(frozen=True)
class Estimate:
    weights: int
    unet: int
    attention: int
    vae: int

    @property
    def total(self) -> int:
        return self.weights + self.unet + self.attention + self.vae


def _module_bytes(module: Any) -> int:
    if module is None:
        return 0
    return int(sum(p.numel() * p.element_size() for p in module.parameters()))


def estimate_peak(
    pipe: Any,
    req: GenerationRequest,
    controlnets: Sequence[Any] = (),
    measures: Sequence[str] = (),
) -> Estimate:
    """The job's estimated peak in bytes, with ``measures`` taken."""
    parts = [getattr(pipe, n, None) for n in ("unet", "vae", "text_encoder", "text_encoder_2")]
    sizes = [_module_bytes(m) for m in parts] + [_module_bytes(c) for c in controlnets]
    # offloaded or paged, only the network that runs must be resident
    paged = PAGED in measures or getattr(pipe.unet, "easel_paged", False)
    weights = max(sizes) if OFFLOAD in measures or paged else sum(sizes)
    unet = pipe.unet
    param = next(unet.parameters())
    nbytes = param.element_size()
    batch = 1 if SPLIT in measures else req.batch_size
    cfg = 2 if req.cfg_scale > 1 else 1
    lat_px = (req.width // 8) * (req.height // 8)
    c0 = int(unet.config.block_out_channels[0])
    n_nets = 1 + len(controlnets)  # a ControlNet is about a UNet encoder's worth more
    unet_act = batch * cfg * lat_px * c0 * nbytes * UNET_ACTIVATIONS * n_nets
    heads = unet.config.attention_head_dim
    heads = int(heads[0] if isinstance(heads, list | tuple) else heads)
    # SDPA never holds the whole score matrix, but the kernels' working set still grows with
    # tokens x heads; slicing computes one head-slice at a time.
    attention = batch * cfg * heads * lat_px * min(lat_px, 1024) * nbytes
    if SLICING in measures:
        attention //= max(heads, 1)
    px = req.width * req.height
    if TILING in measures:
        # diffusers decodes tile by tile, each the VAE's own sample size (512 for SD 1.5)
        tile = int(getattr(pipe.vae.config, "sample_size", VAE_TILE) or VAE_TILE)
        px = min(px, tile * tile)
    vae = batch * px * 128 * nbytes * VAE_ACTIVATIONS
    return Estimate(weights, unet_act, attention, vae)


def available_bytes(device: Any, pipe: Any) -> int:
    """The memory this job may use: the device's (faked in tests through ``total_memory``),
    else the RAM free now plus what the loaded weights already hold."""
    if device.total_memory:
        return int(device.total_memory * HEADROOM)
    free = ram_free()
    if not free:
        return 0  # unknown: never act on a guess
    held = sum(
        _module_bytes(getattr(pipe, n, None))
        for n in ("unet", "vae", "text_encoder", "text_encoder_2")
    )
    return int((free + held) * HEADROOM)


def ram_free() -> int:
    """RAM free now (0 when unknown), within the process's cgroup limit when it has one."""
    free = _mem_available()
    from app.engine.cgroup import cgroup_memory

    limited = cgroup_memory()  # a container's or a capped session's limit is the real one
    if limited is not None:
        free = min(free, limited.available) if free else limited.available
    return free


def _mem_available() -> int:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil  # type: ignore[import-untyped]

        return int(psutil.virtual_memory().available)
    except Exception:  # noqa: BLE001 - optional
        return 0


def ladder(device: Any, req: GenerationRequest) -> list[str]:
    """The measures that apply on this device to this job, in order."""
    out = [SLICING, TILING]
    out.append(OFFLOAD if device.kind != "cpu" else PAGED)
    if req.batch_size > 1:
        out.append(SPLIT)
    return out


def plan(
    device: Any, pipe: Any, req: GenerationRequest, controlnets: Sequence[Any] = ()
) -> tuple[list[str], int, int]:
    """The measures to take before the job, the estimate with them, and the memory there is."""
    avail = available_bytes(device, pipe)
    taken: list[str] = []
    est = estimate_peak(pipe, req, controlnets, taken).total
    if not avail:
        return taken, est, avail
    if est <= avail:
        return taken, est, avail
    steps = ladder(device, req)
    for measure in steps:  # one measure alone, the cheapest that does it
        one = estimate_peak(pipe, req, controlnets, [measure]).total
        if one <= avail:
            return [measure], one, avail
    for measure in steps:  # else all of them, in order, until it fits
        taken.append(measure)
        est = estimate_peak(pipe, req, controlnets, taken).total
        if est <= avail:
            break
    return taken, est, avail


def _apply(engine: Any, pipe: Any, measure: str) -> None:
    if measure == SLICING:
        pipe.enable_attention_slicing()
    elif measure == TILING:
        pipe.vae.enable_tiling()
    elif measure == OFFLOAD:
        pipe.enable_model_cpu_offload()
    elif measure == PAGED:  # stays for the model's life: the pages cost nothing when RAM is free
        engine.page_weights()


def _revert(engine: Any, pipe: Any, measures: Sequence[str]) -> None:
    dev = engine.device
    if SLICING in measures and not dev.attention_slicing:
        pipe.disable_attention_slicing()
    if TILING in measures and not dev.vae_tiling:
        pipe.vae.disable_tiling()
    if OFFLOAD in measures and not dev.cpu_offload:
        pipe.remove_all_hooks()
        pipe.to(dev.torch_device)


def _gb(n: int) -> str:
    return f"{n / 1024**3:.0f} GB" if n >= 1024**3 else f"{n / 1024**2:.0f} MB"


def sentence(measures: Sequence[str], req: GenerationRequest, avail: int, after_oom: bool) -> str:
    what = " and ".join(measures)
    size = f"{req.width}x{req.height}" + (
        f", batch {req.batch_size}," if req.batch_size > 1 else ""
    )
    if after_oom:
        return f"Ran out of memory at {size.rstrip(',')}; used {what} and tried again."
    where = f" in {_gb(avail)}" if avail else ""
    return f"Used {what} to fit {size.rstrip(',')}{where}."


RunPart = Callable[[GenerationRequest, Any, list[int]], tuple[list[Any], bool]]


def _run(
    run: RunPart, req: GenerationRequest, call: Any, seeds: list[int], split: bool
) -> tuple[list[Any], bool]:
    if not split or len(seeds) == 1:
        return run(req, call, seeds)
    images: list[Any] = []
    redecoded = False
    one = req.replace(batch_size=1)
    for i, seed in enumerate(seeds):
        part = _split_call(call, i)
        imgs, red = run(one, part, [seed])
        images += imgs
        redecoded = redecoded or red
    return images, redecoded


def _split_call(call: Any, i: int) -> Any:
    import dataclasses

    kwargs = dict(call.kwargs)
    if kwargs.get("subseeds"):
        kwargs["subseeds"] = kwargs["subseeds"][i : i + 1]
    return dataclasses.replace(call, kwargs=kwargs)


def run_fitting(
    engine: Any,
    pipe: Any,
    req: GenerationRequest,
    call: Any,
    seeds: list[int],
    run: RunPart,
    controlnets: Sequence[Any] = (),
) -> tuple[list[Any], bool, list[str]]:
    """Run the job with the measures its estimate needs; once more with the next on OOM.

    Returns the images, whether they were re-decoded in fp32, and the sentences saying what
    was done (empty when nothing was needed)."""
    taken, est, avail = plan(engine.device, pipe, req, controlnets)
    notes: list[str] = []
    if taken:
        log.info("job needs ~%s of %s: %s", _gb(est), _gb(avail), ", ".join(taken))
        notes.append(sentence(taken, req, avail, after_oom=False))
    try:
        for m in taken:
            _apply(engine, pipe, m)
        try:
            images, redecoded = _run(run, req, call, seeds, SPLIT in taken)
        except OutOfMemory:
            nxt = next((m for m in ladder(engine.device, req) if m not in taken), None)
            if nxt is None:
                raise
            gc.collect()
            taken.append(nxt)
            _apply(engine, pipe, nxt)
            log.warning("out of memory; retrying with %s", nxt)
            images, redecoded = _run(run, req, call, seeds, SPLIT in taken)
            notes.append(sentence([nxt], req, avail, after_oom=True))
    finally:
        _revert(engine, pipe, taken)
    return images, redecoded, notes
