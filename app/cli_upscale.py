"""``python -m app upscale IMAGE --upscaler NAME --scale 2|4 [--out DIR]``.

The result goes to the gallery (or ``--out``) with the image's own parameters plus
``Postprocess upscale by`` and ``Postprocess upscaler``, as the webui's Extras tab writes them.
"""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

from app.errors import Cancelled, EaselError, InvalidRequest
from app.request import load_image


def add_upscale_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("upscale", help="upscale an image (an upscaler model or Lanczos)")
    p.add_argument("image", metavar="IMAGE", help="the picture to upscale")
    p.add_argument(
        "--upscaler",
        default="Lanczos",
        metavar="NAME",
        help="Lanczos, or an upscaler model (ESRGAN, SwinIR, ...): its name in 'models list', or a .pth / "
        ".safetensors path (default: Lanczos)",
    )
    p.add_argument("--scale", type=float, default=2.0, choices=[2.0, 4.0], help="2 or 4")
    p.add_argument("--tile", type=int, default=256, metavar="PX", help="tile size (default 256)")
    p.add_argument("--out", metavar="DIR", help="folder for the PNG (default: the gallery)")
    return p


def run_upscale(args: argparse.Namespace) -> int:
    try:
        from app.cli import save_results
        from app.engine.upscale import upscale
        from app.engine.upscale_job import display_name, postprocess_infotext, resolve_upscaler
        from app.library.pngio import read_parameters

        image = load_image(args.image, "image")
        model = resolve_upscaler(args.upscaler)

        def progress(done: int, total: int) -> None:
            print(f"\rtile {done}/{total}", end="", file=sys.stderr, flush=True)

        result = (
            upscale(
                image,
                model,
                args.scale,
                tile=args.tile,
                on_progress=progress,
                cancel=threading.Event(),
            )
            if model not in ("Lanczos", "None")
            else upscale(image, model, args.scale)
        )
        print(file=sys.stderr)
        original = read_parameters(Path(args.image)) if str(args.image).endswith(".png") else None
        name = display_name(args.upscaler, model)
        text = postprocess_infotext(original, args.scale, name)
        out = Path(args.out).expanduser() if args.out else None
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
        for path in save_results([result], [text], [0], out):
            print(path, flush=True)
        return 0
    except InvalidRequest as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Cancelled as exc:
        print(f"\n{exc}", file=sys.stderr)
        return 130
    except EaselError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
