"""What the main window does when its engine worker reports: a job started, progressed,
finished, failed or was cancelled; the engine or a model became ready or failed; plus the
status line and button state they share.

A mixin of ``MainWindow`` (app/ui/main_window.py), which builds every widget named below;
kept apart so the window's module stays about building and actions.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtGui import QImage
from PySide6.QtWidgets import QWidget

from app.ui.first_run_fast import advise_fast_path
from app.ui.state import format_duration, progress_text
from app.workers.jobs import JobResult

NO_MODEL = "Choose a model first: download one in the Models tab, or open a diffusers model folder."


class WindowEvents:
    """The worker's signals, as the window shows them."""

    _running_job: int | None
    _last_seed: int | None
    jobs: Any
    preview_panel: Any
    status_label: Any
    gallery_widget: Any
    canvas: Any
    banner: Any
    first_run: Any
    settings_panel: Any
    engine_label: Any
    model_label: Any
    worker: Any
    settings: Any
    cancel_button: Any

    def show_error(self, message: str) -> None:
        self.banner.show_message(message)

    # -- worker signals -------------------------------------------------------------------
    def _job_started(self, job_id: int) -> None:
        self._running_job = job_id
        self.jobs.started(job_id)
        self.preview_panel.preview.clear()  # the last picture is not this job's
        self.preview_panel.set_busy("Starting…")
        self.status_label.setText("Generating…")
        self._update_buttons()

    def _job_progress(self, job_id: int, step: int, total: int, elapsed: float) -> None:
        self.jobs.progressed(job_id, step, total, elapsed)
        if job_id == self._running_job:
            self.preview_panel.set_progress(step, total, progress_text(step, total, elapsed))

    def _job_preview(self, job_id: int, image: QImage) -> None:
        if job_id == self._running_job:
            self.preview_panel.preview.set_image(image, "preview")

    def _job_finished(self, job_id: int, result: JobResult) -> None:
        self.jobs.finished(job_id, result.paths, result.seeds)
        for path in reversed(result.paths):  # newest first, the batch's first image selected
            self.preview_panel.thumbs.add_image(path)
        if result.paths:
            self.preview_panel.show_path(result.paths[0])
        if result.seeds:
            self._last_seed = result.seeds[0]
        if self.gallery_widget is not None and result.paths:
            self.gallery_widget.add_paths(result.paths)
        if result.tag == "canvas" and result.paths:
            self.canvas.take_result(result.paths[0])
        seeds = ", ".join(str(s) for s in result.seeds[:4]) + ("…" if len(result.seeds) > 4 else "")
        notes = "".join(f"  ·  {n}" for n in result.notes)
        self._job_over(job_id, f"Done in {format_duration(result.elapsed)}  ·  seed {seeds}{notes}")

    def _job_failed(self, job_id: int, message: str) -> None:
        self.jobs.failed(job_id, message)
        self.show_error(message)
        if job_id == self._running_job:
            self.preview_panel.preview.clear()  # no half-made picture stays up
        if self.gallery_widget is not None and self.gallery_widget.check_unsaved():
            self.banner.set_action("Retry save", self.gallery_widget.retry_save)  # full disk
        self._job_over(job_id, "Failed")

    def _job_cancelled(self, job_id: int) -> None:
        self.jobs.cancelled(job_id)
        self._job_over(job_id, "Cancelled")

    def _job_over(self, job_id: int, text: str) -> None:
        if job_id == self._running_job:
            self._running_job = None
            self.preview_panel.set_idle(text)
        if not self.jobs.active():
            self.status_label.setText(self._ready_text())
        self._update_buttons()

    def _engine_ready(self, device: str) -> None:
        self.engine_label.setText(device)
        advise_fast_path(self.first_run, device, self.settings_panel.speed.set_speed)
        self.engine_label.setProperty("state", "ready")
        self._restyle(self.engine_label)
        if not self.jobs.active():
            self.status_label.setText(self._ready_text())

    def _engine_failed(self, message: str) -> None:
        self._engine_down = True
        self.engine_label.setText("Engine unavailable")
        self.engine_label.setProperty("state", "failed")
        self._restyle(self.engine_label)
        self.status_label.setText("The engine could not start.")
        self.show_error(message)

    def _model_loading(self, name: str) -> None:
        self.model_label.setText(f"Loading {name}…")
        if self._running_job is not None:
            self.preview_panel.set_busy(f"Loading {name}…")

    def _model_ready(self, name: str) -> None:
        self.model_label.setText(name)
        if self._running_job is not None:  # loaded: the job is starting, not loading
            self.preview_panel.set_busy("Starting…")

    def _model_failed(self, message: str) -> None:
        self.model_label.setText("No model loaded")
        self.show_error(message)

    # -- helpers --------------------------------------------------------------------------
    def _ready_text(self) -> str:
        if getattr(self, "_engine_down", False):
            return "The engine could not start."
        if not self.worker.ready:
            return "Loading engine… you can queue jobs already."
        return "Ready." if self.settings.model_path or self._remote() else NO_MODEL

    def _remote(self) -> bool:
        """The engine is an Easel server's: it has models even when this computer has none."""
        return bool(getattr(self.worker, "remote", False))

    def _update_buttons(self) -> None:
        running = self._running_job is not None
        self.cancel_button.setEnabled(running)
        self.preview_panel.finish_button.setVisible(running)
        self.preview_panel.finish_button.setEnabled(running)

    @staticmethod
    def _restyle(widget: QWidget) -> None:
        widget.style().unpolish(widget)
        widget.style().polish(widget)
