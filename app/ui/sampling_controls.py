"""The webui's "Schedule type" beside the sampler, and its variation seed and strength.

The settings panel puts ``schedule`` beside its sampler combo and ``subseed`` + ``strength``
on a row under the seed, and calls ``apply`` and ``read_into`` with the rest of its settings.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QComboBox, QDoubleSpinBox

from app.samplers import AUTOMATIC, default_schedule, schedules_for


class SamplingControls:
    """Schedule combo (its items follow the sampler), variation seed and strength."""

    def __init__(self, sampler: QComboBox, seed_spin: Any) -> None:
        self.sampler = sampler
        self.schedule = QComboBox()
        self.schedule.setObjectName("scheduleCombo")
        self.schedule.setToolTip(
            "Schedule type, as in the webui: how the noise levels are spaced over the steps. "
            "Automatic is the sampler's own."
        )
        self.subseed = seed_spin
        self.subseed.setObjectName("subseedSpin")
        self.subseed.setToolTip("Variation seed: a second noise mixed into the seed's")
        self.strength = QDoubleSpinBox()
        self.strength.setObjectName("subseedStrengthSpin")
        self.strength.setRange(0.0, 1.0)
        self.strength.setSingleStep(0.05)
        self.strength.setDecimals(2)
        self.strength.setToolTip(
            "Variation strength: 0 is the seed's picture, 1 the variation seed's (txt2img)"
        )
        self.strength.valueChanged.connect(self._strength_changed)
        self.sampler.currentTextChanged.connect(self._sampler_changed)
        self._sampler_changed(self.sampler.currentText())
        self._strength_changed(self.strength.value())

    def _sampler_changed(self, name: str) -> None:
        current = self.schedule.currentText() or AUTOMATIC
        self.schedule.blockSignals(True)
        self.schedule.clear()
        for label in schedules_for(name):
            text = f"{AUTOMATIC} ({default_schedule(name)})" if label == AUTOMATIC else label
            self.schedule.addItem(text, label)
        index = self.schedule.findData(current)
        self.schedule.setCurrentIndex(max(index, 0))
        self.schedule.blockSignals(False)

    def _strength_changed(self, value: float) -> None:
        self.subseed.setEnabled(value > 0)

    def apply(self, s: Any) -> None:
        self._sampler_changed(self.sampler.currentText())
        index = self.schedule.findData(s.schedule)
        self.schedule.setCurrentIndex(max(index, 0))
        self.subseed.setValue(s.subseed)
        self.strength.setValue(s.subseed_strength)

    def read_into(self, s: Any) -> None:
        s.schedule = self.schedule.currentData() or AUTOMATIC
        s.subseed = self.subseed.seed()
        s.subseed_strength = round(self.strength.value(), 2)
