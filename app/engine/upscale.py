"""Upscalers: ESRGAN-family models (RRDBNet: RealESRGAN x4plus, 4x-UltraSharp and the like),
run in tiles so a 2048 px result fits in a few GB, with progress and cancel; Lanczos built in.

The brief asked for spandrel; spandrel requires torchvision, and no torchvision build matches
the pinned torch 2.13 CPU here (pip would replace torch), so the RRDBNet architecture is
written out below (it is small and fixed). Files load through the allow-list loader
(``app.models.safeload``) or safetensors, never plain ``torch.load``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from app.errors import Cancelled, ModelLoadError

BUILTIN = ("Lanczos", "None")


class _RDB(nn.Module):
    def __init__(self, feat: int, grow: int) -> None:
        super().__init__()
        for i in range(5):
            out = feat if i == 4 else grow
            setattr(self, f"conv{i + 1}", nn.Conv2d(feat + i * grow, out, 3, 1, 1))
        self.act = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for i in range(4):
            feats.append(self.act(getattr(self, f"conv{i + 1}")(torch.cat(feats, 1))))
        return x + self.conv5(torch.cat(feats, 1)) * 0.2


class _RRDB(nn.Module):
    def __init__(self, feat: int, grow: int) -> None:
        super().__init__()
        self.rdb1, self.rdb2, self.rdb3 = _RDB(feat, grow), _RDB(feat, grow), _RDB(feat, grow)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.rdb3(self.rdb2(self.rdb1(x))) * 0.2


class RRDBNet(nn.Module):
    """ESRGAN's generator in Real-ESRGAN's key layout (x4; x2 and x1 through pixel-unshuffle)."""

    def __init__(self, feat: int = 64, grow: int = 32, blocks: int = 23, scale: int = 4) -> None:
        super().__init__()
        self.scale = scale
        unshuffle = {4: 1, 2: 2, 1: 4}[scale]
        self.unshuffle = unshuffle
        self.conv_first = nn.Conv2d(3 * unshuffle * unshuffle, feat, 3, 1, 1)
        self.body = nn.Sequential(*[_RRDB(feat, grow) for _ in range(blocks)])
        self.conv_body = nn.Conv2d(feat, feat, 3, 1, 1)
        self.conv_up1 = nn.Conv2d(feat, feat, 3, 1, 1)
        self.conv_up2 = nn.Conv2d(feat, feat, 3, 1, 1)
        self.conv_hr = nn.Conv2d(feat, feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(feat, 3, 3, 1, 1)
        self.act = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.unshuffle > 1:
            x = nn.functional.pixel_unshuffle(x, self.unshuffle)
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        up = nn.functional.interpolate
        feat = self.act(self.conv_up1(up(feat, scale_factor=2, mode="nearest")))
        feat = self.act(self.conv_up2(up(feat, scale_factor=2, mode="nearest")))
        return self.conv_last(self.act(self.conv_hr(feat)))


_OLD = {"model.0": "conv_first", "model.3": "conv_up1", "model.6": "conv_up2"}
_OLD.update({"model.8": "conv_hr", "model.10": "conv_last"})


def _new_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Old ESRGAN layout (``model.1.sub.N.RDB1.conv1.0.weight``, 4x-UltraSharp) to the new."""
    if "conv_first.weight" in state:
        return state
    out: dict[str, torch.Tensor] = {}
    blocks = max(int(m.group(1)) for k in state if (m := re.match(r"model\.1\.sub\.(\d+)\.", k)))
    for key, value in state.items():
        head, _, leaf = key.rpartition(".")
        if head in _OLD:
            out[f"{_OLD[head]}.{leaf}"] = value
        elif head == f"model.1.sub.{blocks}":
            out[f"conv_body.{leaf}"] = value
        elif m := re.match(r"model\.1\.sub\.(\d+)\.RDB(\d)\.conv(\d)\.0$", head):
            out[f"body.{m.group(1)}.rdb{m.group(2)}.conv{m.group(3)}.{leaf}"] = value
    return out


def load_esrgan(path: str | Path) -> RRDBNet:
    """An ESRGAN-family upscaler from a .pth (allow-list unpickler) or .safetensors file."""
    path = Path(path)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            from app.models.safeload import load_pickle_state_dict

            state, _ = load_pickle_state_dict(path)
        state = _new_keys(state)
        feat = state["conv_first.weight"].shape[0]
        grow = state["body.0.rdb1.conv1.weight"].shape[0]
        blocks = 1 + max(int(k.split(".")[1]) for k in state if k.startswith("body."))
        scale = {3: 4, 12: 2, 48: 1}[state["conv_first.weight"].shape[1]]
        net = RRDBNet(feat, grow, blocks, scale)
        net.load_state_dict(state)
    except (KeyError, ValueError, RuntimeError) as exc:
        raise ModelLoadError(
            f"{path.name} is not an ESRGAN-family upscaler Easel can run; use a RealESRGAN or "
            "ESRGAN (RRDB) model."
        ) from exc
    return net.eval()


def upscale_tiled(
    net: RRDBNet,
    image: Image.Image,
    tile: int = 256,
    overlap: int = 32,
    on_progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> Image.Image:
    """Run ``net`` over ``image`` in tiles of ``tile`` input pixels, each read with
    ``overlap`` pixels of context on every side, and keep only the tile's own output."""
    s = net.scale
    param = next(net.parameters())
    arr = torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0)
    x = arr.permute(2, 0, 1)[None].to(param)
    _, _, h, w = x.shape
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
    net = (load or load_esrgan)(upscaler)
    result = upscale_tiled(net, image, **kw)
    return result if result.size == size else result.resize(size, Image.Resampling.LANCZOS)
