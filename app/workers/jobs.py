"""The job queue between the window and the engine thread: plain Python, no Qt, no torch.

The Qt main thread adds and cancels jobs while the engine thread runs one; everything here
is guarded by one condition variable and nothing under it waits for long, so the main
thread never blocks on the engine.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app.request import GenerationRequest


@dataclass
class Job:
    """One generation: its request, the model folder to run it on, and its cancel flag."""

    id: int
    request: GenerationRequest
    model_path: str | None = None  # None: whatever model the engine has loaded
    cancel: threading.Event = field(default_factory=threading.Event)
    # "Finish now": stop after the running step and keep the picture reached
    finish_early: threading.Event = field(default_factory=threading.Event)
    tag: str = ""  # where the result goes back to ("canvas"), for the window
    store_id: int | None = None  # its row in the JobStore, while it is written down


@dataclass
class LoadCommand:
    """Load a model folder, or adopt a pipeline built by ``factory`` in the engine thread."""

    model_path: str | None = None
    factory: Callable[[], tuple[Any, str]] | None = None  # () -> (pipeline, name)
    precision: str | None = None  # Settings' precision override: "auto" | "fp32" | "bf16"
    compile_model: bool | None = None  # Settings' "Compile the model" (torch.compile)


@dataclass(frozen=True)
class JobResult:
    """What a finished job hands back to the window: plain data, no tensors, no images."""

    job_id: int
    paths: list[str]
    seeds: list[int]
    infotexts: list[str]
    elapsed: float
    tag: str = ""
    notes: tuple[str, ...] = ()  # what the engine did to fit or speed up the job


Item = Job | LoadCommand


class JobQueue:
    """A FIFO of jobs and load commands that the engine thread takes from one at a time."""

    def __init__(self) -> None:
        self._items: deque[Item] = deque()
        self._cond = threading.Condition(threading.RLock())
        self._closed = False
        self._current: Job | None = None
        self._ids = itertools.count(1)

    def new_id(self) -> int:
        with self._cond:
            return next(self._ids)

    def number_from(self, first: int) -> None:
        """Number new jobs from ``first`` on (a worker replacing another keeps ids unique)."""
        with self._cond:
            self._ids = itertools.count(first)

    def put(self, item: Item) -> None:
        with self._cond:
            if self._closed:
                raise RuntimeError("the job queue is closed")
            self._items.append(item)
            self._cond.notify()

    def take(self, timeout: float | None = None) -> Item | None:
        """The next item, marked current when it is a job; None when closed or timed out."""
        with self._cond:
            self._current = None
            if not self._cond.wait_for(lambda: self._items or self._closed, timeout):
                return None
            if self._closed:
                return None
            item = self._items.popleft()
            if isinstance(item, Job):
                self._current = item
            return item

    def done(self, job: Job) -> None:
        with self._cond:
            if self._current is job:
                self._current = None

    def cancel(self, job_id: int) -> str:
        """ "removed" when it was still queued, "signalled" when running, "" when unknown."""
        with self._cond:
            for item in self._items:
                if isinstance(item, Job) and item.id == job_id:
                    self._items.remove(item)
                    item.cancel.set()
                    return "removed"
            if self._current is not None and self._current.id == job_id:
                self._current.cancel.set()
                return "signalled"
            return ""

    def finish_now(self, job_id: int) -> bool:
        """Ask the running job to stop after its step and keep its picture; False when it is
        not the one running (a queued job has no picture yet: cancel it instead)."""
        with self._cond:
            if self._current is not None and self._current.id == job_id:
                self._current.finish_early.set()
                return True
            return False

    def cancel_all(self, exact: type | None = None) -> tuple[list[int], int | None]:
        """Drop every queued job and signal the running one: (removed ids, running id).

        ``exact``: only jobs of exactly this type (the window's, not a shared server's)."""
        with self._cond:
            jobs = self._jobs(exact)
            for job in jobs:
                job.cancel.set()
            gone = {id(job) for job in jobs}
            self._items = deque(item for item in self._items if id(item) not in gone)
            running = None
            current = self._current
            if current is not None and (exact is None or type(current) is exact):
                current.cancel.set()
                running = current.id
            return [job.id for job in jobs], running

    def _jobs(self, exact: type | None) -> list[Job]:
        return [
            item
            for item in self._items
            if isinstance(item, Job) and (exact is None or type(item) is exact)
        ]

    def find(self, job_id: int) -> Job | None:
        """The queued or running job with this id."""
        with self._cond:
            if self._current is not None and self._current.id == job_id:
                return self._current
            return next((i for i in self._items if isinstance(i, Job) and i.id == job_id), None)

    def cancel_all_jobs(self, exact: type | None = None) -> list[Job]:
        """``cancel_all``, returning the queued jobs it removed."""
        with self._cond:
            jobs = self._jobs(exact)
            self.cancel_all(exact)
            return jobs

    def remove_where(self, predicate: Callable[[Item], bool]) -> list[Item]:
        """Take the waiting items that match out of the queue (a shared server leaving)."""
        with self._cond:
            gone = [item for item in self._items if predicate(item)]
            self._items = deque(item for item in self._items if not predicate(item))
            return gone

    def pending_jobs(self) -> list[Job]:
        with self._cond:
            return [item for item in self._items if isinstance(item, Job)]

    def pending(self, exact: type | None = None) -> list[int]:
        with self._cond:
            return [job.id for job in self._jobs(exact)]

    @property
    def current(self) -> Job | None:
        with self._cond:
            return self._current

    def close(self) -> None:
        """Wake the engine thread so it can leave; queued items are dropped."""
        with self._cond:
            self._closed = True
            self._items.clear()
            if self._current is not None:
                self._current.cancel.set()
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        with self._cond:
            return self._closed
