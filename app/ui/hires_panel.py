"""The Generate tab's "Hires fix" group (the webui's): a checkable, collapsible box with the
upscaler, the scale, the hires steps and the denoising strength; plus the SDXL size presets
and the SD 2.x prediction-type choice, which also follow the model picked."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.hires_request import BUILTIN_UPSCALERS, MAX_HIRES_SCALE, hires_target
from app.models.prediction import PREDICTION_TYPES
from app.request import MAX_STEPS, GenerationRequest
from app.ui.settings_panel import SIZE_PRESETS as SD_PRESETS

# The sizes SDXL was trained on (about 1 megapixel), as SDXL front-ends offer them.
SDXL_PRESETS: tuple[tuple[int, int], ...] = (
    (1024, 1024),
    (1152, 896),
    (896, 1152),
    (1216, 832),
    (832, 1216),
    (1344, 768),
    (768, 1344),
    (1536, 640),
    (640, 1536),
)


def presets_for(family: str | None) -> tuple[tuple[int, int], ...]:
    return SDXL_PRESETS if family == "sdxl" else SD_PRESETS


def use_presets(settings_panel: Any, presets: tuple[tuple[int, int], ...]) -> None:
    """Refill the settings panel's size combo with ``presets`` (then "Custom"); the width and
    height stay as they are."""
    from app.ui.settings_panel import CUSTOM, preset_label

    combo = settings_panel.size_preset
    current = [combo.itemData(i) for i in range(combo.count() - 1)]
    wanted = [f"{w}x{h}" for w, h in presets]
    if current == wanted:
        return
    combo.blockSignals(True)
    combo.clear()
    for w, h in presets:
        combo.addItem(preset_label(w, h), f"{w}x{h}")
    combo.addItem(CUSTOM, "")
    combo.blockSignals(False)
    settings_panel._size_edited()  # select the preset the current size is, or Custom


class HiresPanel(QGroupBox):
    """Checked: txt2img jobs run the hires fix. Unchecked, the box folds to its title."""

    predictionChosen = Signal(str)  # "auto" | "epsilon" | "v_prediction"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Hires fix", parent)
        self.setObjectName("hiresPanel")
        self.setCheckable(True)
        self.setChecked(False)
        self.setToolTip(
            "Generate at the base size, upscale, then refine with a second img2img pass "
            "(as the webui's Hires. fix)"
        )
        self.body = QWidget()
        form = QFormLayout(self.body)
        form.setContentsMargins(0, 4, 0, 0)
        form.setVerticalSpacing(6)
        self.upscaler = QComboBox()
        self.upscaler.setObjectName("hiresUpscaler")
        self.upscaler.addItems(list(BUILTIN_UPSCALERS))
        self.scale = QDoubleSpinBox()
        self.scale.setObjectName("hiresScale")
        self.scale.setRange(1.0, MAX_HIRES_SCALE)
        self.scale.setSingleStep(0.05)
        self.scale.setValue(2.0)
        self.steps = QSpinBox()
        self.steps.setObjectName("hiresSteps")
        self.steps.setRange(0, MAX_STEPS)
        self.steps.setSpecialValueText("Same as steps")
        self.denoise = QDoubleSpinBox()
        self.denoise.setObjectName("hiresDenoise")
        self.denoise.setRange(0.01, 1.0)
        self.denoise.setSingleStep(0.05)
        self.denoise.setValue(0.7)
        self.target = QLabel()
        self.target.setObjectName("dimLabel")
        form.addRow("Upscaler", self.upscaler)
        form.addRow("Upscale by", self.scale)
        form.addRow("Hires steps", self.steps)
        form.addRow("Denoising", self.denoise)
        form.addRow("", self.target)
        box = QVBoxLayout(self)
        box.setContentsMargins(10, 6, 10, 8)
        box.addWidget(self.body)
        self.body.setVisible(False)
        self.toggled.connect(self.body.setVisible)
        self.scale.valueChanged.connect(lambda _: self.show_target(*self._base))
        self._base = (512, 512)
        self.show_target(512, 512)

        self.prediction = QComboBox()
        self.prediction.setObjectName("predictionCombo")
        for key, label in PREDICTION_TYPES.items():
            self.prediction.addItem(label, key)
        self.prediction.setToolTip(
            "What this SD 2.x file predicts: 512 'base' models are epsilon, 768 ones v"
        )
        self.prediction.activated.connect(
            lambda i: self.predictionChosen.emit(self.prediction.itemData(i))
        )
        self.prediction_row = QWidget()
        row = QFormLayout(self.prediction_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addRow("SD 2.x prediction", self.prediction)
        self.prediction_row.setVisible(False)
        self.on_model_shown: Callable[[str], None] | None = None

    # -- the model picked -------------------------------------------------------------------
    def model_shown(self, path: str) -> None:
        """The window's model picker shows ``path`` (see ``hook_into_window``)."""
        if self.on_model_shown is not None:
            self.on_model_shown(path)

    def set_upscalers(self, payload: dict[str, Any]) -> None:
        """The model list arrived (ModelsWorker.modelsListed): offer installed upscalers."""
        from app.ui.listing import installed

        names = [m["name"] for m in installed(payload, "upscaler")]
        current = self.upscaler.currentText()
        self.upscaler.blockSignals(True)
        self.upscaler.clear()
        self.upscaler.addItems([*BUILTIN_UPSCALERS, *sorted(set(names), key=str.lower)])
        self.upscaler.setCurrentText(current)
        self.upscaler.blockSignals(False)

    def show_prediction(self, family: str | None, single_file: bool, choice: str | None) -> None:
        """Offer the prediction type for SD 2.x single files only."""
        self.prediction_row.setVisible(single_file and family in ("sd2", "sd2-v"))
        index = self.prediction.findData(choice or "auto")
        self.prediction.setCurrentIndex(max(index, 0))

    def show_target(self, width: int, height: int) -> None:
        self._base = (width, height)
        req = GenerationRequest("", width=width, height=height, hires_scale=self.scale.value())
        w, h = hires_target(req)
        self.target.setText(f"{width}×{height} → {w}×{h}")

    # -- binding ------------------------------------------------------------------------
    def changes(self) -> dict[str, object]:
        """The request fields for a txt2img job from the Generate tab."""
        if not self.isChecked():
            return {"hires": False}
        return {
            "hires": True,
            "hires_upscaler": self.upscaler.currentText(),
            "hires_scale": round(self.scale.value(), 2),
            "hires_steps": self.steps.value(),
            "hires_denoise": round(self.denoise.value(), 2),
        }

    def apply_request(self, req: GenerationRequest) -> None:
        """A restored picture's hires settings (unchecked when it had none)."""
        self.setChecked(req.hires)
        if not req.hires:
            return
        if self.upscaler.findText(req.hires_upscaler) < 0:
            self.upscaler.addItem(req.hires_upscaler)
        self.upscaler.setCurrentText(req.hires_upscaler)
        scale = req.hires_scale
        if req.hires_resize != (0, 0) and req.width:
            scale = hires_target(req)[0] / req.width
        self.scale.setValue(scale)
        self.steps.setValue(req.hires_steps)
        self.denoise.setValue(req.hires_denoise)
        self.show_target(req.width, req.height)


def hook_into_window(window: Any, panel: HiresPanel) -> None:
    """Wire the panel to the main window: installed upscalers, the model picked (presets,
    prediction row), the size typed, and a prediction choice (remembered, model reloaded)."""
    from app.models.prediction import prediction_override, set_prediction_override

    families: dict[str, str | None] = {}
    settings = window.settings_panel

    def models_listed(payload: dict[str, Any]) -> None:
        panel.set_upscalers(payload)
        for m in payload.get("models", []):
            if m.get("path") and m.get("kind") == "checkpoint":
                families[m["path"]] = m.get("family")
        model_shown(window.settings.model_path)

    def model_shown(path: str) -> None:
        family = families.get(path)
        use_presets(settings, presets_for(family))
        single = bool(path) and path.endswith((".safetensors", ".ckpt"))
        panel.show_prediction(family, single, prediction_override(path) if single else None)

    def size_changed() -> None:
        panel.show_target(settings.width_spin.value(), settings.height_spin.value())

    def prediction_chosen(choice: str) -> None:
        path = window.settings.model_path
        if path:
            set_prediction_override(path, choice)
            window.set_model_path(path)  # the worker reloads: the load key includes it

    window.models_worker.modelsListed.connect(models_listed)
    settings.width_spin.valueChanged.connect(size_changed)
    settings.height_spin.valueChanged.connect(size_changed)
    panel.predictionChosen.connect(prediction_chosen)
    panel.on_model_shown = model_shown
    size_changed()
