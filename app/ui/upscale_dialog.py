"""Upscale a gallery picture: choose the upscaler and the factor, then watch the tiles go by
with Cancel at hand. The window runs the job (``UpscaleWorker``) and feeds this dialog."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QImageReader
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

BUILTINS = (("Lanczos", "Lanczos (fast, no model)"),)
NO_MODELS_HINT = (
    "For sharper detail, put an upscaler model (.pth or .safetensors: ESRGAN, SwinIR, HAT, e.g. "
    "RealESRGAN x4plus or 4x-UltraSharp) in your models' upscalers folder, or download one in "
    "Models."
)


def installed_upscalers(listing: dict[str, Any] | None) -> list[tuple[str, str]]:
    """(name the engine resolves, label) of each installed upscaler in a models listing."""
    from app.ui.listing import installed

    return [
        (str(m.get("path") or m["name"]), str(m["name"])) for m in installed(listing, "upscaler")
    ]


class UpscaleDialog(QDialog):
    """Asks, then shows progress; ``startRequested(upscaler, scale)`` and ``cancelRequested``."""

    startRequested = Signal(str, float)
    cancelRequested = Signal()

    def __init__(
        self,
        picture: Path,
        size: tuple[int, int],
        upscalers: list[tuple[str, str]],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Upscale picture")
        self.setObjectName("upscaleDialog")
        self.size_in = size
        self.upscaler = QComboBox()
        for name, label in [*upscalers, *BUILTINS]:  # a model first: it is the better result
            self.upscaler.addItem(label, name)
        self.scale = QComboBox()
        self.scale.addItem("2x", 2.0)
        self.scale.addItem("4x", 4.0)
        self.result_label = QLabel()
        self.hint = QLabel(NO_MODELS_HINT if not upscalers else "")
        self.hint.setWordWrap(True)
        self.hint.setObjectName("hintLabel")
        self.hint.setVisible(not upscalers)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.start_button = QPushButton("Upscale")
        self.start_button.setObjectName("primaryButton")
        self.start_button.setDefault(True)
        self.close_button = QPushButton("Cancel")

        form = QFormLayout()
        form.addRow("Picture", QLabel(f"{picture.name}  ({size[0]} × {size[1]})"))
        form.addRow("Upscaler", self.upscaler)
        form.addRow("Scale", self.scale)
        form.addRow("Result", self.result_label)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.close_button)
        buttons.addWidget(self.start_button)
        box = QVBoxLayout(self)
        box.addLayout(form)
        box.addWidget(self.hint)
        box.addWidget(self.progress)
        box.addWidget(self.status)
        box.addLayout(buttons)
        self.setMinimumWidth(440)

        self.scale.currentIndexChanged.connect(self._show_result_size)
        self.start_button.clicked.connect(self._start)
        self.close_button.clicked.connect(self._close_or_cancel)
        self._running = False
        self._show_result_size()

    def _show_result_size(self) -> None:
        f = float(self.scale.currentData())
        w, h = round(self.size_in[0] * f), round(self.size_in[1] * f)
        self.result_label.setText(f"{w} × {h}, saved as a new picture in the gallery")

    def _start(self) -> None:
        self._running = True
        for w in (self.upscaler, self.scale, self.start_button):
            w.setEnabled(False)
        self.progress.setRange(0, 0)  # busy until the first tile reports
        self.progress.setVisible(True)
        self.status.setText("Upscaling…")
        self.startRequested.emit(str(self.upscaler.currentData()), float(self.scale.currentData()))

    def _close_or_cancel(self) -> None:
        if self._running:
            self.status.setText("Cancelling after this tile…")
            self.cancelRequested.emit()
        else:
            self.reject()

    def set_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)
        self.status.setText(f"Upscaling: tile {done} of {total}")

    def finish(self, message: str, ok: bool) -> None:
        """The job ended: say how, and let the user close the dialog."""
        self._running = False
        self.progress.setVisible(False)
        self.status.setText(message)
        self.close_button.setText("Close")
        self.start_button.setEnabled(not ok)
        self.upscaler.setEnabled(not ok)
        self.scale.setEnabled(not ok)
        if ok:
            self.close_button.setFocus(Qt.FocusReason.OtherFocusReason)


class UpscaleFlow(QObject):
    """The window's upscales: the dialog for a picture, the worker (started on first use),
    and ``pictureAdded(path)`` for the gallery when one is saved."""

    pictureAdded = Signal(str)

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self._parent = parent
        self._listing: dict[str, Any] | None = None
        self._worker: Any = None
        self._then: Any = None
        self.dialog: UpscaleDialog | None = None

    def set_listing(self, listing: dict[str, Any]) -> None:
        self._listing = listing

    def open(self, path: str, then: Any = None) -> UpscaleDialog | None:
        """The dialog for the picture at ``path``; ``then(new_path)`` runs once it is saved."""
        if self.dialog is not None and self.dialog.isVisible():
            self.dialog.raise_()
            return self.dialog
        reader = QImageReader(path)
        size = reader.size()
        if not size.isValid():
            return None
        dialog = UpscaleDialog(
            Path(path), (size.width(), size.height()), installed_upscalers(self._listing),
            self._parent,
        )  # fmt: skip
        dialog.startRequested.connect(lambda name, f: self._worker_().upscale(path, name, f))
        dialog.cancelRequested.connect(lambda: self._worker_().cancel())
        self.dialog = dialog
        self._then = then
        dialog.show()
        return dialog

    def _worker_(self) -> Any:
        if self._worker is None:
            from app.workers.upscale_worker import UpscaleWorker

            w = UpscaleWorker(self)
            w.progress.connect(lambda d, t: self.dialog and self.dialog.set_progress(d, t))
            w.finished.connect(self._finished)
            w.failed.connect(lambda msg: self.dialog and self.dialog.finish(msg, ok=False))
            w.cancelled.connect(
                lambda: self.dialog and self.dialog.finish("Cancelled; nothing was saved.", False)
            )
            self._worker = w
        return self._worker

    def _finished(self, path: str) -> None:
        self.pictureAdded.emit(path)
        if self._then is not None:
            self._then(path)
        if self.dialog is not None:
            self.dialog.finish(f"Saved in the gallery as {Path(path).name}.", ok=True)

    def shutdown(self) -> None:
        if self._worker is not None:
            self._worker.shutdown()
