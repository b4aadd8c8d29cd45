"""The server's engine thread: one ``Engine``, one FIFO ``JobQueue`` (the window's), and the
live state that ``/sdapi/v1/progress`` reports.

HTTP handlers put a job in the queue and wait on its future; the one engine thread runs jobs
in the order they arrived. Interrupt and skip set cancel events the engine checks at every
step, so the running job stops within one step. Plain threads, no asyncio and no FastAPI
here: the web layer wraps the futures.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from app.errors import Cancelled, EaselError
from app.request import MAX_SEED, GenerationRequest
from app.workers.jobs import Job, JobQueue, LoadCommand

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

    from app.engine.engine import Engine, GenerationResult, Progress
    from app.library.gallery import Gallery

log = logging.getLogger(__name__)
HISTORY = 1000


@dataclass(frozen=True)
class ModelChoice:
    """A model the server may load: what the API calls it, and where it lives (never sent)."""

    title: str  # the webui's "title": "name [hash]", or the name when there is no hash
    name: str
    path: str
    hash: str = ""
    id: str = ""  # the registry id


@dataclass
class ServerJob(Job):
    """One API request: ``n_iter`` engine runs of ``request`` (seeds advance per image)."""

    n_iter: int = 1
    model: ModelChoice | None = None  # None: whatever is loaded
    future: Future = field(default_factory=Future)
    step_cancel: threading.Event = field(default_factory=threading.Event)  # skip: this run only
    # interrupt: the running image stops within a step and comes back as far as it got
    finish_early: threading.Event = field(default_factory=threading.Event)
    finish: Callable[[Image.Image], Image.Image] | None = None  # "only masked": paste back


@dataclass
class ServerLoad(LoadCommand):
    model: ModelChoice | None = None
    future: Future = field(default_factory=Future)


@dataclass
class JobOutcome:
    results: list[GenerationResult]
    interrupted: bool = False
    skipped: int = 0  # runs skipped with /skip
    seed: int = 0  # the first image's seed


@dataclass
class RunState:
    job: str = ""  # the running job's mode, "" when idle
    job_id: int = 0
    job_count: int = 0  # n_iter of the running job (the webui's meaning), 0 when idle
    job_no: int = 0
    sampling_step: int = 0
    sampling_steps: int = 0
    interrupted: bool = False
    skipped: bool = False
    job_timestamp: str = "0"
    time_start: float = 0.0
    preview: np.ndarray | None = None


class EngineRunner:
    """Owns the engine thread. ``start()`` once, ``stop()`` once."""

    def __init__(
        self,
        engine: Engine,
        gallery_factory: Callable[[], Gallery] | None = None,
        current: ModelChoice | None = None,
        queue: JobQueue | None = None,
    ) -> None:
        """``queue``: another engine thread's queue to share (the window's); that thread then
        runs this runner's items with ``run_item`` and ``start`` starts no thread."""
        self.engine = engine
        self.shared = queue is not None
        self.queue = queue if queue is not None else JobQueue()
        self.current_model = current
        self._gallery_factory = gallery_factory
        self._cond = threading.Condition()
        self._submit_lock = threading.Lock()
        self._state = RunState()
        # A bounded record of recent jobs, for logs and tests: the order the engine took
        # them, how each ended, the last step reached, the step an interrupt arrived at.
        self.run_order: deque[int] = deque(maxlen=HISTORY)
        self.outcomes = _Recent()  # job id -> "done" | "interrupted" | "failed" | "dropped"
        self.last_steps = _Recent()
        self.interrupted_at = _Recent()
        self._thread = threading.Thread(target=self._loop, name="easel-server-engine", daemon=True)

    # -- the web side ----------------------------------------------------------------------
    def start(self) -> None:
        if not self.shared:
            self._thread.start()

    def stop(self, timeout: float = 30.0) -> bool:
        if self.shared:  # the queue is the window's: take only ours out, answer them
            self.drop_waiting()
            return True
        self.queue.close()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def run_item(self, item: object, gallery: Gallery | None = None) -> bool:
        """Run one of this runner's items on the calling (shared engine) thread; False when
        the item is not the server's."""
        if isinstance(item, ServerLoad):
            self._load(item)
            return True
        if isinstance(item, ServerJob):
            try:
                self._run(item, gallery)
            finally:
                self.queue.done(item)
            return True
        return False

    def drop_waiting(self) -> None:
        """Interrupt the server's running job and refuse its waiting ones (server stopping)."""
        self.interrupt()
        for item in self.queue.remove_where(lambda i: isinstance(i, ServerJob | ServerLoad)):
            if isinstance(item, ServerJob):
                item.cancel.set()
                self.outcomes[item.id] = "dropped"
            if isinstance(item, ServerJob | ServerLoad):
                settle(item.future, exc=Cancelled("The server is stopping; the job was dropped."))

    def submit(
        self,
        request: GenerationRequest,
        n_iter: int = 1,
        model: ModelChoice | None = None,
        finish: Callable[[Image.Image], Image.Image] | None = None,
    ) -> ServerJob:
        with self._submit_lock:  # ids and queue order agree: the FIFO is observable
            job = ServerJob(self.queue.new_id(), request, n_iter=n_iter, model=model, finish=finish)
            job.future.set_running_or_notify_cancel()
            self.queue.put(job)
        return job

    def load(self, model: ModelChoice) -> Future:
        """Queue a model switch behind the jobs already waiting (their order is kept)."""
        cmd = ServerLoad(model_path=model.path, model=model)
        cmd.future.set_running_or_notify_cancel()
        self.queue.put(cmd)
        return cmd.future

    def cancel(self, job: ServerJob) -> None:
        """The client went away: drop the job if queued, stop it within a step if running."""
        if self.queue.cancel(job.id) == "removed":
            self.outcomes[job.id] = "dropped"
            settle(job.future, exc=Cancelled("The client went away; the job was dropped."))
        job.step_cancel.set()

    def interrupt(self) -> None:
        current = self.queue.current
        if isinstance(current, ServerJob):
            with self._cond:
                self._state.interrupted = True
                self.interrupted_at[current.id] = self._state.sampling_step
            current.cancel.set()  # no further image of the job starts
            current.finish_early.set()  # the running one ends now, with what it has

    def skip(self) -> None:
        current = self.queue.current
        if isinstance(current, ServerJob):
            with self._cond:
                self._state.skipped = True
            current.step_cancel.set()

    def snapshot(self) -> tuple[RunState, int]:
        """A copy of the live state and the number of jobs still waiting."""
        with self._cond:
            state = RunState(**self._state.__dict__)
        return state, len(self.queue.pending())

    def wait_for(self, predicate: Callable[[RunState], bool], timeout: float) -> bool:
        """Block until the live state satisfies ``predicate`` (for tests and tools)."""
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self._state), timeout)

    # -- the engine thread -----------------------------------------------------------------
    def _loop(self) -> None:
        gallery = None
        if self._gallery_factory is not None:
            try:
                gallery = self._gallery_factory()
            except EaselError as exc:
                log.error("the gallery cannot be opened, images will not be saved: %s", exc)
        try:
            while True:
                item = self.queue.take()
                if item is None:
                    break
                if isinstance(item, ServerLoad):
                    self._load(item)
                elif isinstance(item, ServerJob):
                    try:
                        self._run(item, gallery)
                    finally:
                        self.queue.done(item)
        finally:
            if gallery is not None:
                gallery.close()

    def _load(self, cmd: ServerLoad) -> None:
        assert cmd.model is not None
        try:
            self._ensure_model(cmd.model)
        except Exception as exc:  # noqa: BLE001 - handed to the waiting request
            settle(cmd.future, exc=exc)
            return
        self.current_model = cmd.model
        settle(cmd.future, result=cmd.model)

    def _ensure_model(self, model: ModelChoice) -> None:
        if self.engine.loaded and str(self.engine.model_path or "") == model.path:
            return
        self.engine.load(model.path, name=model.name, model_hash=model.hash)

    def _run(self, job: ServerJob, gallery: Gallery | None) -> None:
        self.run_order.append(job.id)
        if job.cancel.is_set():
            self.outcomes[job.id] = "dropped"
            settle(job.future, exc=Cancelled())
            return
        try:
            if job.model is not None:
                self._ensure_model(job.model)
            outcome = self._iterations(job, gallery)
        except Exception as exc:  # noqa: BLE001 - every failure goes back to its request
            self.outcomes[job.id] = "failed"
            if not isinstance(exc, EaselError):
                log.exception("job %d failed", job.id)
            settle(job.future, exc=exc)
        else:
            self.outcomes[job.id] = "interrupted" if outcome.interrupted else "done"
            settle(job.future, result=outcome)
        finally:
            with self._cond:
                self._state = RunState()
                self._cond.notify_all()

    def _iterations(self, job: ServerJob, gallery: Gallery | None) -> JobOutcome:
        req = job.request
        seed = req.seed if req.seed >= 0 else secrets.randbelow(MAX_SEED + 1)
        outcome = JobOutcome([], seed=seed)
        with self._cond:
            self._state = RunState(
                job=req.mode,
                job_id=job.id,
                job_count=job.n_iter,
                sampling_steps=req.steps,
                job_timestamp=time.strftime("%Y%m%d%H%M%S"),
                time_start=time.time(),
            )
            self._cond.notify_all()
        for it in range(job.n_iter):
            if job.cancel.is_set():
                outcome.interrupted = True
                break
            job.step_cancel.clear()
            with self._cond:
                self._state.job_no = it
                self._state.sampling_step = 0
                self._state.skipped = False
            run = req.replace(seed=(seed + it * req.batch_size) % (MAX_SEED + 1))
            try:
                result = self.engine.generate(
                    run,
                    on_progress=lambda p: self._progress(job, p),
                    cancel=job.step_cancel,
                    finish_early=job.finish_early,
                )
            except Cancelled:
                if job.cancel.is_set():
                    outcome.interrupted = True
                    break
                outcome.skipped += 1
                continue
            if job.finish is not None:
                result = dataclasses.replace(result, images=[job.finish(i) for i in result.images])
            outcome.results.append(result)
            if gallery is not None:
                for image, text, s in zip(
                    result.images, result.infotexts, result.seeds, strict=True
                ):
                    try:
                        gallery.add(image, text, seed=s)
                    except EaselError as exc:
                        log.error("an image could not be saved to the gallery: %s", exc)
            if job.cancel.is_set():  # interrupted: this image came back as far as it got
                outcome.interrupted = True
                break
        return outcome

    def _progress(self, job: ServerJob, p: Progress) -> None:
        with self._cond:
            self._state.sampling_step = p.step
            self._state.sampling_steps = p.total
            if p.preview is not None:
                self._state.preview = p.preview
            self.last_steps[job.id] = p.step
            self._cond.notify_all()


class _Recent(OrderedDict):
    """A dict that forgets its oldest entries past ``HISTORY``."""

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, value)
        while len(self) > HISTORY:
            self.popitem(last=False)


def settle(future: Future, result: Any = None, exc: BaseException | None = None) -> None:
    """Answer a waiting request once; a later answer (the client already left) is dropped."""
    if future.done():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)
