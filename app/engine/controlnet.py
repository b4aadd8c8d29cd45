"""ControlNet: load ControlNet models, build the ControlNet variant of a mode's pipeline with
``from_pipe`` (the base model's weights are shared, nothing is reloaded), and turn the request's
units into the pipeline's arguments.

Control modes, as the webui's ControlNet extension defines them (``sd-webui-controlnet``,
``scripts/hook.py``): "Balanced" applies the control residuals as they are, to both the
prompt and the negative-prompt passes. "My prompt is more important" ("soft injection") scales
the residual of block i (0..12, 12 = middle block) by ``0.825 ** (12 - i)``, still on both
passes. "ControlNet is more important" adds "CFG injection": the control goes into the prompt
pass only. diffusers' ``guess_mode`` is exactly the latter (its scales ``logspace(-1, 0, 13)``
equal ``0.825 ** (12 - i)`` within 1%). The soft scales alone are not a diffusers option, so
Easel applies them with a forward hook on the ControlNet model for that run. diffusers'
``guess_mode`` is one switch per pipeline: with several units, one "ControlNet is more
important" unit turns it on for all of them (the approximation Easel makes).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from PIL import Image

from app.engine.preprocess import preprocess
from app.errors import ModelLoadError
from app.request import ControlUnit, GenerationRequest

SOFT_DECAY = 0.825
_CLASSES = {
    ("sd", "text"): "StableDiffusionControlNetPipeline",
    ("sd", "image"): "StableDiffusionControlNetImg2ImgPipeline",
    ("sd", "inpaint"): "StableDiffusionControlNetInpaintPipeline",
    ("sdxl", "text"): "StableDiffusionXLControlNetPipeline",
    ("sdxl", "image"): "StableDiffusionXLControlNetImg2ImgPipeline",
    ("sdxl", "inpaint"): "StableDiffusionXLControlNetInpaintPipeline",
}


def load_controlnet(model: str, dtype: Any, family: str) -> Any:
    """A ControlNetModel from a diffusers folder, a single .safetensors file, or a model id /
    name the registry knows; one sentence when it cannot be used."""
    from diffusers import ControlNetModel

    path = _resolve(model)
    try:
        if path.is_dir():
            # Catalog downloads hold only the fp16 weights ("...fp16.safetensors").
            plain = (path / "diffusion_pytorch_model.safetensors").is_file()
            fp16 = (path / "diffusion_pytorch_model.fp16.safetensors").is_file()
            net = ControlNetModel.from_pretrained(
                path,
                torch_dtype=dtype,
                variant="fp16" if fp16 and not plain else None,
                local_files_only=True,
            )
        else:
            net = _from_single_file(path, dtype, family)
    except (OSError, ValueError, RuntimeError, KeyError, TypeError) as exc:
        raise ModelLoadError(
            f"The ControlNet {model!r} could not be loaded ({str(exc).splitlines()[0][:120]}); "
            "download or import it again."
        ) from exc
    check_family(net, family, model)
    return net


def _from_single_file(path: Path, dtype: Any, family: str) -> Any:
    """An A1111 models/ControlNet file. diffusers needs a ControlNet config for it; offline,
    the config of the family's catalog ControlNet (downloaded once in Models) serves."""
    from diffusers import ControlNetModel

    from app.models import registry

    config_id = "controlnet-sdxl-canny" if family == "sdxl" else "controlnet-sd15-canny"
    try:
        info = registry.find(config_id)
    except Exception:  # noqa: BLE001 - not installed is the case handled below
        info = None
    if info is None or not info.installed or not info.path:
        raise ModelLoadError(
            f"{path.name} is a single-file ControlNet, which needs the config of a ControlNet "
            f"of its family; download {config_id!r} once in Models, then try again."
        )
    return ControlNetModel.from_single_file(
        path, config=str(info.path), torch_dtype=dtype, local_files_only=True
    )


def check_family(net: Any, family: str, name: str) -> None:
    dim = int(getattr(net.config, "cross_attention_dim", 0) or 0)
    is_xl = getattr(net.config, "addition_embed_type", None) == "text_time"
    if (family == "sdxl") != is_xl or (family != "sdxl" and dim == 2048):
        want = "an SDXL" if family == "sdxl" else "an SD 1.5"
        raise ModelLoadError(
            f"The ControlNet {name!r} was made for another model family; choose {want} "
            "ControlNet for the loaded model."
        )


def _resolve(model: str) -> Path:
    path = Path(model).expanduser()
    if path.exists():
        return path
    from app.models import registry

    info = registry.find_named("controlnet", model)
    if info is None:
        try:
            info = registry.find(model)
        except Exception:  # noqa: BLE001 - any lookup failure means "not installed"
            info = None
    if info is None or not info.installed or not info.path:
        raise ModelLoadError(
            f"The ControlNet {model!r} is not installed; download it in Models or give its path."
        )
    return Path(info.path)


def controlnet_pipeline(base: Any, family: str, kind: str, nets: list[Any]) -> Any:
    """The ControlNet pipeline for one mode, on the base pipeline's weights."""
    import diffusers
    from diffusers.models.controlnets.multicontrolnet import MultiControlNetModel

    cls = getattr(diffusers, _CLASSES[(family, kind)])
    controlnet = nets[0] if len(nets) == 1 else MultiControlNetModel(nets)
    pipe = cls.from_pipe(base, controlnet=controlnet)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def control_kwargs(req: GenerationRequest, kind: str, size: tuple[int, int]) -> dict[str, Any]:
    """The pipeline arguments for the request's units at the generation size (width, height)."""
    units = req.controlnets
    images = [control_image(u, size) for u in units]
    one = len(units) == 1
    kwargs: dict[str, Any] = {
        ("image" if kind == "text" else "control_image"): images[0] if one else images,
        "controlnet_conditioning_scale": units[0].weight if one else [u.weight for u in units],
        "control_guidance_start": units[0].guidance_start
        if one
        else [u.guidance_start for u in units],
        "control_guidance_end": units[0].guidance_end if one else [u.guidance_end for u in units],
        "guess_mode": any(u.control_mode == "ControlNet is more important" for u in units),
    }
    return kwargs


def control_image(unit: ControlUnit, size: tuple[int, int]) -> Image.Image:
    assert isinstance(unit.image, Image.Image)  # validate() loaded it
    return preprocess(unit.preprocessor, unit.image, size, unit.threshold_a, unit.threshold_b)


def soft_scales(n: int) -> list[float]:
    """The webui's "My prompt is more important" scale of each of ``n`` residuals."""
    return [SOFT_DECAY ** float(n - 1 - i) for i in range(n)]


@contextmanager
def prompt_first(nets: list[Any], units: tuple[ControlUnit, ...]) -> Iterator[None]:
    """Scale the residuals of the "My prompt is more important" units while the run lasts."""
    handles = []

    def hook(module: Any, args: Any, output: Any) -> Any:
        down, mid = output[0], output[1]
        scales = soft_scales(len(down) + 1)
        down = [d * s for d, s in zip(down, scales, strict=False)]
        mid = mid * scales[-1]
        if isinstance(output, tuple):
            return (down, mid, *output[2:])
        output.down_block_res_samples, output.mid_block_res_sample = down, mid
        return output

    try:
        for net, unit in zip(nets, units, strict=True):
            if unit.control_mode == "My prompt is more important":
                handles.append(net.register_forward_hook(hook))
        yield
    finally:
        for h in handles:
            h.remove()
