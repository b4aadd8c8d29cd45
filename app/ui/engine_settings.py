"""Settings → Engine: where generation runs (this computer or an Easel server), and "Let other
apps use Easel" (this computer's engine served on 127.0.0.1 behind a token).

``SettingsDialog`` holds the pages (Engine is the first); ``EngineSettingsPage`` binds to
``UiSettings`` like the Generate tab's panel does (``apply`` / ``read_into``).
``EngineController`` is the window's side: it builds the worker the settings ask for, swaps
it when they change, and starts or stops the shared server.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QRadioButton,
    QSizePolicy,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.ui.settings import UiSettings, save_settings
from app.workers.host_worker import HostWorker, new_token, server_available
from app.workers.remote_worker import ConnectionTester, RemoteWorker

log = logging.getLogger(__name__)

_OK = "color: #b8f0d2;"
_FAIL = "color: #ffb4b4;"
_DIM = "color: #9aa0ad;"


def _note(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setStyleSheet(_DIM)
    label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
    return label


class EngineSettingsPage(QWidget):
    """The Engine page: its fields, the Test connection button and the sharing status."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.local_radio = QRadioButton("This computer")
        self.local_radio.setToolTip("Generate with this computer's CPU or GPU")
        self.server_radio = QRadioButton("An Easel server")
        self.server_radio.setToolTip(
            "Generate on another machine running 'python -m app serve' (or the webui with --api)"
        )
        group = QButtonGroup(self)
        group.addButton(self.local_radio)
        group.addButton(self.server_radio)
        self.url_edit = QLineEdit()
        self.url_edit.setObjectName("serverUrl")
        self.url_edit.setPlaceholderText("http://192.168.1.20:7860")
        self.token_edit = QLineEdit()
        self.token_edit.setObjectName("serverToken")
        self.token_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.token_edit.setPlaceholderText("the token the server was started with (--token)")
        self.test_button = QPushButton("Test connection")
        self.test_button.setObjectName("testConnection")
        self.test_result = QLabel("")
        self.test_result.setObjectName("testResult")
        self.test_result.setWordWrap(True)
        self.test_result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.tester = ConnectionTester(self)
        self.tester.finished.connect(self._tested)
        self.test_button.clicked.connect(self.test_connection)

        where = QGroupBox("Where pictures are made")
        column = QVBoxLayout(where)
        column.setContentsMargins(12, 16, 12, 14)
        column.setSpacing(8)
        column.addWidget(self.local_radio)
        column.addWidget(self.server_radio)
        self.server_box = QWidget()
        form = QFormLayout(self.server_box)
        form.setContentsMargins(26, 2, 0, 0)
        form.setHorizontalSpacing(12)
        form.setVerticalSpacing(10)
        form.addRow("Address", self.url_edit)
        form.addRow("Token", self.token_edit)
        test_row = QHBoxLayout()
        test_row.addWidget(self.test_button, 0)
        test_row.addWidget(self.test_result, 1)
        form.addRow("", test_row)
        column.addWidget(self.server_box)
        column.addWidget(
            _note(
                "With a server, generation, previews, the queue and cancel go over its API; "
                "pictures still land in this computer's gallery with their parameters."
            )
        )

        self.share_check = QCheckBox("Let other apps use Easel")
        self.share_check.setObjectName("shareEngine")
        self.port_spin = QSpinBox()
        self.port_spin.setRange(1024, 65535)
        self.port_spin.setFixedWidth(120)
        self.port_spin.setToolTip(
            "The port other apps connect to on 127.0.0.1 (the webui uses 7860)"
        )
        self.share_token = QLineEdit()
        self.share_token.setObjectName("shareToken")
        self.share_token.setReadOnly(True)
        self.copy_button = QPushButton("Copy")
        self.copy_button.setToolTip("Copy the token to the clipboard")
        self.copy_button.clicked.connect(
            lambda: QGuiApplication.clipboard().setText(self.share_token.text())
        )
        self.new_token_button = QPushButton("New token")
        self.new_token_button.setToolTip("Make a new token; apps using the old one are refused")
        self.new_token_button.clicked.connect(lambda: self.share_token.setText(new_token()))
        self.share_check.toggled.connect(self._share_toggled)
        self.share_status = _note()
        self.share_status.setObjectName("shareStatus")
        self.share_only_local = _note(
            "Other apps share this computer's engine: choose This computer above to turn this on."
        )
        self.share_only_local.setVisible(False)

        share = QGroupBox("Other apps")
        share_column = QVBoxLayout(share)
        share_column.setContentsMargins(12, 16, 12, 14)
        share_column.setSpacing(8)
        share_column.addWidget(self.share_check)
        self.share_box = QWidget()
        share_form = QFormLayout(self.share_box)
        share_form.setContentsMargins(26, 2, 0, 0)
        share_form.setHorizontalSpacing(12)
        share_form.setVerticalSpacing(10)
        share_form.addRow("Port", self.port_spin)
        token_row = QHBoxLayout()
        token_row.setSpacing(6)
        token_row.addWidget(self.share_token, 1)
        token_row.addWidget(self.copy_button)
        token_row.addWidget(self.new_token_button)
        share_form.addRow("Token", token_row)
        share_column.addWidget(self.share_box)
        share_column.addWidget(self.share_status)
        share_column.addWidget(self.share_only_local)
        share_column.addWidget(
            _note(
                "Open WebUI, SillyTavern, Krita or GIMP plugins and scripts on this computer "
                "call the webui's /sdapi/v1 API with this token; other machines cannot connect. "
                "They share this window's engine and queue (one copy of the model in memory): "
                "their jobs and yours take turns, on the model picked here."
            )
        )

        for box in (self.server_box, self.share_box):  # wrapped notes must not squeeze them
            box.setMinimumHeight(box.sizeHint().height())
        two_lines = 2 * self.fontMetrics().lineSpacing() + 4
        for label in (self.test_result, self.share_status):  # sentences that come later
            label.setMinimumHeight(two_lines)
        page = QVBoxLayout(self)
        page.setContentsMargins(18, 16, 18, 16)
        page.setSpacing(14)
        page.addWidget(where)
        page.addWidget(share)
        page.addStretch(1)
        self.setStyleSheet(  # the app's sheet has no disabled look for fields
            "QLineEdit:disabled, QSpinBox:disabled { color: #6b6f7b; background: #1a1b20; }"
        )
        self.local_radio.toggled.connect(self._engine_toggled)
        self.server_radio.toggled.connect(self._engine_toggled)

    # -- binding -------------------------------------------------------------------------
    def apply(self, s: UiSettings) -> None:
        (self.server_radio if s.engine == "server" else self.local_radio).setChecked(True)
        self.url_edit.setText(s.server_url)
        self.token_edit.setText(s.server_token)
        self.port_spin.setValue(s.share_port)
        self.share_token.setText(s.share_token)
        self.share_check.setChecked(s.share_engine)
        self._engine_toggled()
        self._share_toggled(s.share_engine)

    def read_into(self, s: UiSettings) -> UiSettings:
        s.engine = "server" if self.server_radio.isChecked() else "local"
        s.server_url = self.url_edit.text().strip()
        s.server_token = self.token_edit.text().strip()
        s.share_engine = self.share_check.isChecked() and self.local_radio.isChecked()
        s.share_port = self.port_spin.value()
        s.share_token = self.share_token.text()
        return s

    # -- behaviour -----------------------------------------------------------------------
    def test_connection(self) -> None:
        self.test_button.setEnabled(False)
        self.test_result.setStyleSheet(_DIM)
        self.test_result.setText("Connecting…")
        self.tester.test(self.url_edit.text(), self.token_edit.text())

    def _tested(self, ok: bool, sentence: str) -> None:
        self.test_button.setEnabled(True)
        self.test_result.setStyleSheet(_OK if ok else _FAIL)
        self.test_result.setText(sentence)

    def _engine_toggled(self, *_args: object) -> None:
        remote = self.server_radio.isChecked()
        self.server_box.setEnabled(remote)
        # Sharing serves this computer's engine; with a server there is none running here.
        self.share_check.setEnabled(not remote)
        self.share_box.setEnabled(not remote and self.share_check.isChecked())
        self.share_only_local.setVisible(remote)

    def _share_toggled(self, on: bool) -> None:
        if on and not self.share_token.text():
            self.share_token.setText(new_token())
        self.share_box.setEnabled(on and self.share_check.isEnabled())
        if not server_available():
            from app.workers.host_worker import NEEDS_EXTRA

            self.set_share_status(NEEDS_EXTRA if on else "", ok=False)

    def set_share_status(self, text: str, ok: bool | None = None) -> None:
        self.share_status.setStyleSheet(_DIM if ok is None else (_OK if ok else _FAIL))
        self.share_status.setText(text)


class SettingsDialog(QDialog):
    """Easel's settings, one page per topic (Engine first)."""

    def __init__(self, settings: UiSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setObjectName("settingsDialog")
        self.pages = QListWidget()
        self.pages.setObjectName("settingsPages")
        self.pages.setFixedWidth(150)
        self.pages.setStyleSheet("QListWidget::item { padding: 7px 10px; }")
        self.pages.addItem("Engine")
        self.stack = QStackedWidget()
        self.engine_page = EngineSettingsPage()
        self.stack.addWidget(self.engine_page)
        self.pages.currentRowChanged.connect(self.stack.setCurrentIndex)
        self.pages.setCurrentRow(0)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        body = QHBoxLayout()
        body.setSpacing(0)
        body.addWidget(self.pages)
        body.addWidget(self.stack, 1)
        outer = QVBoxLayout(self)
        outer.addLayout(body, 1)
        outer.addWidget(buttons)
        self.engine_page.apply(settings)
        self.resize(780, 660)


def _engine_key(s: UiSettings) -> tuple[str, ...]:
    return (s.engine, s.server_url, s.server_token) if s.engine == "server" else ("local",)


def _share_key(s: UiSettings) -> tuple[object, ...]:
    return (s.share_engine, s.share_port, s.share_token) if s.share_engine else (False,)


class EngineController(QObject):
    """The window's engine choice: which worker runs jobs, and the shared server."""

    message = Signal(str)  # a sentence for the status bar
    error = Signal(str)  # a sentence for the banner

    def __init__(self, window: Any, device: str | None = None) -> None:
        super().__init__(window)
        self.window = window
        self.device = device
        self.host = HostWorker(self)
        self._followed: Any = None  # the worker whose model changes the server follows
        self.host.started.connect(self._host_started)
        self.host.failed.connect(self._host_failed)
        self.host_status: tuple[str, bool | None] = ("", None)
        self.dialog: SettingsDialog | None = None

    def make_worker(self, s: UiSettings, gallery: Any, store: Any = None) -> Any:
        """The worker the settings ask for; this computer's when the server's is unusable.
        ``store`` (a JobStore) keeps this computer's queue across restarts."""
        from app.workers.engine_worker import EngineWorker

        if s.engine == "server":
            try:
                return RemoteWorker(
                    s.server_url, s.server_token, gallery=gallery, parent=self.window
                )
            except Exception as exc:  # noqa: BLE001 - a bad address: say so, run locally
                self.error.emit(f"{exc} Easel uses this computer meanwhile.")
        if store is None:
            store = getattr(self.window, "_owned_store", None)
        return EngineWorker(gallery=gallery, device=self.device, parent=self.window, store=store)

    def open_settings(self) -> SettingsDialog:
        dialog = SettingsDialog(self.window.current_settings(), self.window)
        dialog.engine_page.set_share_status(*self.host_status)
        dialog.accepted.connect(lambda: self.apply(dialog))
        dialog.finished.connect(lambda _r: setattr(self, "dialog", None))
        self.dialog = dialog
        dialog.open()
        return dialog

    def apply(self, dialog: SettingsDialog) -> None:
        s = self.window.current_settings()
        engine_before, share_before = _engine_key(s), _share_key(s)
        dialog.engine_page.read_into(s)
        save_settings(s)
        if _engine_key(s) != engine_before:
            self.host.stop()  # the server shares the old engine's queue: off it first
            self.window.use_worker(self.make_worker(s, self.window.gallery))
            if s.share_engine:
                self.update_host(s)
        elif _share_key(s) != share_before:
            self.update_host(s)

    def update_host(self, s: UiSettings) -> None:
        if not s.share_engine:
            if self.host.running:
                self.host.stop()
                self._set_host_status("Other apps can no longer use Easel.", None)
            return
        self._set_host_status("Starting the server for other apps…", None)
        worker = self.window.worker
        if self._followed is not worker and hasattr(worker, "set_guest"):
            worker.modelReady.connect(self._model_ready)
            self._followed = worker
        self.host.start(s.share_port, s.share_token, worker, self.window.gallery, s.model_path)

    def _model_ready(self, _name: str) -> None:
        self.host.follow_model(self.window.settings.model_path)

    def _host_started(self, url: str) -> None:
        self._set_host_status(
            f"Serving at {url}; apps send the token as 'Authorization: Bearer <token>'.", True
        )

    def _host_failed(self, sentence: str) -> None:
        self._set_host_status(sentence, False)
        self.error.emit(sentence)

    def _set_host_status(self, text: str, ok: bool | None) -> None:
        self.host_status = (text, ok)
        if self.dialog is not None:
            self.dialog.engine_page.set_share_status(text, ok)
        if text:
            self.message.emit(text)

    def shutdown(self) -> None:
        self.host.stop()


__all__ = ["EngineController", "EngineSettingsPage", "SettingsDialog"]
