"""Observable view state: the job list and the progress of the running job.

Widgets render these and call their methods; the window wires the engine worker's signals
into them. No widget code and no engine code here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from PySide6.QtCore import QObject, Signal

from app.request import GenerationRequest

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
FINAL_STATES = (DONE, FAILED, CANCELLED)
EXCERPT_CHARS = 60


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """The prompt on one line, cut at a word boundary with an ellipsis."""
    one_line = " ".join(text.split())
    if not one_line:
        return "(empty prompt)"
    if len(one_line) <= limit:
        return one_line
    cut = one_line[: limit - 1]
    if " " in cut[limit // 2 :]:
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip(" ,;") + "…"


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def time_left(step: int, total: int, elapsed: float) -> float:
    """Seconds left at the average pace so far."""
    if step <= 0 or total <= step:
        return 0.0
    return elapsed / step * (total - step)


def progress_text(step: int, total: int, elapsed: float) -> str:
    left = time_left(step, total, elapsed)
    text = f"Step {step}/{total}"
    if 0 < step < total:
        text += f"  ·  {format_duration(left)} left" if left >= 1 else "  ·  < 1 s left"
    elif step >= total:
        text += "  ·  saving…"
    return text


@dataclass
class JobEntry:
    id: int
    prompt: str
    size: str
    images: int
    state: str = QUEUED
    step: int = 0
    total: int = 0
    elapsed: float = 0.0
    message: str = ""
    paths: list[str] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)
    queued_at: float = field(default_factory=time.monotonic)
    mode: str = "txt2img"
    init_image: object = None  # the request's init image (path or PIL image), for a thumbnail

    @property
    def percent(self) -> int:
        return int(100 * self.step / self.total) if self.total else 0

    @property
    def status_text(self) -> str:
        if self.state == RUNNING:
            return f"running {self.percent}%" if self.total else "starting"
        if self.state == DONE:
            n = len(self.paths)
            return f"done · {n} image{'s' if n != 1 else ''}"
        if self.state == FAILED:
            return "failed"
        return self.state


class JobsState(QObject):
    """Every job of this session, in the order queued, with its state."""

    added = Signal(int)
    changed = Signal(int)
    removed = Signal(int)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._jobs: dict[int, JobEntry] = {}

    def get(self, job_id: int) -> JobEntry | None:
        return self._jobs.get(job_id)

    def entries(self) -> list[JobEntry]:
        return list(self._jobs.values())

    def active(self) -> list[JobEntry]:
        return [j for j in self._jobs.values() if j.state not in FINAL_STATES]

    def running(self) -> JobEntry | None:
        return next((j for j in self._jobs.values() if j.state == RUNNING), None)

    def queued(self, job_id: int, request: GenerationRequest) -> None:
        self._jobs[job_id] = JobEntry(
            job_id,
            request.prompt,
            f"{request.width}×{request.height}",
            request.batch_size,
            mode=request.mode,
            init_image=request.init_image if request.mode != "txt2img" else None,
        )
        self.added.emit(job_id)

    def _update(self, job_id: int, **changes: object) -> None:
        entry = self._jobs.get(job_id)
        if entry is None:
            return
        for key, value in changes.items():
            setattr(entry, key, value)
        self.changed.emit(job_id)

    def started(self, job_id: int) -> None:
        self._update(job_id, state=RUNNING)

    def progressed(self, job_id: int, step: int, total: int, elapsed: float) -> None:
        self._update(job_id, state=RUNNING, step=step, total=total, elapsed=elapsed)

    def finished(self, job_id: int, paths: list[str], seeds: list[int]) -> None:
        entry = self._jobs.get(job_id)
        step = entry.total if entry is not None else 0
        self._update(job_id, state=DONE, paths=list(paths), seeds=list(seeds), step=step)

    def failed(self, job_id: int, message: str) -> None:
        self._update(job_id, state=FAILED, message=message)

    def cancelled(self, job_id: int) -> None:
        self._update(job_id, state=CANCELLED)

    def clear_finished(self) -> None:
        for job_id in [j.id for j in self._jobs.values() if j.state in FINAL_STATES]:
            del self._jobs[job_id]
            self.removed.emit(job_id)
