"""The engine thread: one long-lived QThread that owns the Engine and runs queued jobs.

Importing this module is cheap: torch, diffusers and ``app.engine`` are imported inside the
thread when it starts, so the window appears before the heavy stack loads. The window talks
to the worker through plain method calls that touch only the thread-safe ``JobQueue`` (never
blocking), and the worker answers with signals that carry plain data and QImages.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot
from PySide6.QtGui import QImage

from app.errors import Cancelled, EaselError, ModelLoadError
from app.request import GenerationRequest
from app.workers.jobs import Job, JobQueue, JobResult, LoadCommand

log = logging.getLogger(__name__)

PREVIEW_MIN_INTERVAL = 1 / 30  # seconds: a fast GPU must not flood the event loop
_LIVE: weakref.WeakSet[EngineWorker] = weakref.WeakSet()


def live_threads(live: weakref.WeakSet[Any]) -> list[QThread]:
    """The threads of these workers still running (tests assert none is left behind)."""
    return [w.qthread for w in list(live) if w.qthread is not None and w.qthread.isRunning()]


def live_engine_threads() -> list[QThread]:
    return live_threads(_LIVE)


def preview_to_qimage(preview: Any) -> QImage:
    """An (h, w, 3) uint8 array as a QImage that owns its pixels (safe across threads)."""
    import numpy as np

    arr = np.ascontiguousarray(preview, dtype=np.uint8)
    h, w = arr.shape[:2]
    return QImage(arr.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:160] if text else type(exc).__name__


def _unexpected(exc: BaseException) -> str:
    return f"Generation failed unexpectedly ({_first_line(exc)}); try again or pick another model."


SIGNALS = (
    "jobStarted", "progress", "preview", "jobFinished", "jobFailed", "jobCancelled",
    "engineReady", "engineFailed", "modelLoading", "modelReady", "modelFailed", "stopped",
)  # fmt: skip


class LoopSignals(QObject):
    """What a worker's thread-side loop emits, and its main-thread face relays (``SIGNALS``)."""

    jobStarted = Signal(int)
    progress = Signal(int, int, int, float)  # job id, step, total, seconds elapsed
    preview = Signal(int, QImage)
    jobFinished = Signal(int, object)  # job id, JobResult
    jobFailed = Signal(int, str)  # job id, one sentence
    jobCancelled = Signal(int)
    engineReady = Signal(str)  # device description
    engineFailed = Signal(str)
    modelLoading = Signal(str)  # model name
    modelReady = Signal(str)
    modelFailed = Signal(str)
    stopped = Signal()


def _warm_up() -> None:
    """Import the pipeline machinery now, then freeze the import-time heap for the GC.

    Importing diffusers is seconds of work; doing it here keeps it off the first Generate.
    ``gc.freeze()`` moves the ~400k objects that torch, transformers and diffusers create
    at import into the permanent generation, so later full collections (the engine runs one
    whenever it swaps models) no longer walk them while holding the GIL: that walk froze the
    window for ~220 ms per model load. Models loaded afterwards are collected as usual.
    """
    try:
        from diffusers import DiffusionPipeline  # noqa: F401 - the lazy module's heavy part
    except Exception:  # a broken install shows up, with its message, on the first load
        log.warning("diffusers could not be imported ahead of time", exc_info=True)
        return
    gc.freeze()


def forget_stored(store: Any, job: Job) -> None:
    """Take a job that is over off the queue file (done, failed or cancelled by the user)."""
    if store is not None and job.store_id is not None:
        store.remove(job.store_id)
        job.store_id = None


class _EngineLoop(LoopSignals):
    """Lives in the engine thread: takes items off the queue and runs them.

    Its signals are relayed by ``EngineWorker``, a QObject of the main thread, so that
    whatever connects to the worker (lambdas too) runs in the main thread.
    """

    def __init__(
        self,
        queue: JobQueue,
        gallery: Any,
        device: str | None,
        preview_min_interval: float,
        save: Callable[[Any], list[str]] | None,
        store: Any = None,
    ) -> None:
        super().__init__()
        self._queue = queue
        self._store = store
        self._gallery = gallery
        self._device = device
        self._preview_interval = preview_min_interval
        self._save_override = save
        self._engine: Any = None
        self._engine_error = ""
        self._model_key: str | None = None
        self.ready = threading.Event()
        # A server sharing this engine and queue: it runs its own items here ("Let other apps
        # use Easel"); returns False for the window's.
        self.guest: Callable[[Any], bool] | None = None

    # -- the engine thread -----------------------------------------------------------------
    @Slot()
    def run(self) -> None:
        try:
            self._start_engine()
            while True:
                item = self._queue.take()
                if item is None:
                    break
                guest = self.guest
                if guest is not None and self._engine is not None and guest(item):
                    if self._model_key != str(self._engine.model_path or ""):
                        self._model_key = None  # the server switched models: reload ours
                    continue
                if isinstance(item, LoadCommand):
                    self._load(item)
                else:
                    self._run_job(item)
        finally:
            self.stopped.emit()
            thread = QThread.currentThread()
            if thread is not None:
                thread.quit()

    def _start_engine(self) -> None:
        try:
            from app.engine.device import detect_device
            from app.engine.engine import Engine

            self._engine = Engine(
                detect_device(self._device), preview_min_interval=self._preview_interval
            )
            description = self._engine.device.chip()
            _warm_up()
        except Exception as exc:  # torch missing or broken: keep the window usable
            log.exception("the engine could not start")
            self._engine_error = (
                f"The engine could not start ({type(exc).__name__}: {_first_line(exc)}); "
                "reinstall Easel or run 'make setup'."
            )
            self.engineFailed.emit(self._engine_error)
            return
        self.ready.set()
        self.engineReady.emit(description)

    def _load(self, command: LoadCommand) -> None:
        if self._engine is None:
            self.modelFailed.emit(self._engine_error)
            return
        try:
            if command.precision is not None:
                self._engine.set_precision(command.precision)
                self.engineReady.emit(self._engine.device.chip())
            elif command.compile_model is not None:
                self._engine.set_compile(command.compile_model)
            elif command.factory is not None:
                self._adopt(command.factory)
            elif command.model_path:
                self._ensure_model(command.model_path)
        except EaselError:
            pass  # already reported by _ensure_model / _adopt
        except Exception as exc:
            log.exception("model load failed")
            self.modelFailed.emit(_unexpected(exc))

    def _adopt(self, factory: Callable[[], tuple[Any, str]]) -> None:
        self.modelLoading.emit("pipeline")
        try:
            pipe, name = factory()
            self._engine.load_pipeline(pipe, name)
        except EaselError as exc:
            self._model_key = None
            self.modelFailed.emit(str(exc))
            raise
        self._model_key = f"<{name}>"
        self.modelReady.emit(name)

    def _ensure_model(self, model_path: str | None) -> None:
        engine = self._engine
        from app.models.prediction import load_key

        if model_path is None or (self._model_key == load_key(model_path) and engine.loaded):
            return
        self.modelLoading.emit(Path(model_path).name)
        try:
            engine.load(model_path)
        except EaselError as exc:
            # The old model must not quietly stand in for the one the user picked.
            engine.unload()
            self._model_key = None
            self.modelFailed.emit(str(exc))
            raise
        except Exception as exc:
            engine.unload()
            self._model_key = None
            message = (
                f"The model {Path(model_path).name!r} could not be loaded "
                f"({_first_line(exc)}); pick another model."
            )
            self.modelFailed.emit(message)
            raise ModelLoadError(message) from exc
        self._model_key = load_key(model_path)
        self.modelReady.emit(engine.model_name)

    def _run_job(self, job: Job) -> None:
        keep = False
        try:
            if self._engine is None:
                self.jobFailed.emit(job.id, self._engine_error)
                return
            if job.cancel.is_set():
                raise Cancelled()
            self.jobStarted.emit(job.id)
            self._ensure_model(job.model_path)
            if job.cancel.is_set():
                raise Cancelled()

            def on_progress(p: Any) -> None:
                self.progress.emit(job.id, p.step, p.total, p.elapsed)
                if p.preview is not None:
                    self.preview.emit(job.id, preview_to_qimage(p.preview))

            started = time.perf_counter()
            result = self._engine.generate(
                job.request,
                on_progress=on_progress,
                cancel=job.cancel,
                finish_early=job.finish_early,
            )
            paths = self._save(result)
            self.jobFinished.emit(
                job.id,
                JobResult(
                    job.id,
                    paths,
                    list(result.seeds),
                    list(result.infotexts),
                    time.perf_counter() - started,
                    job.tag,
                    tuple(getattr(result, "notes", ())),
                ),
            )
        except Cancelled:
            # Stopped because the app is closing: it stays written down for next time.
            if self._queue.closed:
                keep = True
            self.jobCancelled.emit(job.id)
        except EaselError as exc:
            self.jobFailed.emit(job.id, str(exc))
        except Exception as exc:  # the thread must survive anything a job does
            log.exception("job %d failed", job.id)
            self.jobFailed.emit(job.id, _unexpected(exc))
        finally:
            self._queue.done(job)
            if not keep:
                forget_stored(self._store, job)

    def _save(self, result: Any) -> list[str]:
        if self._save_override is not None:
            return self._save_override(result)
        if self._gallery is None:
            from app.library.gallery import Gallery

            self._gallery = Gallery()
        # A picture that cannot be written (full disk) is kept by the gallery to retry.
        images, texts, seeds = list(result.images), list(result.infotexts), list(result.seeds)
        items = self._gallery.add_many(images, texts, seeds)
        return [str(item.path) for item in items]


class QueueWorker(LoopSignals):
    """The main-thread face of a worker (this computer's engine, or a server's): jobs go into
    its ``JobQueue`` (written down in ``store`` first, when there is one), its loop runs them
    in its own QThread, and the loop's signals are relayed here.

    Methods are called from the Qt main thread and never block (``shutdown`` excepted);
    signals are delivered in the main thread.
    """

    jobQueued = Signal(int, object)  # job id, GenerationRequest

    def _attach(
        self,
        queue: JobQueue,
        loop: LoopSignals,
        store: Any,
        live: weakref.WeakSet[Any],
        thread_name: str,
    ) -> None:
        self._queue = queue
        self.store = store
        self._loop: Any = loop
        for name in SIGNALS:
            getattr(loop, name).connect(getattr(self, name))
        self._thread: QThread | None = None
        self._thread_name = thread_name
        live.add(self)

    @property
    def qthread(self) -> QThread | None:
        return self._thread

    @property
    def ready(self) -> bool:
        return self._loop.ready.is_set()

    def start(self) -> None:
        """Start the thread (the engine's imports torch and builds it), then take jobs."""
        if self._thread is not None:
            return
        thread = QThread()
        thread.setObjectName(self._thread_name)
        self._loop.moveToThread(thread)
        thread.started.connect(self._loop.run)
        self._thread = thread
        thread.start()

    def submit(
        self,
        request: GenerationRequest,
        model_path: str | None = None,
        tag: str = "",
        store_id: int | None = None,
    ) -> int:
        """Queue a generation; returns its job id at once (the engine may still be loading).

        With a store, the job is written down first (``store_id``: it already is, resumed)."""
        job = Job(self._queue.new_id(), request, model_path, tag=tag, store_id=store_id)
        if self.store is not None and store_id is None:
            try:
                job.store_id = self.store.add(request, model_path, tag)
            except EaselError:
                log.warning("job %d is not written down", job.id, exc_info=True)
        self.jobQueued.emit(job.id, request)
        self._queue.put(job)
        return job.id

    def load_model(self, model_path: str) -> None:
        """Load a model folder ahead of the next job (queued behind jobs already waiting)."""
        self._queue.put(LoadCommand(model_path=model_path))

    def cancel(self, job_id: int) -> None:
        """A queued job is removed at once; a running one stops at its next step."""
        job = self._queue.find(job_id)
        if self._queue.cancel(job_id) == "removed":
            if job is not None:
                forget_stored(self.store, job)
            self.jobCancelled.emit(job_id)

    def finish_now(self, job_id: int) -> bool:
        """The running job stops after its current step and finishes with the picture it has
        (the webui's Interrupt); False when ``job_id`` is not running."""
        return self._queue.finish_now(job_id)

    def cancel_all(self) -> None:
        for job in self._queue.cancel_all_jobs(exact=Job):  # a shared server's jobs stay
            forget_stored(self.store, job)
            self.jobCancelled.emit(job.id)

    def pending(self) -> list[int]:
        return self._queue.pending(exact=Job)

    def number_jobs_from(self, first: int) -> None:
        """Job ids start at ``first`` (the window swapping workers keeps them unique)."""
        self._queue.number_from(first)

    def shutdown(self, timeout_ms: int = 60_000) -> bool:
        """Cancel the running job, stop the thread and wait for it; True when it stopped."""
        self._queue.close()
        thread = self._thread
        if thread is None:
            return True
        thread.quit()
        stopped = thread.wait(timeout_ms)
        if not stopped:
            log.warning("%s did not stop within %d ms", self._thread_name, timeout_ms)
        return bool(stopped)


class EngineWorker(QueueWorker):
    """The window's handle on the engine thread: queue jobs, cancel them, hear back."""

    def __init__(
        self,
        gallery: Any = None,
        device: str | None = None,
        preview_min_interval: float = PREVIEW_MIN_INTERVAL,
        save: Callable[[Any], list[str]] | None = None,
        parent: QObject | None = None,
        store: Any = None,
    ) -> None:
        """``gallery``: an ``app.library.gallery.Gallery`` (thread-safe) or None to open one
        in the thread; ``device``: "cpu"/"cuda"/"mps" or None for the best found;
        ``save``: replaces saving into the gallery (result -> paths); ``store``: an
        ``app.library.jobstore.JobStore`` that keeps queued jobs across restarts, or None."""
        super().__init__(parent)
        queue = JobQueue()
        loop = _EngineLoop(queue, gallery, device, preview_min_interval, save, store)
        self._attach(queue, loop, store, _LIVE, "easel-engine")

    def set_precision(self, precision: str) -> None:
        """Settings' precision ("auto", "fp32", "bf16"), applied in the engine thread after
        the jobs already queued; ``engineReady`` brings the new header chip."""
        self._queue.put(LoadCommand(precision=precision))

    def set_compile(self, on: bool) -> None:
        """Settings' "Compile the model", applied in the engine thread after the jobs already
        queued; the next job's notes say how long the warm-up took."""
        self._queue.put(LoadCommand(compile_model=on))

    def load_pipeline_factory(self, factory: Callable[[], tuple[Any, str]]) -> None:
        """Build a pipeline in the engine thread with ``factory() -> (pipeline, name)`` and
        use it for jobs with no model path (benchmarks, self-test)."""
        self._queue.put(LoadCommand(factory=factory))

    # -- sharing with a server ("Let other apps use Easel") ---------------------------------
    @property
    def queue(self) -> JobQueue:
        return self._queue

    @property
    def engine(self) -> Any:
        """The Engine once ready (None before): only the engine thread may drive it."""
        return self._loop._engine if self.ready else None

    def set_guest(self, handler: Callable[[Any], bool] | None) -> None:
        """Let ``handler(item) -> handled`` run a server's queue items in the engine thread."""
        self._loop.guest = handler
