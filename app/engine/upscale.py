"""Upscalers: the architectures spandrel reads (ESRGAN and Real-ESRGAN x4plus, 4x-UltraSharp,
the Compact anime models, SPAN, SwinIR, HAT, DAT, ...), run in tiles so a 2048 px result fits in
a few GB, with progress and cancel; Lanczos built in.

Files are read by Easel's own loaders, never by a plain ``torch.load``: safetensors, or a
``.pth`` through the allow-list unpickler (``app.models.safeload``), so a pickle never runs
code. spandrel only recognises the architecture from the tensors and builds the network.

spandrel is installed without its dependencies (``scripts/bootstrap.py``): it asks for
torchvision, which has no build for the pinned CPU torch here, and only two architectures Easel
never runs as upscalers (LaMa inpainting, RestoreFormer faces) import it. ``_spandrel()`` lends
those imports a stand-in for the length of spandrel's import and takes it back.
"""

from __future__ import annotations

import sys
import threading
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from app.errors import Cancelled, ModelLoadError

BUILTIN = ("Lanczos", "None")
_TV = ("torchvision", "torchvision.transforms", "torchvision.transforms.functional")


def _no_torchvision(*_args: Any, **_kw: Any) -> Any:
    raise ModelLoadError(
        "This model needs torchvision, which Easel does not ship; use an ESRGAN-family upscaler."
    )


def _spandrel() -> Any:
    """The spandrel package, imported once (with the torchvision stand-in if need be)."""
    if "spandrel" in sys.modules:
        return sys.modules["spandrel"]
    try:
        import spandrel

        return spandrel
    except (ImportError, RuntimeError, OSError) as exc:
        # no torchvision, or one built for another torch ("operator torchvision::nms does
        # not exist"): both go through the stand-in; anything else is a broken install
        if "torchvision" not in str(exc) and "torchvision" not in sys.modules:
            raise ModelLoadError(
                "Easel's upscaler support (spandrel) is missing or broken; run `make setup` again."
            ) from exc
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]  # a broken torchvision's half import
    lent = {name: types.ModuleType(name) for name in _TV}
    functional = lent["torchvision.transforms.functional"]
    functional.InterpolationMode = types.SimpleNamespace(BILINEAR="bilinear")  # type: ignore[attr-defined]
    functional.rotate = functional.normalize = _no_torchvision  # type: ignore[attr-defined]
    for name in [m for m in sys.modules if m.startswith("spandrel")]:
        del sys.modules[name]
    sys.modules.update(lent)
    try:
        import spandrel
    finally:
        for name in _TV:  # transformers and the rest see no torchvision, as before
            sys.modules.pop(name, None)
    return spandrel


class Upscaler:
    """A loaded upscaling network: its factor, and one call on a tile."""

    def __init__(self, descriptor: Any) -> None:
        self.descriptor = descriptor
        self.scale: int = descriptor.scale
        tiling = _spandrel().ModelTiling
        self.whole = descriptor.tiling == tiling.INTERNAL  # runs its own tiles: give it all

    def to(self, device: Any = None, dtype: torch.dtype | None = None) -> Upscaler:
        """Move it, in ``dtype`` where the architecture supports it (fp32 otherwise)."""
        if isinstance(device, torch.dtype):
            device, dtype = None, device
        d = self.descriptor
        if dtype == torch.bfloat16 and not d.supports_bfloat16:
            dtype = torch.float32
        if dtype == torch.float16 and not d.supports_half:
            dtype = torch.float32
        d.model.to(device=device, dtype=dtype)
        return self

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.descriptor(x)


def from_state_dict(state: dict[str, torch.Tensor], name: str = "") -> Upscaler:
    """The network spandrel recognises in ``state``; one sentence if it is no RGB upscaler."""
    sp = _spandrel()
    what = name or "This file"
    try:
        desc = sp.ModelLoader().load_from_state_dict(sp.canonicalize_state_dict(dict(state)))
    except sp.UnsupportedModelError as exc:
        raise ModelLoadError(
            f"{what} is not an upscaler Easel can run (no architecture spandrel knows matches "
            "its weights); use an ESRGAN, Real-ESRGAN, SwinIR, HAT or similar model."
        ) from exc
    except (KeyError, ValueError, RuntimeError, IndexError, TypeError) as exc:
        raise ModelLoadError(
            f"{what} looks like an upscaler but its weights do not fit together; download it again."
        ) from exc
    if not isinstance(desc, sp.ImageModelDescriptor) or desc.purpose not in ("SR", "Restoration"):
        raise ModelLoadError(f"{what} is not an upscaler ({desc.purpose} model); pick another.")
    if desc.input_channels != 3 or desc.output_channels != 3:
        raise ModelLoadError(f"{what} works on grey pictures only; pick a colour upscaler.")
    return Upscaler(desc.eval())


def build_esrgan(num_filters: int = 64, num_blocks: int = 23, scale: int = 4) -> Upscaler:
    """A new ESRGAN with random weights (RealESRGAN x4plus's shape by default): benches, tests."""
    _spandrel()
    from spandrel.architectures.ESRGAN import ESRGAN

    net = ESRGAN(num_filters=num_filters, num_blocks=num_blocks, scale=scale)
    return from_state_dict(net.state_dict(), f"ESRGAN {num_filters}x{num_blocks} x{scale}")


def upscaler_path(name: str) -> str:
    """The weights file of an upscaler given by path (a file, or a catalog download's
    snapshot folder) or by its name in the model registry (kind "upscaler")."""
    from app.models import registry

    info = registry.find_named("upscaler", name)  # a name first: never a file in the cwd
    found = Path(info.path) if info is not None and info.path else Path(name).expanduser()
    if not found.exists():
        raise ModelLoadError(
            f"The upscaler {name!r} is not installed; download one in Models, put it in your "
            "models' upscalers folder, or give its path."
        )
    if found.is_dir():  # a catalog download: the snapshot folder holds one weights file
        files = sorted([*found.rglob("*.safetensors"), *found.rglob("*.pth")])
        if not files:
            raise ModelLoadError(
                f"The upscaler {name!r} has no weights file; download it again in Models."
            )
        found = files[0]
    return str(found)


def load_upscaler(path: str | Path) -> Upscaler:
    """An upscaler from a .pth (allow-list unpickler) or .safetensors file."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            state = load_file(str(path))
        except (SafetensorError, OSError) as exc:
            raise ModelLoadError(
                f"{path.name} is damaged or incomplete; download it again."
            ) from exc
    else:
        from app.models.safeload import load_pickle_state_dict

        state, _ = load_pickle_state_dict(path)
    return from_state_dict(state, path.name)


def upscale_tiled(
    net: Upscaler,
    image: Image.Image,
    tile: int = 256,
    overlap: int = 32,
    on_progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> Image.Image:
    """Run ``net`` over ``image`` in tiles of ``tile`` input pixels, each read with
    ``overlap`` pixels of context on every side, and keep only the tile's own output."""
    s = net.scale
    param = next(net.descriptor.model.parameters())
    arr = torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0)
    x = arr.permute(2, 0, 1)[None].to(param)
    _, _, h, w = x.shape
    if net.whole:
        tile = max(h, w)
    out = torch.zeros(1, 3, h * s, w * s, dtype=torch.float32)
    boxes = [(y, x0) for y in range(0, h, tile) for x0 in range(0, w, tile)]
    for n, (y, x0) in enumerate(boxes):
        if cancel is not None and cancel.is_set():
            raise Cancelled()
        y1, x1 = min(y + tile, h), min(x0 + tile, w)
        py, px = max(0, y - overlap), max(0, x0 - overlap)
        qy, qx = min(h, y1 + overlap), min(w, x1 + overlap)
        with torch.inference_mode():
            res = net(x[:, :, py:qy, px:qx]).float().cpu()
        oy, ox = (y - py) * s, (x0 - px) * s
        out[:, :, y * s : y1 * s, x0 * s : x1 * s] = res[
            :, :, oy : oy + (y1 - y) * s, ox : ox + (x1 - x0) * s
        ]
        if on_progress is not None:
            on_progress(n + 1, len(boxes))
    pixels = (out[0].clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype("uint8")
    return Image.fromarray(pixels)


def upscale(
    image: Image.Image,
    upscaler: str,
    scale: float,
    load: Callable[[str], Any] | None = None,
    **kw: Any,
) -> Image.Image:
    """``image`` ``scale`` times larger with a built-in (Lanczos, None) or a model upscaler;
    a model's own factor is corrected with Lanczos to the asked one (4x model, 2x asked)."""
    size = (round(image.size[0] * scale), round(image.size[1] * scale))
    if upscaler in BUILTIN:
        if upscaler == "None":
            return image
        return image.convert("RGB").resize(size, Image.Resampling.LANCZOS)
    net = (load or load_upscaler)(upscaler)
    result = upscale_tiled(net, image, **kw)
    return result if result.size == size else result.resize(size, Image.Resampling.LANCZOS)
