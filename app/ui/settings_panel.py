"""Sampler, steps, CFG, seed, size and batch controls, read from and written to UiSettings."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QToolButton,
    QWidget,
)

from app.request import MAX_BATCH, MAX_SEED, MAX_SIZE, MAX_STEPS, MIN_SIZE
from app.samplers import SAMPLERS
from app.ui.resources import icon
from app.ui.sampling_controls import SamplingControls
from app.ui.settings import MAX_BATCH_COUNT, UiSettings
from app.ui.speed_widget import PrecisionCombo, SpeedWidget

SIZE_PRESETS: tuple[tuple[int, int], ...] = (
    (512, 512),
    (512, 768),
    (768, 512),
    (768, 768),
    (832, 1216),
    (1216, 832),
    (1024, 1024),
)
CUSTOM = "Custom"


def preset_label(width: int, height: int) -> str:
    return f"{width} × {height}"


class SeedSpinBox(QDoubleSpinBox):
    """Seeds go up to 2**32 - 1, past QSpinBox's int32; -1 reads "Random"."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setDecimals(0)
        self.setRange(-1, MAX_SEED)
        self.setSingleStep(1)
        self.setSpecialValueText("Random")
        self.setAccelerated(True)

    def seed(self) -> int:
        return int(self.value())


class SettingsPanel(QWidget):
    reuseSeedRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.sampler = QComboBox()
        self.sampler.setObjectName("samplerCombo")
        self.sampler.addItems(list(SAMPLERS))  # offered names, then the older "... Karras" ones

        self.steps = QSpinBox()
        self.steps.setRange(1, MAX_STEPS)
        self.cfg = QDoubleSpinBox()
        self.cfg.setRange(0.0, 30.0)
        self.cfg.setSingleStep(0.5)
        self.cfg.setDecimals(1)

        self.seed = SeedSpinBox()
        self.seed.setObjectName("seedSpin")
        self.random_seed = self._tool("dice", "Random seed (-1): a new picture every time")
        self.random_seed.clicked.connect(lambda: self.seed.setValue(-1))
        self.reuse_seed = self._tool("recycle", "Reuse the seed of the last picture")
        self.reuse_seed.clicked.connect(self.reuseSeedRequested)
        seed_row = self._row(self.seed, self.random_seed, self.reuse_seed)

        self.size_preset = QComboBox()
        self.size_preset.setObjectName("sizeCombo")
        for w, h in SIZE_PRESETS:
            self.size_preset.addItem(preset_label(w, h), f"{w}x{h}")
        self.size_preset.addItem(CUSTOM, "")
        self.width_spin = self._size_spin("Width in pixels (multiples of 8)")
        self.height_spin = self._size_spin("Height in pixels (multiples of 8)")
        self.swap = self._tool("swap", "Swap width and height")
        self.swap.clicked.connect(self._swap_size)
        times = QLabel("×")
        times.setObjectName("dimLabel")
        size_row = self._row(self.width_spin, times, self.height_spin, self.swap)

        self.batch_size = QSpinBox()
        self.batch_size.setRange(1, MAX_BATCH)
        self.batch_size.setToolTip("Images made together in one job (seeds s, s+1, …)")
        self.batch_count = QSpinBox()
        self.batch_count.setRange(1, MAX_BATCH_COUNT)
        self.batch_count.setToolTip("Jobs queued one after another")
        batch_row = self._row(self.batch_size, QLabel("per job"), self.batch_count, QLabel("jobs"))

        self.sampling = SamplingControls(self.sampler, SeedSpinBox())
        variation_row = self._row(self.sampling.subseed, self.sampling.strength)

        self.clip_skip = QSpinBox()
        self.clip_skip.setObjectName("clipSkipSpin")
        self.clip_skip.setRange(1, 12)
        self.clip_skip.setToolTip(
            "Clip skip, as in the webui: 1 uses CLIP's last layer, 2 the one before (SD 1.x/2.x)"
        )

        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.setHorizontalSpacing(12)
        form.setVerticalSpacing(8)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.speed = SpeedWidget()  # Quality / Balanced / Fast and the recipe it runs
        self.speed.speedChanged.connect(self._speed_changed)
        form.addRow("Speed", self.speed)
        form.addRow("Sampler", self._row(self.sampler, self.sampling.schedule))
        form.addRow("Steps", self.steps)
        form.addRow("CFG scale", self.cfg)
        form.addRow("Seed", seed_row)
        form.addRow("Variation", variation_row)
        form.addRow("Size", self.size_preset)
        form.addRow("", size_row)
        form.addRow("Batch", batch_row)
        form.addRow("Clip skip", self.clip_skip)
        self.precision = PrecisionCombo()
        form.addRow("Precision", self.precision)
        self.compile_model = QCheckBox("Compile the model")
        self.compile_model.setObjectName("compileCheck")
        hint = "Faster steps after a one-time warm-up of about a minute; needs a C++ compiler."
        self.compile_model.setToolTip(
            f"torch.compile for the UNet and the VAE decoder. {hint} Each new size, batch or "
            "LoRA compiles again, once; the status line says how long it took."
        )
        compile_hint = QLabel(hint)
        compile_hint.setObjectName("dimLabel")
        compile_hint.setWordWrap(True)
        form.addRow("", self.compile_model)
        form.addRow("", compile_hint)

        self.size_preset.currentIndexChanged.connect(self._preset_chosen)
        self.width_spin.valueChanged.connect(self._size_edited)
        self.height_spin.valueChanged.connect(self._size_edited)

    # -- building blocks ------------------------------------------------------------------
    def _tool(self, icon_name: str, tip: str) -> QToolButton:
        button = QToolButton()
        button.setIcon(icon(icon_name))
        button.setToolTip(tip)
        button.setAutoRaise(True)
        return button

    @staticmethod
    def _row(*widgets: QWidget) -> QWidget:
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(6)
        for w in widgets:
            row.addWidget(w, 1 if isinstance(w, QSpinBox | QDoubleSpinBox) else 0)
        return box

    @staticmethod
    def _size_spin(tip: str) -> QSpinBox:
        spin = QSpinBox()
        spin.setRange(MIN_SIZE, MAX_SIZE)
        spin.setSingleStep(8)
        spin.setToolTip(tip)
        spin.setKeyboardTracking(False)
        spin.setCorrectionMode(QSpinBox.CorrectionMode.CorrectToNearestValue)
        return spin

    # -- size presets ---------------------------------------------------------------------
    def _preset_chosen(self, index: int) -> None:
        size = self.size_preset.itemData(index)
        if not size:
            return
        w, h = (int(v) for v in size.split("x"))
        for spin, value in ((self.width_spin, w), (self.height_spin, h)):
            spin.blockSignals(True)
            spin.setValue(value)
            spin.blockSignals(False)

    def _size_edited(self) -> None:
        for spin in (self.width_spin, self.height_spin):
            if spin.value() % 8:  # typed by hand: snap to the multiple of 8 below
                spin.blockSignals(True)
                spin.setValue(max(MIN_SIZE, spin.value() // 8 * 8))
                spin.blockSignals(False)
        size = f"{self.width_spin.value()}x{self.height_spin.value()}"
        index = self.size_preset.findData(size)
        self.size_preset.blockSignals(True)
        self.size_preset.setCurrentIndex(index if index >= 0 else self.size_preset.count() - 1)
        self.size_preset.blockSignals(False)

    def _swap_size(self) -> None:
        w, h = self.width_spin.value(), self.height_spin.value()
        self.width_spin.blockSignals(True)
        self.width_spin.setValue(h)
        self.width_spin.blockSignals(False)
        self.height_spin.setValue(w)

    # -- binding --------------------------------------------------------------------------
    def apply(self, s: UiSettings) -> None:
        self.sampler.setCurrentText(s.sampler)
        self.steps.setValue(s.steps)
        self.cfg.setValue(s.cfg_scale)
        self.seed.setValue(s.seed)
        self.width_spin.setValue(s.width)
        self.height_spin.setValue(s.height)
        self._size_edited()
        self.batch_size.setValue(s.batch_size)
        self.batch_count.setValue(s.batch_count)
        self.clip_skip.setValue(s.clip_skip)
        self.speed.set_speed(s.speed)
        self.precision.set_precision(s.precision)
        self.compile_model.blockSignals(True)
        self.compile_model.setChecked(s.compile_model)
        self.compile_model.blockSignals(False)
        self._speed_changed(s.speed)
        self.sampling.apply(s)

    def read_into(self, s: UiSettings) -> UiSettings:
        s.sampler = self.sampler.currentText()
        s.steps = self.steps.value()
        s.cfg_scale = round(self.cfg.value(), 2)
        s.seed = self.seed.seed()
        s.width = self.width_spin.value()
        s.height = self.height_spin.value()
        s.batch_size = self.batch_size.value()
        s.batch_count = self.batch_count.value()
        s.clip_skip = self.clip_skip.value()
        s.speed = self.speed.speed()
        s.precision = self.precision.precision()
        s.compile_model = self.compile_model.isChecked()
        self.sampling.read_into(s)
        return s

    def _speed_changed(self, speed: str) -> None:
        # Balanced and Fast run their own recipe: the sampler, schedule, steps and CFG set here
        # wait.
        for widget in (self.sampler, self.sampling.schedule, self.steps, self.cfg):
            widget.setEnabled(speed == "quality")
