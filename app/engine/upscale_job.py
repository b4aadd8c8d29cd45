"""One upscale as the user asks for it, from the window or the CLI: a picture, an upscaler
by name (Lanczos, None, an installed upscaler model's name, or a file), a factor; the
result saved to the gallery (atomically, like every picture) with the original's parameters
plus ``Postprocess upscale by`` and ``Postprocess upscaler``, as the webui's Extras tab writes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from PIL import Image

DEFAULT_TILE = 256


def resolve_upscaler(name: str) -> str:
    """A built-in's name, or the weights file the upscaler ``name`` stands for (a name in the
    model registry, a file, or a catalog download's folder)."""
    from app.engine.upscale import BUILTIN, upscaler_path

    return name if name in BUILTIN else upscaler_path(name)


def display_name(name: str, model: str) -> str:
    """What the infotext calls the upscaler: the built-in's name or the file's stem."""
    from app.engine.upscale import BUILTIN

    return name if name in BUILTIN else Path(model).stem


def postprocess_infotext(original: str | None, scale: float, upscaler: str) -> str:
    import app
    from app.library.infotext import InfoText, format_infotext, parse_infotext

    info = parse_infotext(original) if original else InfoText("", "", {})
    params = dict(info.params)
    params["Postprocess upscale by"] = f"{scale:g}"
    params["Postprocess upscaler"] = upscaler
    params.setdefault("Version", f"Easel {app.__version__}")
    return format_infotext(InfoText(info.prompt, info.negative_prompt, params))


def run(
    image: Image.Image,
    upscaler: str,
    scale: float,
    tile: int = DEFAULT_TILE,
    on_progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> tuple[Image.Image, str]:
    """The upscaled picture and the upscaler's display name."""
    from app.engine.upscale import BUILTIN, upscale

    model = resolve_upscaler(upscaler)
    if model in BUILTIN:
        return upscale(image, model, scale), model
    result = upscale(image, model, scale, tile=tile, on_progress=on_progress, cancel=cancel)
    return result, display_name(upscaler, model)


def upscale_to_gallery(
    path: str | Path,
    upscaler: str,
    scale: float,
    on_progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> Path:
    """Upscale a picture file into the gallery; returns the new file's path."""
    from app.library.gallery import Gallery
    from app.library.pngio import read_parameters
    from app.request import load_image

    source = Path(path)
    image = load_image(str(source), "picture")
    result, name = run(image, upscaler, scale, on_progress=on_progress, cancel=cancel)
    original = read_parameters(source) if source.suffix.lower() == ".png" else None
    with Gallery() as gallery:
        item = gallery.add(result, postprocess_infotext(original, scale, name))
    return Path(item.path)
