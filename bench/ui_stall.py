"""UI stalls: the longest gap in the Qt event loop while the engine thread works.

A 5 ms QTimer probe runs in the main thread of the real main window; every gap between its
ticks beyond 5 ms is time the event loop could not run (the GIL held by the engine thread,
or slow work on the main thread). Phases: engine start (torch + diffusers import), loading
a model folder (a tiny one unless --model is given), building SD 1.5's
architecture with random weights in the engine thread (``app.engine.tiny``), then the
headline: a generation at 128x128, 3 steps, with previews, PNG saving into the gallery and
the window's thumbnails. Target: max stall during the generation <= 50 ms.

    .venv/bin/python bench/ui_stall.py [--size 128] [--steps 3] [--runs 3] [--arch sd15] [--device cpu]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TARGET_MS = 50.0
PROBE_MS = 5


class StallProbe:
    def __init__(self) -> None:
        from PySide6.QtCore import QTimer

        self.timer = QTimer()
        self.timer.setInterval(PROBE_MS)
        self.timer.timeout.connect(self._tick)
        self.last = time.perf_counter()
        self.max_gap = 0.0
        self.gaps: list[float] = []

    def _tick(self) -> None:
        now = time.perf_counter()
        gap = now - self.last
        self.last = now
        self.gaps.append(gap)
        self.max_gap = max(self.max_gap, gap)

    def reset(self) -> None:
        self.last = time.perf_counter()
        self.max_gap = 0.0
        self.gaps = []

    def stall_ms(self) -> float:
        return max(0.0, self.max_gap * 1000 - PROBE_MS)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--arch", default="sd15")
    ap.add_argument("--device", default=None, help="cpu, cuda or mps (default: the best found)")
    ap.add_argument(
        "--model", default=None, help="a model folder to time loading (default: a tiny one)"
    )
    args = ap.parse_args()

    os.environ["EASEL_HOME"] = tempfile.mkdtemp(prefix="easel-stall-")
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from PySide6.QtCore import QEventLoop, QTimer

    from app.request import GenerationRequest
    from app.ui.main import create_application
    from app.ui.main_window import MainWindow
    from app.workers.engine_worker import EngineWorker

    app = create_application([])
    worker = EngineWorker(device=args.device)
    window = MainWindow(worker=worker)
    window.show()
    probe = StallProbe()
    probe.timer.start()

    def wait_for(signal, timeout_s: float = 900) -> list:  # noqa: ANN001
        loop = QEventLoop()
        got: list = []

        def done(*a: object) -> None:
            got.extend(a)
            loop.quit()

        signal.connect(done)
        QTimer.singleShot(int(timeout_s * 1000), loop.quit)
        loop.exec()
        signal.disconnect(done)
        return got

    results: list[tuple[str, float]] = []
    probe.reset()
    t0 = time.perf_counter()
    window.start_engine()
    device = wait_for(worker.engineReady)
    results.append((f"engine start ({time.perf_counter() - t0:.1f} s)", probe.stall_ms()))
    print(f"device: {device[0] if device else '?'}", flush=True)

    model = args.model
    if model is None:
        from app.engine.tiny import save_model_folder

        model = str(save_model_folder(Path(os.environ["EASEL_HOME"]) / "tiny-sd", "tiny"))
    probe.reset()
    t0 = time.perf_counter()
    worker.load_model(model)
    wait_for(worker.modelReady)
    results.append((f"load model folder ({time.perf_counter() - t0:.1f} s)", probe.stall_ms()))

    arch = args.arch

    def factory():  # noqa: ANN202 - runs in the engine thread
        from diffusers import StableDiffusionPipeline

        from app.engine.tiny import build_components

        pipe = StableDiffusionPipeline(**build_components(arch), requires_safety_checker=False)
        return pipe, f"random-{arch}"

    probe.reset()
    t0 = time.perf_counter()
    worker.load_pipeline_factory(factory)
    wait_for(worker.modelReady)
    results.append((f"build {arch} pipeline ({time.perf_counter() - t0:.1f} s)", probe.stall_ms()))

    gen_stalls = []
    for run in range(args.runs + 1):  # the first run warms up (scheduler, kernels)
        request = GenerationRequest(
            "a lighthouse at dusk", steps=args.steps, width=args.size, height=args.size, seed=run
        )
        probe.reset()
        t0 = time.perf_counter()
        worker.submit(request)
        finished = wait_for(worker.jobFinished)
        app.processEvents()  # the window's own handling of the result
        stall = probe.stall_ms()
        if not finished:
            raise SystemExit("the generation did not finish")
        label = "warm-up" if run == 0 else f"run {run}"
        results.append(
            (
                f"generate {args.size}px x{args.steps} {label} ({time.perf_counter() - t0:.1f} s)",
                stall,
            )
        )
        if run:
            gen_stalls.append(stall)

    window.close()
    for name, stall in results:
        print(f"{name:48s} max stall {stall:7.1f} ms")
    worst = max(gen_stalls)
    print(
        f"max event-loop stall while generating: {worst:.1f} ms; target {TARGET_MS:.0f} ms; ratio {worst / TARGET_MS:.2f}"
    )


if __name__ == "__main__":
    main()
