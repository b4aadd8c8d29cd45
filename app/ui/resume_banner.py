""" "Resume 5 jobs?": the jobs left in the queue file when Easel last quit or crashed.

They come back paused: nothing runs until the user says Resume; Discard forgets them. The
jobs are read from an ``app.library.jobstore.JobStore`` and queued again on the engine
worker with their store ids, so a job resumed and interrupted again is still written down.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget

from app.errors import EaselError
from app.library.jobstore import StoredJob

log = logging.getLogger(__name__)


def offer_text(jobs: list[StoredJob]) -> str:
    n = len(jobs)
    images = sum(job.request.batch_size for job in jobs)
    what = f"{n} job{'s' if n != 1 else ''}"
    pictures = f"{images} image{'s' if images != 1 else ''}"
    return (
        f"<b>Resume {what}?</b> They were still queued when Easel last closed "
        f"({pictures}); they wait, paused, until you resume them."
    )


class ResumeBanner(QFrame):
    """A strip above the tabs, shown while stored jobs wait; emits what the user chose."""

    resumed = Signal(list)  # the engine worker's new job ids
    discarded = Signal(int)  # how many jobs were forgotten

    def __init__(self, store: Any, worker: Any, parent: QWidget | None = None) -> None:
        """``store``: a JobStore or None (then nothing is ever offered); ``worker``: an
        EngineWorker (``submit(request, model_path, tag=, store_id=)``)."""
        super().__init__(parent)
        self.setObjectName("resumeBanner")
        self.store = store
        self.worker = worker
        self.jobs: list[StoredJob] = []
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.resume_button = QPushButton("Resume")
        self.resume_button.setObjectName("primaryButton")
        self.resume_button.clicked.connect(lambda _checked=False: self.resume())
        self.discard_button = QPushButton("Discard")
        self.discard_button.setToolTip("Forget these jobs; nothing is generated")
        self.discard_button.clicked.connect(lambda _checked=False: self.discard())
        row = QHBoxLayout(self)
        row.setContentsMargins(16, 10, 16, 10)
        row.setSpacing(12)
        row.addWidget(self.label, 1)
        row.addWidget(self.discard_button)
        row.addWidget(self.resume_button)
        self.hide()

    def check(self) -> int:
        """Read the jobs left from last time; show the offer when there are any."""
        if self.store is None:
            return 0
        try:
            self.jobs = self.store.pending()
        except Exception:  # an unreadable queue file must not stop the window
            log.warning("could not read the stored queue", exc_info=True)
            self.jobs = []
        if self.jobs:
            self.label.setText(offer_text(self.jobs))
            self.resume_button.setText(
                f"Resume {len(self.jobs)} job{'s' if len(self.jobs) != 1 else ''}"
            )
        self.setVisible(bool(self.jobs))
        return len(self.jobs)

    def resume(self) -> list[int]:
        """Queue the offered jobs again, oldest first; returns their job ids."""
        ids = [
            self.worker.submit(job.request, job.model_path, tag=job.tag, store_id=job.id)
            for job in self.jobs
        ]
        self.jobs = []
        self.hide()
        self.resumed.emit(ids)
        return ids

    def discard(self) -> int:
        n = len(self.jobs)
        for job in self.jobs:
            try:
                self.store.remove(job.id)
            except EaselError:
                log.warning("could not forget stored job %d", job.id, exc_info=True)
        self.jobs = []
        self.hide()
        self.discarded.emit(n)
        return n
