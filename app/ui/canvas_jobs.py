"""The canvas's own jobs: their progress bar, live preview on the canvas and Cancel; and the
ControlNets it can offer for a drawing.

The engine worker announces every job; the canvas follows only the ones queued from it
(``track``), so a Generate-tab job never moves the canvas's progress bar.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QRect
from PySide6.QtGui import QImage

from app.ui.state import format_duration, progress_text

if TYPE_CHECKING:
    from app.ui.canvas import CanvasWidget

# What to download for each kind of drawing when no ControlNet is installed (catalog ids).
SUGGESTED = {"scribble": "controlnet-sd15-scribble", "lineart": "controlnet-sd15-lineart"}
_FALLBACK_NAMES = {
    "controlnet-sd15-scribble": "ControlNet Scribble (SD 1.5)",
    "controlnet-sd15-lineart": "ControlNet Lineart (SD 1.5)",
}


def controlnet_choices(
    listing: dict[str, Any], preprocessor: str
) -> tuple[list[tuple[str, str]], str]:
    """(name, path) of the installed, usable ControlNets, and the sentence to show when there
    is none (which one to download from the Models tab)."""
    from app.ui.listing import installed

    models = listing.get("models", []) if isinstance(listing, dict) else []
    nets = [
        (str(m.get("name") or m["path"]), str(m["path"]))
        for m in installed(listing, "controlnet")
        if m.get("path")
    ]
    if nets:
        return nets, ""
    wanted = SUGGESTED.get(preprocessor, SUGGESTED["scribble"])
    name = next(
        (str(m.get("name")) for m in models if isinstance(m, dict) and m.get("id") == wanted),
        _FALLBACK_NAMES[wanted],
    )
    return (
        [],
        f"No ControlNet is installed: download “{name}” in the Models tab to follow your drawing.",
    )


class CanvasJobs(QObject):
    def __init__(self, canvas: CanvasWidget) -> None:
        super().__init__(canvas)
        self._canvas = canvas
        self._worker: Any = None
        self._rects: dict[int, QRect] = {}  # job id -> where its preview goes on the canvas
        self._running: int | None = None

    def attach(self, worker: Any) -> None:
        self._worker = worker
        worker.jobStarted.connect(self._started)
        worker.progress.connect(self._progress)
        worker.preview.connect(self._preview)
        worker.jobFinished.connect(self._finished)
        worker.jobFailed.connect(lambda job_id, _message: self._over(job_id, "Failed"))
        worker.jobCancelled.connect(lambda job_id: self._over(job_id, "Cancelled"))

    def track(self, job_id: int, rect: QRect) -> None:
        self._rects[job_id] = QRect(rect)
        panel = self._canvas.panel
        if self._running is None:
            waiting = len(self._rects)
            panel.set_running(
                True, "Waiting for the engine…" if waiting == 1 else f"{waiting} queued"
            )

    def busy(self) -> bool:
        return bool(self._rects)

    def cancel(self) -> None:
        """Cancel every job of the canvas: queued ones at once, the running one at its next step."""
        if self._worker is None:
            return
        for job_id in list(self._rects):
            self._worker.cancel(job_id)
        self._canvas.panel.progress.setFormat("Cancelling…")

    # --- worker signals ----------------------------------------------------------------

    def _started(self, job_id: int) -> None:
        if job_id in self._rects:
            self._running = job_id
            self._canvas.view.clear_preview()
            self._canvas.panel.set_running(True, "Starting…")

    def _progress(self, job_id: int, step: int, total: int, elapsed: float) -> None:
        if job_id == self._running:
            self._canvas.panel.set_progress(step, total, progress_text(step, total, elapsed))

    def _preview(self, job_id: int, image: QImage) -> None:
        rect = self._rects.get(job_id)
        if rect is not None and job_id == self._running:
            self._canvas.view.set_preview(image, rect)

    def _finished(self, job_id: int, result: Any) -> None:
        if job_id not in self._rects:
            return
        seeds = ", ".join(str(s) for s in list(result.seeds)[:4])
        self._over(job_id, f"Done in {format_duration(result.elapsed)}  ·  seed {seeds}")

    def _over(self, job_id: int, text: str) -> None:
        if self._rects.pop(job_id, None) is None:
            return
        if job_id == self._running:
            self._running = None
            self._canvas.view.clear_preview()
        panel = self._canvas.panel
        if self._rects:
            panel.set_running(True, f"{len(self._rects)} queued")
        else:
            panel.set_running(False, text)
