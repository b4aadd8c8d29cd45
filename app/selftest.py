"""``easel --selftest`` and ``easel --smoke-window``: prove an installed (frozen) build works.

A frozen build fails in ways the test suite cannot see: a module PyInstaller did not collect,
a lazily imported diffusers class, a missing ``importlib.metadata`` entry, a data file left
out. So the self-test runs the real thing end to end, with no download and no network:

1. imports the whole engine stack (torch, diffusers' pipelines and every sampler's scheduler,
   transformers' CLIP) and reads the model catalog from ``resources/``;
2. builds a tiny random-weight Stable Diffusion model in memory (``app.engine.tiny``) and
   writes it as a diffusers folder, so loading goes through ``from_pretrained`` as a
   downloaded model does;
3. generates one image through the engine worker (the window's own path: its QThread, job
   queue, progress signals and gallery save), or, where Qt cannot be used, through
   ``Engine.generate`` + ``Gallery.add`` exactly as the worker calls them;
4. checks the PNG, its ``parameters`` chunk and its gallery row;
5. upscales a small picture with a tiny random ESRGAN written as .safetensors and read back
   through spandrel (installed without its dependencies, so a bundle that missed it or its
   torchvision stand-in fails here).

Everything is written under a temporary ``EASEL_HOME`` that is removed afterwards; nothing
is written next to the program (it may run from a read-only disk image). Exit 0 on success,
1 with one sentence on stderr on failure.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

PROMPT = "selftest: a red fox in the snow"
SEED = 7
STEPS = 2
SIZE = 64
TIMEOUT_S = 300.0  # a slow CI runner imports torch and runs two tiny steps well within this


class SelftestError(Exception):
    """One sentence saying which part of the installed app is broken."""


@contextmanager
def _temporary_home() -> Iterator[Path]:
    """An empty EASEL_HOME for the duration of the test; the old value comes back after."""
    old = os.environ.get("EASEL_HOME")
    home = Path(tempfile.mkdtemp(prefix="easel-selftest-"))
    os.environ["EASEL_HOME"] = str(home)
    try:
        yield home
    finally:
        if old is None:
            os.environ.pop("EASEL_HOME", None)
        else:
            os.environ["EASEL_HOME"] = old
        shutil.rmtree(home, ignore_errors=True)


def check_imports() -> None:
    """Import what a real session imports, including what diffusers loads lazily by name."""
    try:
        import diffusers
        import torch  # noqa: F401
        from diffusers import (  # noqa: F401
            AutoPipelineForImage2Image,
            AutoPipelineForInpainting,
            AutoPipelineForText2Image,
            StableDiffusionImg2ImgPipeline,
            StableDiffusionInpaintPipeline,
            StableDiffusionPipeline,
            StableDiffusionXLImg2ImgPipeline,
            StableDiffusionXLInpaintPipeline,
            StableDiffusionXLPipeline,
        )
        from transformers import (  # noqa: F401
            CLIPTextModel,
            CLIPTextModelWithProjection,
            CLIPTokenizer,
        )

        import app.engine.engine  # noqa: F401
        from app.samplers import SAMPLERS
    except Exception as exc:
        raise SelftestError(f"the engine stack does not import ({_short(exc)})") from exc
    for spec in SAMPLERS.values():
        try:
            getattr(diffusers, spec.scheduler)
        except Exception as exc:
            raise SelftestError(
                f"the scheduler for the sampler {spec.name!r} is missing ({_short(exc)})"
            ) from exc
    try:
        from app.models.catalog import load_catalog

        if not load_catalog():
            raise SelftestError("the model catalog is empty")
    except SelftestError:
        raise
    except Exception as exc:
        raise SelftestError(f"the model catalog could not be read ({_short(exc)})") from exc


def build_model(folder: Path) -> Path:
    """A tiny random-weight SD 1.x model, built in memory and saved as a diffusers folder."""
    try:
        from app.engine.tiny import save_model_folder

        return save_model_folder(folder / "selftest-tiny", "tiny", seed=0)
    except Exception as exc:
        raise SelftestError(f"the tiny test model could not be built ({_short(exc)})") from exc


def _request() -> Any:
    from app.request import GenerationRequest

    return GenerationRequest(PROMPT, steps=STEPS, width=SIZE, height=SIZE, seed=SEED)


def generate_with_worker(model: Path, gallery: Any) -> list[str]:
    """One job through ``EngineWorker`` on a headless Qt event loop, as the window runs it."""
    from PySide6.QtCore import QCoreApplication, QEventLoop, QTimer

    from app.workers.engine_worker import EngineWorker

    # Signals between the engine thread and this one need an application and an event loop.
    qt_app = QCoreApplication.instance() or QCoreApplication([sys.argv[0]])
    worker = EngineWorker(gallery=gallery, device="cpu")
    outcome: dict[str, Any] = {}
    loop = QEventLoop()

    def finish(key: str) -> Callable[..., None]:
        def slot(*args: Any) -> None:
            outcome.setdefault(key, args)
            loop.quit()

        return slot

    worker.engineFailed.connect(finish("engine"))
    worker.modelFailed.connect(finish("model"))
    worker.jobFailed.connect(finish("failed"))
    worker.jobCancelled.connect(finish("cancelled"))
    worker.jobFinished.connect(finish("finished"))
    worker.progress.connect(lambda *a: outcome.setdefault("progress", a))
    QTimer.singleShot(int(TIMEOUT_S * 1000), finish("timeout"))
    try:
        worker.start()
        worker.submit(_request(), model_path=str(model), tag="selftest")
        loop.exec()
    finally:
        if not worker.shutdown(timeout_ms=60_000):
            raise SelftestError("the engine thread did not stop")
    del qt_app
    if "finished" not in outcome:
        key, args = next(iter((k, v) for k, v in outcome.items() if k != "progress"), ("", ()))
        detail = args[-1] if args and isinstance(args[-1], str) else key
        raise SelftestError(f"the engine worker did not generate an image ({detail})")
    if "progress" not in outcome:
        raise SelftestError("the engine worker reported no progress while generating")
    return list(outcome["finished"][1].paths)


def generate_with_engine(model: Path, gallery: Any) -> list[str]:
    """The worker's own calls without Qt: ``Engine.load`` + ``generate`` + ``Gallery.add``."""
    from app.engine.device import detect_device
    from app.engine.engine import Engine

    steps: list[int] = []
    engine = Engine(detect_device("cpu"))
    engine.load(model)
    result = engine.generate(_request(), on_progress=lambda p: steps.append(p.step))
    if not steps:
        raise SelftestError("the engine reported no progress while generating")
    return [
        str(gallery.add(image, text, seed=seed).path)
        for image, text, seed in zip(result.images, result.infotexts, result.seeds, strict=True)
    ]


def _worker_usable() -> bool:
    try:
        import PySide6.QtCore  # noqa: F401

        import app.workers.engine_worker  # noqa: F401
    except Exception:
        return False
    return True


def check_output(paths: list[str], gallery: Any) -> None:
    from PIL import Image

    from app.library.pngio import read_parameters

    if len(paths) != 1:
        raise SelftestError(f"one image was expected, {len(paths)} were saved")
    path = Path(paths[0])
    if not path.is_file() or path.parent.resolve() != gallery.root.resolve():
        raise SelftestError(f"the image was not saved in the gallery folder ({path})")
    try:
        with Image.open(path) as image:
            image.load()
            fmt, size = image.format, image.size
    except Exception as exc:
        raise SelftestError(f"the saved image cannot be read ({_short(exc)})") from exc
    if fmt != "PNG" or size != (SIZE, SIZE):
        raise SelftestError(f"the saved image is a {size[0]}x{size[1]} {fmt}, not a 64x64 PNG")
    parameters = read_parameters(path) or ""
    for needed in (PROMPT, f"Seed: {SEED}", f"Steps: {STEPS}", f"Size: {SIZE}x{SIZE}"):
        if needed not in parameters:
            raise SelftestError(f"the PNG's parameters chunk lacks {needed!r}")
    rows = gallery.items()
    if len(rows) != 1 or rows[0].path.name != path.name:
        raise SelftestError("the gallery index has no row for the saved image")
    row = rows[0]
    if row.prompt != PROMPT or row.seed != SEED or (row.width, row.height) != (SIZE, SIZE):
        raise SelftestError("the gallery row does not match the image's parameters")


def check_upscaler(home: Path) -> None:
    """A tiny ESRGAN saved, loaded by the upscaler loader (spandrel) and run in tiles."""
    import torch
    from PIL import Image
    from safetensors.torch import save_file

    from app.engine.upscale import build_esrgan, load_upscaler, upscale_tiled

    try:
        torch.manual_seed(0)
        net = build_esrgan(num_filters=8, num_blocks=1, scale=4)
        state = {k: v.contiguous() for k, v in net.descriptor.model.state_dict().items()}
        path = home / "4x-selftest.safetensors"
        save_file(state, str(path))
        result = upscale_tiled(load_upscaler(path), Image.new("RGB", (16, 12), "red"), tile=8)
    except Exception as exc:
        raise SelftestError(f"upscaling failed ({_short(exc)})") from exc
    if result.size != (64, 48):
        raise SelftestError(f"the upscaled picture is {result.size}, not 64x48")


def run_selftest(use_worker: bool | None = None) -> int:
    """The whole self-test; prints one line and returns the exit status."""
    started = time.perf_counter()
    times: dict[str, float] = {}
    path = "worker"
    # No network, no telemetry, no writes to the user's caches: this must work offline.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    # Quiet: a passing self-test is one line, a failing one a sentence.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    try:
        with _temporary_home() as home:
            t = time.perf_counter()
            check_imports()
            times["imports"] = time.perf_counter() - t

            t = time.perf_counter()
            model = build_model(home / "models")
            times["model"] = time.perf_counter() - t

            from app.library.gallery import Gallery

            gallery = Gallery()
            try:
                t = time.perf_counter()
                worker = _worker_usable() if use_worker is None else use_worker
                path = "worker" if worker else "engine"
                try:
                    generate = generate_with_worker if worker else generate_with_engine
                    paths = generate(model, gallery)
                except SelftestError:
                    raise
                except Exception as exc:
                    raise SelftestError(f"generating failed ({_short(exc)})") from exc
                times["generate"] = time.perf_counter() - t
                check_output(paths, gallery)
            finally:
                gallery.close()
            t = time.perf_counter()
            check_upscaler(home)
            times["upscale"] = time.perf_counter() - t
    except SelftestError as exc:
        if os.environ.get("EASEL_SELFTEST_TRACEBACK") == "1":  # for whoever debugs a build
            traceback.print_exc()
        print(f"Easel self-test failed: {exc}.", file=sys.stderr, flush=True)
        return 1
    from app import __version__

    detail = ", ".join(f"{k} {v:.1f}s" for k, v in times.items())
    total = time.perf_counter() - started
    print(f"Easel {__version__} self-test passed via the {path} in {total:.1f}s ({detail}).")
    return 0


def run_smoke_window() -> int:
    """Open the real main window (offscreen where there is no display), start its engine
    thread, wait for the engine (torch imported in that thread), close the window, exit 0.

    Packaging checks use it: a frozen build can import torch yet miss a Qt plugin, a style
    sheet or an icon the window needs, which only showing the window finds out.
    """
    try:
        with _temporary_home():
            return _smoke_window()
    except SelftestError as exc:
        print(f"Easel window smoke test failed: {exc}.", file=sys.stderr, flush=True)
    except Exception as exc:
        if os.environ.get("EASEL_SELFTEST_TRACEBACK") == "1":
            traceback.print_exc()
        print(f"Easel window smoke test failed: {_short(exc)}.", file=sys.stderr, flush=True)
    return 1


def _smoke_window() -> int:
    from PySide6.QtCore import QEventLoop, QTimer

    from app.ui.main import create_application
    from app.ui.main_window import MainWindow

    started = time.perf_counter()
    app = create_application([])
    window = MainWindow()
    window.show()
    app.processEvents()
    if not window.isVisible():
        raise SelftestError("the main window did not show")
    shown = time.perf_counter() - started
    outcome: dict[str, str] = {}
    loop = QEventLoop()

    def finish(key: str) -> Callable[..., None]:
        def slot(*args: Any) -> None:
            outcome.setdefault(key, str(args[-1]) if args else "")
            loop.quit()

        return slot

    window.worker.engineReady.connect(finish("ready"))
    window.worker.engineFailed.connect(finish("failed"))
    QTimer.singleShot(int(TIMEOUT_S * 1000), finish("timeout"))
    QTimer.singleShot(0, window.start_engine)
    loop.exec()
    window.close()
    app.processEvents()
    if "ready" not in outcome:
        raise SelftestError(f"the window's engine did not start ({next(iter(outcome.items()))})")
    thread = window.worker.qthread
    if thread is not None and thread.isRunning():
        raise SelftestError("closing the window left the engine thread running")
    total = time.perf_counter() - started
    print(
        f"Easel window smoke test passed: window shown in {shown:.1f}s, engine ready on "
        f"{outcome['ready']}, closed cleanly ({total:.1f}s)."
    )
    return 0


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__
