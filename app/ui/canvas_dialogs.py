"""Small dialogs of the canvas: a new blank picture, and extending the canvas to outpaint."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)


def _pixels(value: int, maximum: int, minimum: int = 0) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(minimum, maximum)
    spin.setSingleStep(8)
    spin.setValue(value)
    spin.setSuffix(" px")
    # Stable Diffusion works in blocks of 8 pixels; typed values snap to them.
    spin.setCorrectionMode(QSpinBox.CorrectionMode.CorrectToNearestValue)
    spin.editingFinished.connect(lambda s=spin: s.setValue(s.value() // 8 * 8))
    return spin


class _PixelDialog(QDialog):
    def __init__(self, title: str, note: str, ok: str, parent: QWidget | None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.form = QFormLayout()
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText(ok)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        hint = QLabel(note)
        hint.setWordWrap(True)
        layout.addWidget(hint)
        layout.addLayout(self.form)
        layout.addWidget(buttons)


class ExtendDialog(_PixelDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(
            "Extend canvas",
            "Add a border on any side; outpaint fills it. Pixels in steps of 8.",
            "Extend",
            parent,
        )
        self.left, self.top = _pixels(0, 2048), _pixels(0, 2048)
        self.right, self.bottom = _pixels(128, 2048), _pixels(0, 2048)
        for name, spin in (
            ("Left", self.left),
            ("Top", self.top),
            ("Right", self.right),
            ("Bottom", self.bottom),
        ):
            self.form.addRow(name, spin)

    def values(self) -> tuple[int, int, int, int]:
        return (self.left.value(), self.top.value(), self.right.value(), self.bottom.value())


class NewImageDialog(_PixelDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("New picture", "A blank white picture to paint on.", "Create", parent)
        self.width_spin = _pixels(512, 4096, 64)
        self.height_spin = _pixels(512, 4096, 64)
        self.form.addRow("Width", self.width_spin)
        self.form.addRow("Height", self.height_spin)

    def values(self) -> tuple[int, int]:
        return (self.width_spin.value(), self.height_spin.value())
