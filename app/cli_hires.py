"""The hires fix on the command line: ``--hires-scale X --hires-upscaler NAME --hires-steps N
--hires-denoise D`` (any of them turns it on), or ``--hires-resize WxH``."""

from __future__ import annotations

import argparse
from typing import Any

from app.hires_request import BUILTIN_UPSCALERS


def add_hires_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("hires fix (txt2img: upscale, then a second img2img pass)")
    g.add_argument(
        "--hires-scale",
        type=float,
        metavar="X",
        help="upscale the first pass by X (1-4; default 2)",
    )
    g.add_argument(
        "--hires-resize",
        metavar="WxH",
        help="upscale to this size instead (0 for one side keeps the aspect), e.g. 1024x0",
    )
    g.add_argument(
        "--hires-upscaler",
        metavar="NAME",
        help=f"{', '.join(BUILTIN_UPSCALERS)}, or an installed upscaler's name or a .pth / "
        ".safetensors path (default: Latent)",
    )
    g.add_argument(
        "--hires-steps",
        type=int,
        metavar="N",
        help="steps of the second pass (default 0: as many as --steps)",
    )
    g.add_argument(
        "--hires-denoise",
        type=float,
        metavar="D",
        help="denoising strength of the second pass, 0 < D <= 1 (default 0.7)",
    )
    p.add_argument(
        "--prediction-type",
        choices=["auto", "epsilon", "v_prediction"],
        help="what a single-file SD 2.x checkpoint predicts: epsilon (512 base models) or "
        "v_prediction (768 models); remembered for that file (auto: detect again)",
    )


def apply_prediction_type(args: argparse.Namespace, model: object) -> None:
    """--prediction-type for a single-file checkpoint: remembered for the file, used at load."""
    choice = getattr(args, "prediction_type", None)
    if choice is None:
        return
    from pathlib import Path

    from app.errors import InvalidRequest

    path = Path(str(model))
    if not path.is_file():
        raise InvalidRequest(
            "--prediction-type is for single-file checkpoints (.safetensors); a diffusers "
            "folder says its prediction type in scheduler/scheduler_config.json."
        )
    from app.models.prediction import set_prediction_override

    set_prediction_override(path, choice)


def _resize(text: str) -> tuple[int, int]:
    try:
        w, h = text.lower().replace("×", "x").split("x")
        return int(w), int(h)
    except ValueError:
        from app.errors import InvalidRequest

        raise InvalidRequest(
            f"--hires-resize {text!r} is not WIDTHxHEIGHT, e.g. 1024x1024 or 1024x0."
        ) from None


def hires_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The request fields the hires options give; hires off when none is given."""
    names = ("hires_scale", "hires_resize", "hires_upscaler", "hires_steps", "hires_denoise")
    given = {n: getattr(args, n, None) for n in names}
    if all(v is None for v in given.values()):
        return {}
    fields: dict[str, Any] = {"hires": True}
    for name, value in given.items():
        if value is not None:
            fields[name] = _resize(value) if name == "hires_resize" else value
    return fields
