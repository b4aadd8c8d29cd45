"""``python -m app generate ...``: the headless CLI, on the same engine API as the window.

Progress goes to stderr; each saved PNG's path is printed on its own line on stdout.
Bad input exits 2 with one sentence; other failures exit 1 with one sentence.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from app.cli_checks import check_model_file, check_out_dir, seeds_text
from app.cli_hires import apply_prediction_type
from app.cli_sampling import sampling_request_fields
from app.errors import Cancelled, EaselError, InvalidRequest, ModelLoadError
from app.request import GenerationRequest, load_image, validate
from app.samplers import DEFAULT_SAMPLER, SAMPLER_NAMES

if TYPE_CHECKING:
    from app.engine.engine import Progress

EXIT_FAILED, EXIT_BAD_INPUT, EXIT_CANCELLED = 1, 2, 130


class CliError(EaselError):
    pass


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = text.lower().replace("×", "x").split("x")
        return int(w), int(h)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"size {text!r} is not WIDTHxHEIGHT, e.g. 512x768"
        ) from None


def _extend(text: str) -> tuple[int, int, int, int]:
    try:
        parts = tuple(int(p) for p in text.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 4:
        raise argparse.ArgumentTypeError(
            f"outpaint {text!r} is not LEFT,TOP,RIGHT,BOTTOM pixels, e.g. 0,0,256,0"
        )
    return parts  # type: ignore[return-value]


def add_generate_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "generate",
        help="generate images without the window",
        description=(
            "Generate images headlessly. The mode follows from the options: --outpaint -> "
            "outpaint, --mask -> inpaint, --init-image -> img2img, otherwise txt2img. "
            "Saved PNGs carry the A1111 'parameters' metadata; their paths are printed on "
            "stdout, progress on stderr."
        ),
    )
    p.add_argument(
        "--model",
        metavar="PATH",
        help="a model id from 'models list', a diffusers folder or a .safetensors file (default: the default model)",
    )
    p.add_argument("--prompt", required=True, metavar="TEXT", help="what to draw")
    p.add_argument("--negative", default="", metavar="TEXT", help="what to avoid")
    p.add_argument(
        "--sampler",
        default=DEFAULT_SAMPLER,
        metavar="NAME",
        help=f"one of: {', '.join(SAMPLER_NAMES)} (default: {DEFAULT_SAMPLER})",
    )
    p.add_argument(
        "--steps", type=int, default=25, metavar="N", help="denoising steps (default: 25)"
    )
    p.add_argument(
        "--cfg",
        type=float,
        default=7.0,
        metavar="X",
        help="CFG scale, how closely to follow the prompt (default: 7)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=-1,
        metavar="N",
        help="seed; -1 picks a random one (default: -1)",
    )
    p.add_argument(
        "--size",
        type=_size,
        default=None,
        metavar="WxH",
        help="image size, multiples of 8 (default: 512x512, or the init image's size)",
    )
    p.add_argument(
        "--batch",
        type=int,
        default=1,
        metavar="N",
        help="images in one go, seeds N, N+1, ... (default: 1)",
    )
    p.add_argument("--init-image", metavar="PATH", help="start from this image (img2img)")
    p.add_argument(
        "--strength",
        type=float,
        default=None,
        metavar="X",
        help="how much of the init image changes, 0 < X <= 1 (default: 0.75 img2img, 1.0 inpaint/outpaint)",
    )
    p.add_argument(
        "--mask", metavar="PATH", help="white = repaint (inpaint); same size as the init image"
    )
    p.add_argument(
        "--outpaint",
        type=_extend,
        metavar="LEFT,TOP,RIGHT,BOTTOM",
        help="extend the init image by these pixels and fill the new area",
    )
    p.add_argument(
        "--mask-blur",
        type=int,
        default=8,
        metavar="PX",
        help="soft seam width in pixels (default: 8)",
    )
    p.add_argument(
        "--clip-skip",
        type=int,
        default=1,
        metavar="N",
        help="stop CLIP N-1 layers before its last (the webui's Clip skip, 1-12; default 1)",
    )
    p.add_argument(
        "--speed",
        choices=["quality", "balanced", "fast"],
        default="quality",
        help="quality: the settings as given; balanced / fast: a few-step recipe for the "
        "model (Turbo, LCM-LoRA, TAESD decode), printed when it runs",
    )
    p.add_argument("--out", metavar="DIR", help="folder for the PNGs (default: the gallery)")
    p.add_argument(
        "--device",
        choices=["auto", "cpu", "cuda", "mps"],
        default="auto",
        help="where to run (default: auto)",
    )
    p.add_argument(
        "--compile",
        action="store_true",
        help="compile the UNet and the VAE decoder with torch.compile: faster steps after a "
        "one-time warm-up of about a minute per model and size (needs a C++ compiler)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    from app.cli_control import add_control_arguments
    from app.cli_sampling import add_sampling_arguments

    add_control_arguments(p)
    from app.cli_hires import add_hires_arguments

    add_hires_arguments(p)
    add_sampling_arguments(p)
    return p


def build_request(args: argparse.Namespace) -> GenerationRequest:
    mode = (
        "outpaint"
        if args.outpaint
        else "inpaint"
        if args.mask
        else "img2img"
        if args.init_image
        else "txt2img"
    )
    if mode != "txt2img" and not args.init_image:
        raise InvalidRequest(f"{mode} needs --init-image PATH.")
    init = load_image(args.init_image, "init image") if args.init_image else None
    if args.size is not None:
        width, height = args.size
    elif init is not None:
        # The init image's own size, down to the nearest multiple of 8.
        width, height = max(64, init.size[0] // 8 * 8), max(64, init.size[1] // 8 * 8)
    else:
        width, height = 512, 512
    from app.cli_hires import hires_fields

    strength = args.strength if args.strength is not None else (0.75 if mode == "img2img" else 1.0)
    return validate(
        GenerationRequest(
            prompt=args.prompt,
            negative_prompt=args.negative,
            mode=mode,  # type: ignore[arg-type]
            sampler=args.sampler,
            steps=args.steps,
            cfg_scale=args.cfg,
            seed=args.seed,
            width=width,
            height=height,
            batch_size=args.batch,
            strength=strength,
            init_image=init,
            mask=args.mask,
            outpaint=args.outpaint or (0, 0, 0, 0),
            mask_blur=args.mask_blur,
            controlnets=tuple(getattr(args, "controls", None) or ()),
            clip_skip=args.clip_skip,
            **hires_fields(args),
            speed=getattr(args, "speed", "quality"),
            **sampling_request_fields(args),
        )
    )


class _ProgressPrinter:
    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.t0 = time.perf_counter()

    def __call__(self, p: Progress) -> None:
        if self.quiet:
            return
        width = 30
        done = int(width * p.step / max(p.total, 1))
        left = p.elapsed / p.step * (p.total - p.step) if p.step else 0.0
        sys.stderr.write(
            f"\rstep {p.step}/{p.total} [{'#' * done}{'.' * (width - done)}] "
            f"{p.elapsed:5.1f}s, {left:5.1f}s left"
        )
        if p.step == p.total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    def say(self, text: str) -> None:
        if not self.quiet:
            print(text, file=sys.stderr, flush=True)


def run_generate(args: argparse.Namespace) -> int:
    printer = _ProgressPrinter(args.quiet)
    try:
        request = build_request(args)
        model = resolve_model(args.model)
        check_model_file(model)
        apply_prediction_type(args, model)
        out_dir = Path(args.out).expanduser() if args.out else None
        if out_dir is not None:
            check_out_dir(out_dir)
        printer.say("Loading the engine…")
        from app.engine.device import detect_device
        from app.engine.engine import Engine
        from app.engine.engine_model import display_name

        engine = Engine(detect_device(None if args.device == "auto" else args.device))
        printer.say(f"Loading {display_name(model)} on {engine.device.describe()}…")
        engine.load(model)
        if args.compile:
            engine.set_compile(True)
            printer.say("Compiling the model at its first step (a one-time warm-up)…")
        result = engine.generate(request, on_progress=printer, cancel=threading.Event())
        for path in save_results(result.images, result.infotexts, result.seeds, out_dir):
            print(path, flush=True)
        for note in result.notes:
            printer.say(note)
        printer.say(f"Done in {result.elapsed:.1f}s; {seeds_text(result.seeds)}.")
        return 0
    except (InvalidRequest, ModelLoadError) as exc:  # a bad model file is bad input too
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Cancelled as exc:
        print(f"\n{exc}", file=sys.stderr)
        return EXIT_CANCELLED
    except KeyboardInterrupt:
        print("\nInterrupted; nothing was saved.", file=sys.stderr)
        return EXIT_CANCELLED
    except EaselError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED


def resolve_model(model: str | None) -> Path:
    """--model as a path, or a model id/name from the registry; else the default model."""
    if model:
        path = Path(model).expanduser()
        if path.exists():
            return path
        if "/" in model or "\\" in model or model.endswith((".safetensors", ".ckpt")):
            raise InvalidRequest(f"The model {str(path)!r} does not exist; check the path.")
    from app.models import registry as models

    info = models.find(model) if model else models.default_model()
    if info is None:
        raise InvalidRequest(
            "No model is installed; run 'python -m app models download sd15' or pass "
            "--model PATH to a diffusers folder or .safetensors file."
        )
    if not info.usable or not info.path:
        raise InvalidRequest(f"{info.name} is not installed; download or import it first.")
    return Path(info.path)


def save_results(
    images: list, infotexts: list[str], seeds: list[int], out_dir: Path | None
) -> list[Path]:
    """Write each image as a PNG with its parameters: to ``out_dir``, or into the gallery."""
    from app.library.pngio import next_counter, unique_path, write_png

    if out_dir is None:
        from app.library.gallery import Gallery

        gallery = Gallery()
        try:
            return [
                gallery.add(im, text, seed=seed).path
                for im, text, seed in zip(images, infotexts, seeds, strict=True)
            ]
        finally:
            gallery.close()
    paths = []
    counter = next_counter(out_dir)
    for im, text, seed in zip(images, infotexts, seeds, strict=True):
        path = unique_path(out_dir, str(seed), start=counter)
        write_png(im, path, text)
        counter += 1
        paths.append(path)
    return paths
