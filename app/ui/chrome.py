"""The window's frame pieces: the error banner and the model picker."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QToolButton,
    QWidget,
)

from app.ui.resources import icon

OPEN_FOLDER = "__open_folder__"


class ErrorBanner(QWidget):
    """One sentence in a red strip above the tabs; closes on click, never blocks."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        strip = QFrame()
        strip.setObjectName("errorBanner")
        outer = QHBoxLayout(self)
        outer.setContentsMargins(16, 10, 16, 6)
        outer.addWidget(strip)
        self.icon = QLabel()
        self.icon.setPixmap(icon("warning").pixmap(18, 18))
        self.label = QLabel()
        self.label.setObjectName("errorText")
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton()
        close.setObjectName("bannerClose")
        close.setIcon(icon("close"))
        close.setToolTip("Dismiss")
        close.setAutoRaise(True)
        close.clicked.connect(self.hide)
        row = QHBoxLayout(strip)
        row.setContentsMargins(12, 8, 8, 8)
        row.setSpacing(10)
        row.addWidget(self.icon, 0, Qt.AlignmentFlag.AlignTop)
        row.addWidget(self.label, 1)
        # An optional way out of the trouble the message names ("Retry save").
        self.action_button = QPushButton()
        self.action_button.setObjectName("bannerAction")
        self.action_button.hide()
        self.action_button.clicked.connect(self._run_action)
        self._action: Callable[[], bool] | None = None
        row.addWidget(self.action_button, 0, Qt.AlignmentFlag.AlignTop)
        row.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self.hide()

    def show_message(self, message: str) -> None:
        self.label.setText(message)
        self._action = None
        self.action_button.hide()
        self.show()

    def set_action(self, text: str, action: Callable[[], bool]) -> None:
        """A button beside the message; the banner closes when `action()` returns True."""
        self._action = action
        self.action_button.setText(text)
        self.action_button.show()

    def _run_action(self) -> None:
        if self._action is not None and self._action():
            self._action = None
            self.action_button.hide()
            self.hide()

    def message(self) -> str:
        return self.label.text() if self.isVisible() else ""


class ModelPicker(QWidget):
    """Recent model folders plus "Open model folder…"; emits the chosen folder's path."""

    modelChosen = Signal(str)
    openRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        label = QLabel("Model")
        label.setObjectName("dimLabel")
        self.combo = QComboBox()
        self.combo.setObjectName("modelCombo")
        self.combo.setMinimumWidth(260)
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.open_button = QToolButton()
        self.open_button.setIcon(icon("folder"))
        self.open_button.setToolTip(
            "Open a model: a .safetensors or .ckpt file, or a diffusers folder"
        )
        self.names: dict[str, str] = {}
        self.open_button.clicked.connect(self.openRequested)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(8)
        row.addWidget(label)
        row.addWidget(self.combo, 1)
        row.addWidget(self.open_button)
        self.combo.activated.connect(self._activated)

    def set_models(
        self, paths: list[str], current: str, names: dict[str, str] | None = None
    ) -> None:
        """``paths``: installed models and recent folders; ``names``: labels for some paths
        (installed models are shown by name, not by their cache folder)."""
        names = names or {}
        self.combo.blockSignals(True)
        self.combo.clear()
        if not paths:
            self.combo.addItem("No model chosen", "")
        for path in paths:
            self.combo.addItem(names.get(path) or Path(path).name or path, path)
            self.combo.setItemData(self.combo.count() - 1, path, Qt.ItemDataRole.ToolTipRole)
        self.combo.insertSeparator(self.combo.count())
        self.combo.addItem(icon("folder"), "Open a model…", OPEN_FOLDER)
        index = self.combo.findData(current)
        self.combo.setCurrentIndex(max(index, 0))
        self.combo.blockSignals(False)

    def current_path(self) -> str:
        data = self.combo.currentData()
        return data if isinstance(data, str) and data != OPEN_FOLDER else ""

    def _activated(self, index: int) -> None:
        data = self.combo.itemData(index)
        if data == OPEN_FOLDER:
            self.openRequested.emit()
        elif data:
            self.modelChosen.emit(str(data))
