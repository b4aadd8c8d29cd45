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

from app.errors import EaselError
from app.workers.engine_worker import (
    LoopSignals,
    QueueWorker,
    forget_stored,
    live_threads,
    preview_to_qimage,
)
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


def live_remote_threads() -> list[QThread]:
    return live_threads(_LIVE)


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


class _RemoteLoop(LoopSignals):
    """Lives in the worker thread: takes jobs off the queue and runs each on the server."""

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
            # Cancel is cancel: the half-finished picture a server returns on interrupt is
            # kept only when someone else interrupted it (another client, the server's UI).
            if result is None or (
                result.interrupted and (not result.images or job.cancel.is_set())
            ):
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
        finishing = False
        alone = False  # the server runs one job and none waits: that job is ours
        while not done.wait(self._poll):
            if job.finish_early.is_set() and alone and not finishing:
                finishing = True  # the server's Interrupt answers with the picture reached
                try:
                    self.client.interrupt()
                except RemoteError:
                    pass  # the job runs to its end: nothing is lost
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


class RemoteWorker(QueueWorker):
    """``EngineWorker``'s twin for a server: the same calls, the same signals. A model is
    named to the server, which uses its own model of that name (or its current one)."""

    remote = True

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
        queue = JobQueue()
        loop = _RemoteLoop(self.client, queue, gallery, poll_interval, store)
        self._attach(queue, loop, store, _LIVE, "easel-remote")

    def load_pipeline_factory(self, factory: Any) -> None:
        self.modelFailed.emit("A server runs its own models; choose This computer to use this one.")


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
