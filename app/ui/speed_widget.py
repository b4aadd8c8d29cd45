"""Quality / Balanced / Fast: three buttons, and the recipe the choice runs, in full.

The recipe comes from ``app.speed`` (pure Python) with what the Models tab lists as installed,
so the window shows what the engine will run before the engine has loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.speed import DEFAULT_SPEED, LABELS, SPEEDS, accelerator_from_name, choose_recipe

TIPS = {
    "quality": "Your sampler, steps and CFG as set, decoded by the full VAE",
    "balanced": "A few-step recipe for this model (Turbo, LCM-LoRA) with the full VAE",
    "fast": "The fewest steps this model can take (Turbo 1 step, LCM-LoRA 4), TAESD decode",
}


class SpeedWidget(QWidget):
    speedChanged = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("speedWidget")
        self.group = QButtonGroup(self)
        self.group.setExclusive(True)
        self.buttons: dict[str, QPushButton] = {}
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(4)
        for speed in SPEEDS:
            button = QPushButton(LABELS[speed])
            button.setObjectName(f"speed_{speed}")
            button.setCheckable(True)
            button.setToolTip(TIPS[speed])
            self.group.addButton(button)
            self.buttons[speed] = button
            row.addWidget(button)
        self.recipe = QLabel()
        self.recipe.setObjectName("dimLabel")
        self.recipe.setWordWrap(True)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(4)
        box.addLayout(row)
        box.addWidget(self.recipe)
        self._model = ""
        self._xl = False
        self._accelerators: list[str] = []
        self._taesd = False
        self.buttons[DEFAULT_SPEED].setChecked(True)
        self.group.buttonToggled.connect(self._toggled)
        self._update()

    def speed(self) -> str:
        return next((s for s, b in self.buttons.items() if b.isChecked()), DEFAULT_SPEED)

    def set_speed(self, speed: str) -> None:
        self.buttons.get(speed, self.buttons[DEFAULT_SPEED]).setChecked(True)
        self._update()

    def set_models(self, models: list[dict[str, Any]], current: str) -> None:
        """What is installed (the Models tab's list) and the model in use (its path)."""
        chosen = next((m for m in models if m.get("path") == current), None)
        name = chosen["name"] if chosen else Path(current).name if current else ""
        self._model = f"{name} {chosen.get('id', '')}" if chosen else name
        family = (chosen or {}).get("family") or ""
        self._xl = "xl" in family.lower() or "xl" in self._model.lower()
        self._accelerators = []
        self._taesd = False
        for m in models:
            if not m.get("installed"):
                continue
            if m.get("kind") == "lora":
                name = m["id"] if m.get("source") == "catalog" else m["name"]
                if accelerator_from_name(name):
                    self._accelerators.append(name)
            elif m.get("kind") == "vae-preview":
                self._taesd |= m.get("id") == ("taesdxl" if self._xl else "taesd")
        self._update()

    def recipe_text(self) -> str:
        speed = self.speed()
        recipe = choose_recipe(speed, self._model, self._xl, self._accelerators, self._taesd)
        if speed == "quality":
            return "Quality: your sampler, steps and CFG as set; full VAE."
        text = f"{LABELS[speed]}: {recipe.summary}."
        return f"{text} {recipe.note}." if recipe.note else text

    def _toggled(self, *_: object) -> None:
        self._update()
        self.speedChanged.emit(self.speed())

    def _update(self) -> None:
        self.recipe.setText(self.recipe_text())


PRECISIONS = {"auto": "Automatic", "fp32": "fp32", "bf16": "bf16"}


class PrecisionCombo(QComboBox):
    """Settings' precision override; the header chip shows what the engine runs."""

    precisionChanged = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("precisionCombo")
        for key, label in PRECISIONS.items():
            self.addItem(label, key)
        self.setToolTip(
            "Automatic: bf16 on CPUs with native bf16 (AVX-512 BF16, AMX) and on recent "
            "NVIDIA GPUs, fp16 on older GPUs and Macs, fp32 elsewhere. fp32 is the slowest "
            "and the reference; bf16 pictures stay within a few levels of it."
        )
        self.currentIndexChanged.connect(lambda _i: self.precisionChanged.emit(self.precision()))

    def precision(self) -> str:
        return str(self.currentData())

    def set_precision(self, precision: str) -> None:
        index = self.findData(precision if precision in PRECISIONS else "auto")
        self.blockSignals(True)
        self.setCurrentIndex(index)
        self.blockSignals(False)
