"""Upscales from the window, on their own thread: one at a time, with tile progress and a
cancel that stops between tiles. The result is saved to the gallery by the job itself."""

from __future__ import annotations

import logging
import threading

from PySide6.QtCore import QObject, QThread, Signal, Slot

log = logging.getLogger(__name__)


class _UpscaleLoop(QObject):
    progress = Signal(int, int)  # tiles done, tiles in all
    finished = Signal(str)  # the new picture's path
    failed = Signal(str)  # a sentence
    cancelled = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.cancel = threading.Event()

    @Slot(str, str, float)
    def run(self, path: str, upscaler: str, scale: float) -> None:
        from app.engine.upscale_job import upscale_to_gallery
        from app.errors import Cancelled, EaselError

        self.cancel.clear()
        try:
            out = upscale_to_gallery(path, upscaler, scale, self.progress.emit, self.cancel)
        except Cancelled:
            self.cancelled.emit()
        except EaselError as exc:
            self.failed.emit(str(exc))
        except MemoryError:
            self.failed.emit(
                "The upscale needs more memory than this computer has free; try 2x instead of "
                "4x, or close other programs."
            )
        except Exception as exc:  # the thread edge: a sentence, never a dead thread
            log.exception("upscale failed")
            self.failed.emit(f"The upscale failed ({exc}); try another upscaler.")
        else:
            self.finished.emit(str(out))


class UpscaleWorker(QObject):
    """Main-thread face of the upscale thread."""

    progress = Signal(int, int)
    finished = Signal(str)
    failed = Signal(str)
    cancelled = Signal()
    _run = Signal(str, str, float)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread = QThread()
        self._thread.setObjectName("easel-upscale")
        self._loop = _UpscaleLoop()
        self._loop.moveToThread(self._thread)
        for name in ("progress", "finished", "failed", "cancelled"):
            getattr(self._loop, name).connect(getattr(self, name))
        self._run.connect(self._loop.run)
        self._thread.start()

    def upscale(self, path: str, upscaler: str, scale: float) -> None:
        self._run.emit(path, upscaler, float(scale))

    def cancel(self) -> None:
        self._loop.cancel.set()

    def shutdown(self, timeout_ms: int = 10000) -> None:
        self._loop.cancel.set()
        self._thread.quit()
        self._thread.wait(timeout_ms)
