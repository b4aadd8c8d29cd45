"""The model manager: installed and available models, downloads, imports, default, delete.

Plain widgets bound to ``ModelsWorker`` signals; every operation runs in the models thread.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.models.kinds import KINDS, matches
from app.ui.model_delete import DeletePlan, human_bytes, plan_delete
from app.ui.model_match import disk_summary
from app.workers.models_worker import ModelsWorker

KIND_LABELS = {k.id: k.label for k in KINDS.values()} | {"unknown": "Unknown"}
# The kind filter above the table: (label, filter id for app.models.kinds.matches).
KIND_FILTERS = [("All kinds", None)] + [(f"{k.label}s", k.id) for k in KINDS.values()]
KIND_FILTERS.insert(2, ("Inpainting checkpoints", "inpainting"))
FAMILY_LABELS = {
    "sd1": "SD 1.x", "sd2": "SD 2.x", "sd2-v": "SD 2.x (768, v)", "sdxl": "SDXL",
    "lora-sd1": "SD 1.x", "taesd": "SD 1.x/2.x", "taesdxl": "SDXL",
    "controlnet-sd1": "SD 1.x", "controlnet-sdxl": "SDXL", "preprocessor": "Any",
    "vae-sdxl": "SDXL", "upscaler": "Any",
}  # fmt: skip
SOURCE_LABELS = {
    "catalog": "Hugging Face",
    "imported": "Imported",
    "library": "Your folder",
    "folder": "Your folder",
}


def human_eta(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.0f} s left"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min left"
    return f"{seconds / 3600:.1f} h left"


def download_text(p: dict[str, Any]) -> str:
    if p.get("phase") == "verify":
        return (
            f"Checking files already on disk… {human_bytes(p['done'])} of {human_bytes(p['total'])}"
        )
    parts = [f"{human_bytes(p['done'])} of {human_bytes(p['total'])}"]
    if p.get("speed"):
        parts.append(f"{p['speed'] / 1e6:.1f} MB/s")
    if p.get("eta") is not None:
        parts.append(human_eta(p["eta"]))
    return " · ".join(parts)


class FirstRunBanner(QFrame):
    """Shown while no model is installed: one click downloads the default model."""

    downloadRequested = Signal()
    openRequested = Signal()

    def __init__(
        self,
        model_id: str = "sd15",
        label: str = "Stable Diffusion 1.5",
        size: str = "2.1 GB",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("firstRunBanner")
        self.model_id = model_id
        text = QLabel(
            f"<b>Welcome to Easel.</b> To make pictures, Easel needs a model: {label} "
            f"({size}, downloaded once, then everything works offline)."
        )
        text.setWordWrap(True)
        self.download_button = QPushButton(f"Download {label}")
        self.download_button.setObjectName("primaryButton")
        self.download_button.clicked.connect(self.downloadRequested)
        other = QPushButton("Use a model I have…")
        other.clicked.connect(self.openRequested)
        row = QHBoxLayout(self)
        row.setContentsMargins(16, 10, 16, 10)
        row.setSpacing(12)
        row.addWidget(text, 1)
        row.addWidget(other)
        row.addWidget(self.download_button)
        self.hide()


class ModelManagerWidget(QWidget):
    """The Models tab. Emits ``installedChanged`` with the usable checkpoints (dicts)."""

    installedChanged = Signal(object)
    message = Signal(str)  # a note: imported, removed, default set, download done
    error = Signal(str)  # a failure, one sentence: the window shows it in its error banner

    COLUMNS = ("Name", "Type", "Family", "Size", "Status", "Source")

    def __init__(self, worker: ModelsWorker, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ModelManager")
        self.worker = worker
        self.models: list[dict[str, Any]] = []
        self.downloading: str | None = None
        self.setAcceptDrops(True)

        title = QLabel("Models")
        title.setObjectName("sectionLabel")
        self.summary = QLabel("Looking for models…")
        self.summary.setObjectName("dimLabel")
        self.summary.setWordWrap(True)

        self.kind_filter = QComboBox()
        self.kind_filter.setObjectName("kindFilter")
        for text, kind in KIND_FILTERS:
            self.kind_filter.addItem(text, kind)
        self.kind_filter.setToolTip("Show one kind of model file")
        self.kind_filter.currentIndexChanged.connect(lambda _i: self._render())

        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.setShowGrid(False)
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in range(1, len(self.COLUMNS)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.table.itemSelectionChanged.connect(self._selection_changed)

        self.details = QLabel("")
        self.details.setWordWrap(True)
        self.details.setObjectName("dimLabel")
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.progress_label = QLabel("")
        self.progress_label.setObjectName("dimLabel")
        self.progress.hide()
        self.progress_label.hide()

        self.download_button = QPushButton("Download")
        self.download_button.setObjectName("primaryButton")
        self.cancel_button = QPushButton("Cancel download")
        self.default_button = QPushButton("Set as default")
        self.delete_button = QPushButton("Delete…")
        self.delete_button.setObjectName("dangerButton")
        self.import_button = QPushButton("Import file…")
        self.folder_button = QPushButton("Add folder…")
        self.cancel_button.hide()
        self.download_button.clicked.connect(self.download_selected)
        self.cancel_button.clicked.connect(self.worker.cancel_download)
        self.default_button.clicked.connect(self.set_default_selected)
        # clicked(bool) must not land in a parameter: Delete always asks first.
        self.delete_button.clicked.connect(lambda _checked=False: self.delete_selected())
        self.import_button.clicked.connect(self.choose_import_file)
        self.folder_button.clicked.connect(self.choose_folder)

        buttons = QHBoxLayout()
        for b in (
            self.download_button,
            self.cancel_button,
            self.default_button,
            self.delete_button,
        ):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.import_button)
        buttons.addWidget(self.folder_button)

        hint = QLabel(
            "Drop .safetensors or .ckpt files, a diffusers folder, or your A1111/ComfyUI models "
            "folder here. Pickle (.ckpt) files are opened with an allow-list and converted to "
            ".safetensors once; files that would run code are refused."
        )
        hint.setObjectName("dimLabel")
        hint.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 16, 16, 16)
        layout.setSpacing(10)
        top = QHBoxLayout()
        top.addWidget(title)
        top.addStretch(1)
        top.addWidget(self.kind_filter)
        layout.addLayout(top)
        layout.addWidget(self.summary)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.details)
        layout.addWidget(self.progress)
        layout.addWidget(self.progress_label)
        layout.addLayout(buttons)
        layout.addWidget(hint)

        worker.modelsListed.connect(self.show_models)
        worker.downloadProgress.connect(self._on_progress)
        worker.downloadFinished.connect(self._on_download_finished)
        worker.downloadFailed.connect(self._on_download_failed)
        worker.downloadCancelled.connect(self._on_download_stopped)
        worker.operationDone.connect(self.message)
        worker.operationFailed.connect(self.error)  # import errors: the same banner as others
        self._update_buttons()

    # -- data ------------------------------------------------------------------------------
    def show_models(self, payload: dict[str, Any]) -> None:
        self._payload = payload
        self._render()

    def _render(self) -> None:
        payload = getattr(self, "_payload", None)
        if payload is None:
            return
        selected = self.selected_id()
        every = payload["models"]
        wanted = self.kind_filter.currentData()
        models = sorted(
            (m for m in every if matches(wanted, m["kind"], m["inpainting"])),
            key=lambda m: (not m["installed"], m["source"] != "catalog"),
        )
        self.models = models
        self.table.setRowCount(len(models))
        for row, m in enumerate(models):
            status = self._status(m)
            values = (
                m["name"],
                KIND_LABELS.get(m["kind"], m["kind"]),
                FAMILY_LABELS.get(m["family"] or "", "—"),
                human_bytes(m["size_bytes"]) if m["size_bytes"] else "—",
                status,
                SOURCE_LABELS.get(m["source"], m["source"]),
            )
            for col, value in enumerate(values):
                item = QTableWidgetItem(value)
                item.setData(Qt.ItemDataRole.UserRole, m["id"])
                if col == 0 and m["default"]:
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                if col == 0 and m["path"]:
                    item.setToolTip(m["path"])
                self.table.setItem(row, col, item)
            if m["id"] == selected:
                self.table.selectRow(row)
        installed = [
            m for m in every if m["installed"] and m["kind"] == "checkpoint" and not m["problem"]
        ]
        locations = payload.get("locations", {})
        where = "; ".join(f"{k}: {v}" for k, v in locations.items())
        count, owned, in_place = disk_summary(every)
        used = f" + {human_bytes(in_place)} used in place from your folders" if in_place else ""
        self.summary.setText(
            f"{count} installed · {human_bytes(owned)} in Easel's folders{used} · {where}"
        )
        self.installedChanged.emit(installed)
        self._update_buttons()

    def _status(self, m: dict[str, Any]) -> str:
        if m["id"] == self.downloading:
            return "Downloading…"
        if m["problem"]:
            return f"Can't use: {m['problem']}"
        if m["installed"]:
            return "Default" if m["default"] else "Installed"
        return "Available"

    def selected(self) -> dict[str, Any] | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        row = rows[0].row()
        return self.models[row] if 0 <= row < len(self.models) else None

    def selected_id(self) -> str | None:
        m = self.selected()
        return m["id"] if m else None

    def select(self, model_id: str) -> None:
        for row, m in enumerate(self.models):
            if m["id"] == model_id:
                self.table.selectRow(row)
                return

    # -- actions ---------------------------------------------------------------------------
    def download(self, model_id: str) -> None:
        if self.downloading:
            self.message.emit("A download is already running; wait for it or cancel it first.")
            return
        self.downloading = model_id
        self.progress.setValue(0)
        self.progress.show()
        self.progress_label.setText("Connecting…")
        self.progress_label.show()
        self.worker.download(model_id)
        self._render()
        self._update_buttons()

    def download_selected(self) -> None:
        m = self.selected()
        if m and m["source"] == "catalog" and not m["installed"]:
            self.download(m["id"])

    def set_default_selected(self) -> None:
        m = self.selected()
        if m:
            self.worker.set_default(m["id"])

    def delete_selected(self, *, confirm: bool = True) -> None:
        """Ask (what it frees, or that the user's own files stay), then remove or forget."""
        m = self.selected()
        if not m:
            return
        payload = getattr(self, "_payload", None) or {}
        plan = plan_delete(m, payload.get("folders", []), payload.get("files", []))
        if confirm and not self.confirm(self, plan):
            return
        self.worker.remove(plan.remove_id)

    @staticmethod
    def confirm(parent: QWidget, plan: DeletePlan) -> bool:
        """The question box; tests replace it (as the gallery's ``confirm_delete``)."""
        box = QMessageBox(parent)
        box.setWindowTitle("Easel")
        box.setIcon(QMessageBox.Icon.Warning if plan.deletes_files else QMessageBox.Icon.Question)
        box.setText(plan.question)
        go = box.addButton(plan.action, QMessageBox.ButtonRole.DestructiveRole)
        keep = box.addButton("Keep", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(keep)
        box.exec()
        return box.clickedButton() is go

    def choose_import_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Import a model", "", "Models (*.safetensors *.ckpt *.pt *.bin)"
        )
        if path:
            self.worker.import_path(path)

    def choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Add a diffusers folder or a models folder")
        if path:
            self.worker.import_path(path)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt API)
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 (Qt API)
        for url in event.mimeData().urls():
            if url.isLocalFile():
                self.worker.import_path(url.toLocalFile())
        event.acceptProposedAction()

    # -- progress --------------------------------------------------------------------------
    def _on_progress(self, model_id: str, p: dict[str, Any]) -> None:
        total = p["total"] or 1
        self.progress.setValue(int(1000 * p["done"] / total))
        name = next((m["name"] for m in self.models if m["id"] == model_id), model_id)
        self.progress_label.setText(f"{name}: {download_text(p)}")

    def _on_download_finished(self, model_id: str, path: str) -> None:
        self.downloading = None
        self.progress.setValue(1000)
        self.progress_label.setText("Downloaded and verified.")
        self.cancel_button.hide()
        self.message.emit("Download finished and verified; the model is ready.")
        self._update_buttons()

    def _on_download_stopped(self, model_id: str, message: str) -> None:
        self.downloading = None
        self.progress.hide()
        self.progress_label.setText(message)
        self._update_buttons()

    def _on_download_failed(self, model_id: str, message: str) -> None:
        """Said once, in the window's error banner ("offline" in one place, not three)."""
        self.downloading = None
        self.progress.hide()
        self.progress_label.hide()
        self.error.emit(message)
        self._render()

    def _selection_changed(self) -> None:
        m = self.selected()
        if m is None:
            self.details.setText("")
        else:
            bits = [m["description"]] if m["description"] else []
            if m["licence"]:
                bits.append(f"Licence: {m['licence']}")
            if m["path"]:
                bits.append(f"Location: {m['path']}")
            self.details.setText("\n".join(bits))
        self._update_buttons()

    def _update_buttons(self) -> None:
        m = self.selected()
        busy = self.downloading is not None
        self.download_button.setEnabled(
            bool(m and m["source"] == "catalog" and not m["installed"]) and not busy
        )
        self.cancel_button.setVisible(busy)
        self.default_button.setEnabled(
            bool(
                m
                and m["installed"]
                and m["kind"] == "checkpoint"
                and not m["problem"]
                and not m["default"]
            )
        )
        self.delete_button.setEnabled(
            bool(m and (m["installed"] or m["source"] != "catalog"))
            and m is not None
            and m["id"] != self.downloading
        )
