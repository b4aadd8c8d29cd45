"""The window's engine on another machine: an Easel server's ``/sdapi/v1`` API.

``RemoteWorker`` has the methods and signals of ``EngineWorker``, so the window drives either
without knowing which. Jobs wait in the same ``JobQueue``; one at a time is sent to the
server, whose ``/sdapi/v1/progress`` is polled for the step and the live preview
(``current_image``). Cancel sends ``/sdapi/v1/interrupt`` when our job is the one running,
and otherwise closes the connection, which the server takes as "drop this job". Pictures land
in the local gallery with the ``parameters`` chunk the server wrote.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot
from PySide6.QtGui import QImage

from app.errors import EaselError
from app.request import GenerationRequest
from app.workers.engine_worker import forget_stored, preview_to_qimage
from app.workers.jobs import Job, JobQueue, JobResult, LoadCommand
from app.workers.remote_client import (
    Call,
    RemoteAborted,
    RemoteClient,
    RemoteError,
    RemoteResult,
    decode_preview,
)

log = logging.getLogger(__name__)

POLL_INTERVAL = 0.25  # seconds between /progress calls while a job runs
INTERRUPT_GRACE = 30.0  # seconds to wait for the answer after /interrupt before hanging up
_LIVE: weakref.WeakSet[RemoteWorker] = weakref.WeakSet()

_SIGNALS = (
    "jobStarted", "progress", "preview", "jobFinished", "jobFailed", "jobCancelled",
    "engineReady", "engineFailed", "modelLoading", "modelReady", "modelFailed", "stopped",
)  # fmt: skip


def live_remote_threads() -> list[QThread]:
    return [w.qthread for w in list(_LIVE) if w.qthread is not None and w.qthread.isRunning()]


def local_model_names(model_path: str) -> list[str]:
    """What the server may call the model this window picked: its registry name, its folder."""
    path = Path(model_path)
    names = []
    try:
        from app.models import registry

        names.append(registry.find(model_path).name)
    except Exception:  # noqa: BLE001 - not registered here: the folder's name will do
        pass
    if path.parent.name == "snapshots" and path.parent.parent.name.startswith("models--"):
        names.append(path.parent.parent.name.split("--")[-1])
    names.append(path.stem if path.suffix in (".safetensors", ".ckpt") else path.name)
    return [n for n in names if n]


def match_model(models: list[dict[str, Any]], names: list[str]) -> str:
    """The server's title for the first of ``names`` it has, or "" when it has none."""
    wanted = [n.lower() for n in names]
    for name in wanted:
        for m in models:
            keys = {str(m.get(k) or "").lower() for k in ("title", "model_name")}
            if name in keys or name in {k.split(" [")[0] for k in keys}:
                return str(m.get("title") or m.get("model_name"))
    return ""


class _RemoteLoop(QObject):
    """Lives in the worker thread: takes jobs off the queue and runs each on the server."""

    jobStarted = Signal(int)
    progress = Signal(int, int, int, float)
    preview = Signal(int, QImage)
    jobFinished = Signal(int, object)
    jobFailed = Signal(int, str)
    jobCancelled = Signal(int)
    engineReady = Signal(str)
    engineFailed = Signal(str)
    modelLoading = Signal(str)
    modelReady = Signal(str)
    modelFailed = Signal(str)
    stopped = Signal()

    def __init__(
        self, client: RemoteClient, queue: JobQueue, gallery: Any, poll: float, store: Any
    ) -> None:
        super().__init__()
        self.client = client
        self._queue = queue
        self._gallery = gallery
        self._poll = poll
        self._store = store
        self._model = ""  # the server's title for the model the window picked, "" = its own
        self.ready = threading.Event()

    @Slot()
    def run(self) -> None:
        try:
            self._connect()
            while True:
                item = self._queue.take()
                if item is None:
                    break
                if isinstance(item, LoadCommand):
                    self._load(item)
                else:
                    self._run_job(item)
        finally:
            self.stopped.emit()
            thread = QThread.currentThread()
            if thread is not None:
                thread.quit()

    def _connect(self) -> bool:
        try:
            model = self.client.check()
        except RemoteError as exc:
            self.engineFailed.emit(str(exc))
            return False
        self.ready.set()
        self.engineReady.emit(f"Server {self.client.url.split('://', 1)[-1]}")
        if model:
            self.modelReady.emit(model)
        return True

    def _load(self, command: LoadCommand) -> None:
        if not command.model_path:
            return
        self.modelLoading.emit(Path(command.model_path).name)
        try:
            models = self.client.models()
        except RemoteError as exc:
            self.modelFailed.emit(str(exc))
            return
        self._model = match_model(models, local_model_names(command.model_path))
        if self._model:
            self.modelReady.emit(f"{self._model} (on the server)")
            return
        names = ", ".join(str(m.get("title")) for m in models[:5]) or "none"
        current = ""
        try:
            current = self.client.check()
        except RemoteError:
            pass
        self.modelReady.emit(f"{current or 'the server model'} (on the server)")
        log.info("the server has no %s; it uses its own (it has: %s)", command.model_path, names)

    def _run_job(self, job: Job) -> None:
        keep = False
        try:
            if job.cancel.is_set():
                self.jobCancelled.emit(job.id)
                return
            if not self.ready.is_set():  # the server was down or refused us: try again
                self.client.check()
                self._connect()
            self.jobStarted.emit(job.id)
            started = time.perf_counter()
            result = self._generate(job, started)
            if result is None or (result.interrupted and not result.images):
                keep = self._queue.closed  # the app is closing: run it next time
                self.jobCancelled.emit(job.id)
                return
            paths = self._save(result)
            self.jobFinished.emit(
                job.id,
                JobResult(
                    job.id,
                    paths,
                    [im.seed if im.seed is not None else -1 for im in result.images],
                    [im.parameters for im in result.images],
                    time.perf_counter() - started,
                    job.tag,
                ),
            )
        except EaselError as exc:
            self.jobFailed.emit(job.id, str(exc))
        except Exception as exc:  # the thread must survive anything a job does
            log.exception("remote job %d failed", job.id)
            self.jobFailed.emit(job.id, f"The job failed unexpectedly ({exc}); try again.")
        finally:
            self._queue.done(job)
            if not keep:
                forget_stored(self._store, job)

    def _generate(self, job: Job, started: float) -> RemoteResult | None:
        """POST the job in a helper thread; meanwhile poll progress and watch for cancel."""
        call = Call()
        box: dict[str, Any] = {}
        done = threading.Event()

        def post() -> None:
            try:
                box["result"] = self.client.generate(job.request, self._model, call)
            except BaseException as exc:  # noqa: BLE001 - handed to the worker thread
                box["error"] = exc
            finally:
                done.set()

        threading.Thread(target=post, name=f"easel-remote-job-{job.id}", daemon=True).start()
        last_image = ""
        interrupted_at: float | None = None
        alone = False  # the server runs one job and none waits: that job is ours
        while not done.wait(self._poll):
            if job.cancel.is_set():
                if interrupted_at is None and alone:
                    interrupted_at = time.monotonic()
                    try:
                        self.client.interrupt()
                    except RemoteError:
                        call.abort()
                elif interrupted_at is None or time.monotonic() - interrupted_at > INTERRUPT_GRACE:
                    call.abort()  # waiting behind another client's job: just leave the queue
                    interrupted_at = interrupted_at or time.monotonic()
                continue
            try:
                state = self.client.progress()
            except RemoteError:
                continue  # the POST tells the real story
            info = state.get("state") or {}
            running = int(info.get("job_count") or 0) > 0
            alone = running and int(info.get("queued") or 0) == 0
            if running:
                total = int(info.get("sampling_steps") or job.request.steps)
                self.progress.emit(
                    job.id,
                    int(info.get("sampling_step") or 0),
                    total,
                    time.perf_counter() - started,
                )
            image = state.get("current_image") or ""
            if image and image != last_image:
                last_image = image
                preview = decode_preview(image)
                if preview is not None:
                    self.preview.emit(job.id, preview_to_qimage(preview))
        error = box.get("error")
        if isinstance(error, RemoteAborted):
            return None
        if error is not None:
            raise error
        result: RemoteResult = box["result"]
        if job.cancel.is_set() and result.interrupted:
            return None
        return result

    def _save(self, result: RemoteResult) -> list[str]:
        if self._gallery is None:
            from app.library.gallery import Gallery

            self._gallery = Gallery()
        # As the local engine saves: a picture that cannot be written (full disk) is kept
        # by the gallery for Retry save.
        items = self._gallery.add_many(
            [im.image for im in result.images],
            [im.parameters for im in result.images],
            [im.seed for im in result.images],
        )
        return [str(item.path) for item in items]


class RemoteWorker(QObject):
    """``EngineWorker``'s twin for a server: the same calls, the same signals."""

    remote = True
    jobQueued = Signal(int, object)
    jobStarted = Signal(int)
    progress = Signal(int, int, int, float)
    preview = Signal(int, QImage)
    jobFinished = Signal(int, object)
    jobFailed = Signal(int, str)
    jobCancelled = Signal(int)
    engineReady = Signal(str)
    engineFailed = Signal(str)
    modelLoading = Signal(str)
    modelReady = Signal(str)
    modelFailed = Signal(str)
    stopped = Signal()

    def __init__(
        self,
        url: str,
        token: str = "",
        gallery: Any = None,
        parent: QObject | None = None,
        store: Any = None,
        poll_interval: float = POLL_INTERVAL,
    ) -> None:
        """``url``: the server (``http://host:7860``); ``token``: its bearer token;
        ``gallery``: where pictures land (an ``app.library.gallery.Gallery``, or None to open
        the default one in the thread). A bad address raises ``RemoteError`` at once."""
        super().__init__(parent)
        self.client = RemoteClient(url, token)
        self._queue = JobQueue()
        self.store = store
        self._loop = _RemoteLoop(self.client, self._queue, gallery, poll_interval, store)
        for name in _SIGNALS:
            getattr(self._loop, name).connect(getattr(self, name))
        self._thread: QThread | None = None
        _LIVE.add(self)

    @property
    def qthread(self) -> QThread | None:
        return self._thread

    @property
    def ready(self) -> bool:
        return self._loop.ready.is_set()

    def start(self) -> None:
        if self._thread is not None:
            return
        thread = QThread()
        thread.setObjectName("easel-remote")
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
        """Use the server's model of this name (the server's own when it has none)."""
        self._queue.put(LoadCommand(model_path=model_path))

    def load_pipeline_factory(self, factory: Any) -> None:
        self.modelFailed.emit("A server runs its own models; choose This computer to use this one.")

    def cancel(self, job_id: int) -> None:
        job = self._queue.find(job_id)
        if self._queue.cancel(job_id) == "removed":
            if job is not None:
                forget_stored(self.store, job)
            self.jobCancelled.emit(job_id)

    def cancel_all(self) -> None:
        for job in self._queue.cancel_all_jobs():
            forget_stored(self.store, job)
            self.jobCancelled.emit(job.id)

    def pending(self) -> list[int]:
        return self._queue.pending()

    def number_jobs_from(self, first: int) -> None:
        """Job ids start at ``first`` (the window swapping workers keeps them unique)."""
        self._queue.number_from(first)

    def shutdown(self, timeout_ms: int = 60_000) -> bool:
        self._queue.close()
        thread = self._thread
        if thread is None:
            return True
        thread.quit()
        stopped = thread.wait(timeout_ms)
        if not stopped:
            log.warning("the remote worker did not stop within %d ms", timeout_ms)
        return bool(stopped)


class ConnectionTester(QObject):
    """ "Test connection": checks a server in a helper thread, answers with one sentence."""

    finished = Signal(bool, str)  # worked, the sentence

    def test(self, url: str, token: str) -> None:
        def run() -> None:
            try:
                client = RemoteClient(url, token)
                model = client.check()
            except RemoteError as exc:
                self.finished.emit(False, str(exc))
                return
            loaded = f"; it runs {model}" if model else "; it has no model loaded yet"
            self.finished.emit(True, f"Connected to the Easel server at {client.url}{loaded}.")

        threading.Thread(target=run, name="easel-test-connection", daemon=True).start()
