"""The main window: Generate / Gallery / Canvas tabs around one engine worker and job queue."""

from __future__ import annotations

import base64
import dataclasses
import logging
import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QCoreApplication, Qt, QTimer
from PySide6.QtGui import QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.errors import EaselError, InvalidRequest
from app.library.gallery import Gallery
from app.library.jobstore import JobStore
from app.request import MAX_SEED, GenerationRequest, validate
from app.ui.canvas import CanvasWidget
from app.ui.chrome import ErrorBanner, ModelPicker
from app.ui.engine_settings import EngineController
from app.ui.gallery_view import GalleryWidget
from app.ui.generate_tab import GenerateTab
from app.ui.model_manager import FirstRunBanner, ModelManagerWidget
from app.ui.model_match import find_model, model_not_installed_text, prune_recent
from app.ui.model_open import choose_model
from app.ui.paste_restore import PasteRestoreOffer
from app.ui.queue_guard import confirm_close, confirm_many_images, esc_may_cancel
from app.ui.resources import icon
from app.ui.resume_banner import ResumeBanner
from app.ui.settings import RESTORED_FIELDS, UiSettings, load_settings, save_settings
from app.ui.state import JobsState
from app.ui.status_line import StatusLabel, show_note
from app.ui.upscale_dialog import UpscaleFlow
from app.ui.window_events import NO_MODEL, WindowEvents
from app.workers.engine_worker import EngineWorker
from app.workers.models_worker import ModelsWorker

log = logging.getLogger(__name__)

REQUEST_FIELDS = frozenset(f.name for f in dataclasses.fields(GenerationRequest))


class MainWindow(WindowEvents, QMainWindow):
    def __init__(
        self,
        model_path: str | None = None,
        worker: EngineWorker | None = None,
        gallery: Gallery | None = None,
        models_worker: ModelsWorker | None = None,
    ) -> None:
        super().__init__()
        self.setWindowTitle("Easel")
        self.setWindowIcon(icon("easel"))
        self.settings: UiSettings = load_settings()
        model_path = model_path or os.environ.get("EASEL_MODEL", "")
        if model_path:
            self.settings.remember_model(str(Path(model_path).expanduser()))
        self.jobs = JobsState(self)
        self._last_seed: int | None = None
        self._running_job: int | None = None
        self._closed = False
        self._precision_hooked = False

        self.banner = ErrorBanner()
        self._owns_gallery = gallery is None
        self.gallery = gallery if gallery is not None else self._open_gallery()
        self._owned_store: JobStore | None = None
        if worker is None:  # the queue is written down, so it survives quitting and crashing
            self._owned_store = self._open_store()
        # Settings → Engine: this computer's engine or an Easel server's, and sharing.
        self.engine = EngineController(self, device=os.environ.get("EASEL_DEVICE") or None)
        self.engine.error.connect(self.show_error)
        self.worker = worker or self.engine.make_worker(
            self.settings, self.gallery, self._owned_store
        )

        self.models_worker = models_worker or ModelsWorker(self)
        self._installed: dict[str, str] = {}  # path -> name of the installed models

        self._build()
        self._connect_worker()
        self._restore()
        self.resume_banner.check()  # jobs left from last time come back paused
        self.prompt_panel.prompt.setFocus()

    # -- construction ---------------------------------------------------------------------
    def _open_gallery(self) -> Gallery | None:
        try:
            return Gallery()
        except EaselError as exc:
            message = str(exc)
            QTimer.singleShot(0, lambda: self.show_error(message))
            return None

    def _open_store(self) -> JobStore | None:
        try:
            return JobStore()
        except EaselError as exc:
            message = str(exc)
            QTimer.singleShot(0, lambda: self.show_error(message))
            return None

    def _build(self) -> None:
        self.model_picker = ModelPicker()
        self.model_picker.modelChosen.connect(self.set_model_path)
        self.model_picker.openRequested.connect(self.open_model_folder)
        self.engine_label = QLabel("Loading engine…")
        self.engine_label.setObjectName("enginePill")
        self.engine_label.setProperty("state", "loading")

        title = QLabel()
        title.setPixmap(icon("easel").pixmap(26, 26))
        name = QLabel("Easel")
        name.setObjectName("appTitle")
        header = QFrame()
        header.setObjectName("header")
        top = QHBoxLayout(header)
        top.setContentsMargins(16, 10, 16, 10)
        top.setSpacing(10)
        top.addWidget(title)
        top.addWidget(name)
        top.addSpacing(24)
        top.addWidget(self.model_picker, 0)
        top.addStretch(1)
        top.addWidget(self.engine_label)
        self.settings_button = QToolButton()
        self.settings_button.setIcon(icon("settings"))
        self.settings_button.setToolTip("Settings: the engine, and letting other apps use Easel")
        self.settings_button.setAutoRaise(True)
        self.settings_button.clicked.connect(self.engine.open_settings)
        top.addWidget(self.settings_button)

        self.tabs = QTabWidget()
        self.tabs.setObjectName("mainTabs")
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self._build_generate_tab(), "Generate")
        self.gallery_widget: GalleryWidget | None = None
        self.upscales = UpscaleFlow(self)
        self.models_worker.modelsListed.connect(self.upscales.set_listing)
        if self.gallery is not None:
            self.gallery_widget = GalleryWidget(self.gallery)
            self.gallery_widget.restoreRequested.connect(self.restore_request)
            self.gallery_widget.sendToCanvasRequested.connect(self.send_to_canvas)
            self.gallery_widget.notice.connect(self.show_error)  # "index rebuilt from 42"
            self.gallery_widget.upscaleRequested.connect(self.upscales.open)
            self.upscales.pictureAdded.connect(lambda p: self.gallery_widget.add_paths([p]))
            self.tabs.addTab(self.gallery_widget, "Gallery")
        self.canvas = CanvasWidget()
        self.canvas.generateRequested.connect(self.generate_from_canvas)
        self.canvas.upscaleRequested.connect(
            lambda p: self.upscales.open(p, then=lambda new: self.canvas.load_image(new, ask=False))
        )
        self.canvas.attach_worker(self.worker)
        self.models_worker.modelsListed.connect(self.canvas.set_models_listing)
        self.tabs.addTab(self.canvas, "Canvas")
        self.tabs.currentChanged.connect(self._prefill_canvas)
        self.model_manager = ModelManagerWidget(self.models_worker)
        self.model_manager.installedChanged.connect(self._installed_changed)
        self.model_manager.message.connect(lambda text: show_note(self.statusBar(), text))
        self.model_manager.error.connect(self.show_error)  # the one banner for every error
        self.tabs.addTab(self.model_manager, "Models")
        self.first_run = FirstRunBanner()
        self.first_run.downloadRequested.connect(self.download_default_model)
        self.first_run.openRequested.connect(self.open_model_folder)

        central = QWidget()
        column = QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(header)
        column.addWidget(self.banner)
        column.addWidget(self.first_run)
        self.resume_banner = ResumeBanner(self.worker.store, self.worker)
        column.addWidget(self.resume_banner)
        column.addWidget(self.tabs, 1)
        self.setCentralWidget(central)

        self.status_label = StatusLabel(self.statusBar(), "Starting…")
        self.model_label = QLabel("")
        self.model_label.setObjectName("dimLabel")
        self.statusBar().addWidget(self.status_label, 1)
        self.statusBar().addPermanentWidget(self.model_label)

        for keys in ("Ctrl+Return", "Ctrl+Enter"):
            QShortcut(QKeySequence(keys), self, self.generate_current_tab)
        QShortcut(QKeySequence(Qt.Key.Key_Escape), self, self.escape_pressed)

    def _build_generate_tab(self) -> QWidget:
        tab = GenerateTab(self.jobs)
        # The tab's parts, by the names the rest of the window (and the tests) use.
        self.prompt_panel = tab.prompt_panel
        self.settings_panel = tab.settings_panel
        self.generate_button = tab.generate_button
        self.cancel_button = tab.cancel_button
        self.preview_panel = tab.preview_panel
        self.queue_panel = tab.queue_panel
        self.splitter = tab
        self.prompt_panel.submitted.connect(self.generate)
        self.settings_panel.reuseSeedRequested.connect(self.reuse_last_seed)
        self.generate_button.clicked.connect(self.generate)
        self.cancel_button.clicked.connect(self.cancel_current)
        self.preview_panel.finish_button.clicked.connect(self.finish_current)
        self.queue_panel.cancelRequested.connect(self.worker_cancel)
        self.queue_panel.cancelAllRequested.connect(self.cancel_all)
        self.queue_panel.jobChosen.connect(self.show_job)
        self.network_browser = tab.network_browser
        self.hires_panel = tab.hires_panel
        from app.ui.hires_panel import hook_into_window

        hook_into_window(self, tab.hires_panel)
        self.paste_offer = PasteRestoreOffer.install(self)
        tab.network_browser.refreshRequested.connect(self.models_worker.refresh_networks)
        self.models_worker.networksListed.connect(tab.network_browser.set_networks)
        self.control_panel = tab.control_panel
        self.models_worker.modelsListed.connect(tab.control_panel.set_models)
        return tab

    def _connect_worker(self) -> None:
        w = self.worker
        w.jobQueued.connect(self.jobs.queued)
        w.jobQueued.connect(lambda *_: self._update_buttons())
        w.jobStarted.connect(self._job_started)
        w.progress.connect(self._job_progress)
        w.preview.connect(self._job_preview)
        w.jobFinished.connect(self._job_finished)
        w.jobFailed.connect(self._job_failed)
        w.jobCancelled.connect(self._job_cancelled)
        w.engineReady.connect(self._engine_ready)
        w.engineFailed.connect(self._engine_failed)
        w.modelLoading.connect(self._model_loading)
        w.modelReady.connect(self._model_ready)
        w.modelFailed.connect(self._model_failed)

    def _restore(self) -> None:
        s = self.settings
        self.prompt_panel.set_texts(s.prompt, s.negative_prompt)
        self.settings_panel.apply(s)
        self._show_models(s.model_path)
        if s.geometry:
            self.restoreGeometry(QByteArray(base64.b64decode(s.geometry)))
        else:
            self.resize(1440, 900)
        if s.splitter:
            self.splitter.restoreState(QByteArray(base64.b64decode(s.splitter)))

    # -- engine lifecycle -----------------------------------------------------------------
    def start_engine(self) -> None:
        """Start the engine thread (torch loads there); jobs queue up meanwhile."""
        self.status_label.setText("Loading engine… you can queue jobs already.")
        self.worker.start()
        if self.settings.precision != "auto":
            self._set_precision(self.settings.precision)  # before the model loads
        if self.settings.compile_model:
            self._set_compile(True)
        if not self._precision_hooked:
            self._precision_hooked = True
            self.settings_panel.precision.precisionChanged.connect(self._set_precision)
            self.settings_panel.compile_model.toggled.connect(self._set_compile)
        self.models_worker.refresh()
        if self.settings.model_path:
            self.worker.load_model(self.settings.model_path)
            self.prompt_panel.set_model_dir(self.settings.model_path)
        if self.settings.share_engine:
            self.engine.update_host(self.settings)

    def _set_precision(self, precision: str) -> None:
        """This computer's engine only: a server runs at its own precision."""
        if hasattr(self.worker, "set_precision"):
            self.worker.set_precision(precision)

    def _set_compile(self, on: bool) -> None:
        """This computer's engine only, like the precision."""
        if hasattr(self.worker, "set_compile"):
            self.worker.set_compile(on)

    def use_worker(self, worker: EngineWorker | Any) -> None:
        """Swap the engine (Settings → Engine): the old one's jobs are cancelled."""
        old = self.worker
        old.cancel_all()
        old.shutdown()
        QCoreApplication.sendPostedEvents(old)  # its last signals, then silence
        old.blockSignals(True)
        old.deleteLater()
        worker.number_jobs_from(max((e.id for e in self.jobs.entries()), default=0) + 1)
        self.worker, self._running_job = worker, None
        self.engine_label.setText("Loading engine…")
        self.engine_label.setProperty("state", "loading")
        self._restyle(self.engine_label)
        self._connect_worker()
        self.start_engine()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        pending = len(self.jobs.active())
        if not self._closed and not confirm_close(self, pending, self.worker.store is not None):
            event.ignore()
            return
        if not self._closed:
            self._closed = True
            self.save_settings()
            self.canvas.save_now()
            self.hide()
            if self.gallery_widget is not None:
                self.gallery_widget.shutdown()
            self.engine.shutdown()  # the shared server first: it uses the engine's queue
            self.worker.shutdown()
            self.upscales.shutdown()
            self.models_worker.shutdown()
            if self._owns_gallery and self.gallery is not None:
                self.gallery.close()
            if self._owned_store is not None:
                self._owned_store.close()
        super().closeEvent(event)

    # -- settings -------------------------------------------------------------------------
    def current_settings(self) -> UiSettings:
        s = self.settings
        s.prompt = self.prompt_panel.prompt_text()
        s.negative_prompt = self.prompt_panel.negative_text()
        self.settings_panel.read_into(s)
        return s

    def save_settings(self) -> None:
        s = self.current_settings()
        s.geometry = base64.b64encode(bytes(self.saveGeometry().data())).decode("ascii")
        s.splitter = base64.b64encode(bytes(self.splitter.saveState().data())).decode("ascii")
        save_settings(s)

    def set_model_path(self, path: str) -> None:
        self.settings.remember_model(path)
        self._show_models(path)
        self.first_run.hide()
        self.worker.load_model(path)
        self.prompt_panel.set_model_dir(path)

    def _show_models(self, current: str) -> None:
        recent = [p for p in self.settings.recent_models if p not in self._installed]
        self.model_picker.set_models([*self._installed, *recent], current, self._installed)
        self.hires_panel.model_shown(current)
        manager = getattr(self, "model_manager", None)
        self.settings_panel.speed.set_models(manager.models if manager else [], current)

    def _installed_changed(self, installed: list[dict[str, Any]]) -> None:
        """The model manager's list arrived: fill the picker; pick the default on first run."""
        before = set(self._installed)
        self._installed = {m["path"]: m["name"] for m in installed if m["path"]}
        # A model deleted or forgotten in the Models tab leaves the picker too.
        s = self.settings
        s.recent_models = prune_recent(s.recent_models, before, set(self._installed))
        current = self.settings.model_path
        if current and (not Path(current).exists() or current in before - set(self._installed)):
            current = ""  # deleted or forgotten: the default takes over
        if not current and installed:
            default = next((m for m in installed if m["default"]), installed[0])
            self.set_model_path(default["path"])
            return
        self._show_models(current)
        self.first_run.setVisible(
            not installed
            and not current
            and not self.model_manager.downloading
            and not self._remote()
        )

    def download_default_model(self) -> None:
        self.first_run.hide()  # the Models tab shows the progress
        self.tabs.setCurrentWidget(self.model_manager)
        self.model_manager.download(self.first_run.model_id)

    def open_model_folder(self) -> None:
        """Open a model file or a diffusers folder; it is listed in the Models tab too."""
        start = self.settings.model_path or str(Path.home())
        path = choose_model(self, start)
        if path:
            if path not in self._installed:
                self.models_worker.open_path(path)  # listed where it is, never copied
            self.set_model_path(path)
        else:  # put the combo back on the model in use
            self._show_models(self.settings.model_path)

    # -- actions --------------------------------------------------------------------------
    def generate(self) -> list[int]:
        """Queue the Generate tab's settings (batch count jobs); returns their job ids."""
        s = self.current_settings()
        if not s.model_path and not self._remote():
            self.show_error(NO_MODEL)
            return []
        if not confirm_many_images(self, s.batch_size * s.batch_count, s.batch_count):
            return []
        ids = []
        for i in range(s.batch_count):
            seed = s.seed if s.seed < 0 else (s.seed + i * s.batch_size) % (MAX_SEED + 1)
            job = self.submit(
                s.to_request(
                    seed=seed, controlnets=self.control_panel.units(), **self.hires_panel.changes()
                )
            )
            if job is None:
                break
            ids.append(job)
        save_settings(s)
        return ids

    def generate_current_tab(self) -> None:
        """Ctrl+Enter: the canvas generates from its picture, every other tab from the prompt."""
        if self.tabs.currentWidget() is self.canvas:
            self.canvas.generate()
        else:
            self.generate()

    def submit(self, request: GenerationRequest, tag: str = "") -> int | None:
        """Check a request at once (one sentence when wrong) and queue it."""
        try:
            validate(request)
        except InvalidRequest as exc:
            self.show_error(str(exc))
            return None
        self.banner.hide()
        return self.worker.submit(request, self.settings.model_path or None, tag=tag)

    def generate_from_canvas(self, payload: dict[str, Any]) -> int | None:
        s = self.current_settings()
        if not s.model_path and not self._remote():
            self.show_error(NO_MODEL)
            return None
        init = payload.get("init_image")
        # The canvas's own prompt, steps, seed and images; the rest from the Generate tab.
        changes: dict[str, Any] = {k: v for k, v in payload.items() if k in REQUEST_FIELDS}
        size = getattr(init, "size", None)
        if size is not None:
            changes["width"], changes["height"] = (
                max(64, size[0] // 8 * 8),
                max(64, size[1] // 8 * 8),
            )
        job = self.submit(s.to_request(**changes), tag="canvas")
        if job is not None:
            self.canvas.track_job(job)
        return job

    def _prefill_canvas(self, _index: int = 0) -> None:
        """The canvas's prompt fields start from the Generate tab's until edited there."""
        if self.tabs.currentWidget() is self.canvas:
            p = self.prompt_panel
            self.canvas.prefill(
                p.prompt_text(), p.negative_text(), self.settings_panel.steps.value()
            )

    def escape_pressed(self) -> None:
        """Esc cancels only from the prompt, the preview or the queue, never to close a menu."""
        if esc_may_cancel((self.prompt_panel, self.preview_panel, self.queue_panel)):
            self.cancel_current()

    def finish_current(self) -> None:
        """Stop the running job after its step and keep its picture as it is."""
        if self._running_job is not None and self.worker.finish_now(self._running_job):
            self.preview_panel.finish_button.setEnabled(False)
            self.preview_panel.set_busy("Finishing after this step…")

    def cancel_current(self) -> None:
        if self._running_job is not None:
            self.worker.cancel(self._running_job)
            self.preview_panel.set_busy("Cancelling…")

    def worker_cancel(self, job_id: int) -> None:
        self.worker.cancel(job_id)

    def cancel_all(self) -> None:
        self.worker.cancel_all()
        if self._running_job is not None:
            self.worker.cancel(self._running_job)

    def show_job(self, job_id: int) -> None:
        """A finished job chosen in the queue: show its first picture."""
        entry = self.jobs.get(job_id)
        if entry is not None and entry.paths:
            self.preview_panel.show_path(entry.paths[0])

    def reuse_last_seed(self) -> None:
        if self._last_seed is not None:
            self.settings_panel.seed.setValue(self._last_seed)

    def restore_request(self, request: GenerationRequest) -> None:
        """Put a gallery picture's settings back into the Generate tab."""
        self.prompt_panel.set_texts(request.prompt, request.negative_prompt)
        s = self.current_settings()
        for name in RESTORED_FIELDS:
            setattr(s, name, getattr(request, name))
        self.settings_panel.apply(s)
        self._restore_model(request.model)
        self.control_panel.apply_units(tuple(request.controlnets))
        self.hires_panel.apply_request(request)
        self.tabs.setCurrentIndex(0)

    def _restore_model(self, model: str) -> None:
        """The picture's model: switch to it when installed, say which it was when not."""
        if not model:
            return
        path = find_model(model, self._installed)
        if path is None:
            current = self._installed.get(self.settings.model_path, "")
            self.show_error(model_not_installed_text(model, current))
        elif path != self.settings.model_path:
            self.set_model_path(path)

    def send_to_canvas(self, path: str) -> None:
        if self.canvas.load_image(path):
            self.tabs.setCurrentWidget(self.canvas)
