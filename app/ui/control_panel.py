"""The Generate tab's ControlNet units: a picture to follow (dropped or chosen), how to read it
(the preprocessor), which ControlNet, how strongly and over which steps, and the webui's three
control modes. Up to three units at once; off until the group is ticked.

The installed ControlNets come from the models worker's listing (``modelsListed``), so nothing
here touches the disk but the file dialog.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.request import CONTROL_MODES, PREPROCESSORS, ControlUnit

MAX_UNITS = 3
IMAGE_FILTER = "Pictures (*.png *.jpg *.jpeg *.webp *.bmp)"
PREPROCESSOR_LABELS = {
    "none": "None (ready-made control image)",
    "canny": "Canny edges (photo)",
    "scribble": "Scribble (my drawing)",
    "lineart": "Line art (my drawing)",
    "invert": "Invert (black lines on white)",
    "depth": "Depth (photo; model on first use)",
    "openpose": "OpenPose (people; model on first use)",
}
# The ControlNet a preprocessor is made for: picked when the user changes the preprocessor.
MATCHING_NET = {"canny": "canny", "scribble": "scribble", "lineart": "lineart",
                "depth": "depth", "openpose": "openpose", "invert": "lineart"}  # fmt: skip
NO_NETS = "No ControlNet installed: download one in Models (kind ControlNet)."


class ImageSlot(QLabel):
    """A thumbnail that takes a dropped picture file or opens a file dialog on click."""

    changed = Signal(str)

    def __init__(self) -> None:
        super().__init__("Drop a picture\nor click")
        self.setObjectName("controlImage")
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setFixedSize(96, 96)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAcceptDrops(True)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip("The picture this unit follows: drop a file here or click to choose one")
        self.path = ""

    def set_path(self, path: str) -> None:
        pix = QPixmap(path) if path else QPixmap()
        if path and pix.isNull():
            self.setText("Not a picture")
            self.path = ""
        elif path:
            self.path = path
            self.setPixmap(pix.scaled(92, 92, Qt.AspectRatioMode.KeepAspectRatio,
                                      Qt.TransformationMode.SmoothTransformation))  # fmt: skip
        else:
            self.path = ""
            self.setText("Drop a picture\nor click")
        self.changed.emit(self.path)

    def mousePressEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        path, _ = QFileDialog.getOpenFileName(self, "Control image", "", IMAGE_FILTER)
        if path:
            self.set_path(path)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        urls = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            self.set_path(urls[0])
            event.acceptProposedAction()


class UnitEditor(QFrame):
    """One unit's settings."""

    removeRequested = Signal(object)

    def __init__(self, index: int) -> None:
        super().__init__()
        self.setObjectName("controlUnit")
        self.image = ImageSlot()
        self.preprocessor = QComboBox()
        for name in PREPROCESSORS:
            self.preprocessor.addItem(PREPROCESSOR_LABELS.get(name, name), name)
        self.preprocessor.setCurrentIndex(PREPROCESSORS.index("scribble"))
        self.model = QComboBox()
        self.model.setMinimumContentsLength(8)
        self.model.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.weight = self._spin(0.0, 2.0, 1.0, "How strongly the picture follows (0-2)")
        self.start = self._spin(0.0, 1.0, 0.0, "From this fraction of the steps")
        self.end = self._spin(0.0, 1.0, 1.0, "Until this fraction of the steps")
        self.mode = QComboBox()
        self.mode.addItems(list(CONTROL_MODES))
        for combo in (self.preprocessor, self.mode):
            combo.setMinimumContentsLength(8)
            combo.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
            )
        self.remove = QToolButton()
        self.remove.setText("Remove")
        self.remove.setToolTip("Remove this unit")
        self.remove.clicked.connect(lambda: self.removeRequested.emit(self))
        self.title = QLabel(f"Unit {index + 1}")
        self.title.setObjectName("sectionLabel")

        self.preprocessor.setToolTip(
            "How the picture is read: the lines of a drawing, a photo's edges, ..."
        )
        self.model.setToolTip("The ControlNet that makes the picture follow it")
        picks = QVBoxLayout()
        picks.setContentsMargins(0, 0, 0, 0)
        picks.addWidget(QLabel("Read as"))
        picks.addWidget(self.preprocessor)
        picks.addWidget(QLabel("ControlNet"))
        picks.addWidget(self.model)
        picks.addStretch(1)
        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Weight", self.weight)
        steps = QHBoxLayout()
        steps.addWidget(self.start, 1)
        steps.addWidget(QLabel("to"))
        steps.addWidget(self.end, 1)
        form.addRow("Steps", steps)
        form.addRow("Mode", self.mode)
        head = QHBoxLayout()
        head.addWidget(self.title)
        head.addStretch(1)
        head.addWidget(self.remove)
        top = QHBoxLayout()
        top.addWidget(self.image, 0, Qt.AlignmentFlag.AlignTop)
        top.addLayout(picks, 1)
        box = QVBoxLayout(self)
        box.setContentsMargins(8, 6, 8, 8)
        box.addLayout(head)
        box.addLayout(top)
        box.addLayout(form)
        self.preprocessor.currentIndexChanged.connect(self._pick_matching_net)

    @staticmethod
    def _spin(low: float, high: float, value: float, tip: str) -> QDoubleSpinBox:
        spin = QDoubleSpinBox()
        spin.setRange(low, high)
        spin.setSingleStep(0.05)
        spin.setDecimals(2)
        spin.setValue(value)
        spin.setToolTip(tip)
        return spin

    def set_models(self, nets: list[dict[str, Any]]) -> None:
        keep = self.model.currentData()
        self.model.clear()
        for net in nets:
            self.model.addItem(net["name"], net["id"])
            self.model.setItemData(
                self.model.count() - 1, net.get("path") or "", Qt.ItemDataRole.ToolTipRole
            )
        found = self.model.findData(keep) if keep else -1
        if found >= 0:
            self.model.setCurrentIndex(found)
        else:
            self._pick_matching_net()

    def _pick_matching_net(self) -> None:
        wanted = MATCHING_NET.get(self.preprocessor.currentData() or "", "")
        for i in range(self.model.count()):
            if wanted and wanted in f"{self.model.itemText(i)} {self.model.itemData(i)}".lower():
                self.model.setCurrentIndex(i)
                return

    def unit(self) -> ControlUnit | None:
        model = self.model.currentData()
        if not model or not self.image.path:
            return None
        return ControlUnit(
            model=str(model),
            image=self.image.path,
            preprocessor=str(self.preprocessor.currentData()),
            weight=round(self.weight.value(), 2),
            guidance_start=round(self.start.value(), 2),
            guidance_end=round(self.end.value(), 2),
            control_mode=self.mode.currentText(),
        )

    def apply(self, unit: ControlUnit) -> None:
        """A restored unit's settings (the control image is not stored in a picture)."""
        i = self.preprocessor.findData(unit.preprocessor)
        if i >= 0:
            self.preprocessor.setCurrentIndex(i)
        wanted = Path(str(unit.model)).stem.lower()
        for j in range(self.model.count()):
            if wanted in (str(self.model.itemData(j)).lower(), self.model.itemText(j).lower()):
                self.model.setCurrentIndex(j)
        self.weight.setValue(unit.weight)
        self.start.setValue(unit.guidance_start)
        self.end.setValue(unit.guidance_end)
        self.mode.setCurrentText(unit.control_mode)
        if isinstance(unit.image, str) and Path(unit.image).is_file():
            self.image.set_path(unit.image)


class ControlPanel(QGroupBox):
    """Ticked: the units with a picture and a ControlNet go into every job of the tab."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("ControlNet", parent)
        self.setObjectName("controlPanel")
        self.setCheckable(True)
        self.setChecked(False)
        self.setToolTip(
            "Make the picture follow a drawing, the edges or depth of a photo, or a pose"
        )
        self.editors: list[UnitEditor] = []
        self.nets: list[dict[str, Any]] = []
        self.notice = QLabel(NO_NETS)
        self.notice.setObjectName("hintLabel")
        self.notice.setWordWrap(True)
        self.add_button = QPushButton("+ Add unit")
        self.add_button.setToolTip(f"Use up to {MAX_UNITS} pictures at once")
        self.add_button.clicked.connect(self.add_unit)
        self.body = QWidget()
        self.units_box = QVBoxLayout()
        self.units_box.setContentsMargins(0, 0, 0, 0)
        inner = QVBoxLayout(self.body)
        inner.setContentsMargins(0, 0, 0, 0)
        inner.addWidget(self.notice)
        inner.addLayout(self.units_box)
        inner.addWidget(self.add_button, 0, Qt.AlignmentFlag.AlignLeft)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(10, 8, 10, 10)
        outer.addWidget(self.body)
        self.toggled.connect(self.body.setVisible)
        self.body.setVisible(False)
        self.add_unit()
        self._update()

    def add_unit(self) -> UnitEditor | None:
        if len(self.editors) >= MAX_UNITS:
            return None
        editor = UnitEditor(len(self.editors))
        editor.set_models(self.nets)
        editor.removeRequested.connect(self._remove)
        self.editors.append(editor)
        self.units_box.addWidget(editor)
        self._update()
        return editor

    def _remove(self, editor: UnitEditor) -> None:
        if len(self.editors) == 1:  # the last one is cleared, not removed
            editor.image.set_path("")
            return
        self.editors.remove(editor)
        editor.deleteLater()
        for i, e in enumerate(self.editors):
            e.title.setText(f"Unit {i + 1}")
        self._update()

    def _update(self) -> None:
        self.add_button.setEnabled(len(self.editors) < MAX_UNITS)
        self.notice.setVisible(not self.nets)

    def set_models(self, payload: dict[str, Any]) -> None:
        """The models worker's listing; only installed, usable ControlNets are offered."""
        from app.ui.listing import installed

        self.nets = installed(payload, "controlnet")
        for editor in self.editors:
            editor.set_models(self.nets)
        self._update()

    def units(self) -> tuple[ControlUnit, ...]:
        """The units for a job: none unless ticked; a unit without a picture or model is skipped."""
        if not self.isChecked():
            return ()
        return tuple(u for u in (e.unit() for e in self.editors) if u is not None)

    def apply_units(self, units: tuple[ControlUnit, ...]) -> None:
        """Restore a picture's units: as many editors, each with its settings."""
        self.setChecked(bool(units))
        while len(self.editors) < min(len(units), MAX_UNITS):
            self.add_unit()
        for editor, unit in zip(self.editors, units, strict=False):
            editor.apply(unit)
