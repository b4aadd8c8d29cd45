"""The canvas's own generate panel: prompt, negative, mode, strength, steps, seed, images,
the ControlNet that follows the drawing, progress and Cancel.

The prompt fields start from the Generate tab's (``prefill``) until the user edits them here;
from then on the canvas keeps its own. Plain widgets and values: the canvas builds the request.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSlider,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.request import MAX_BATCH, MAX_SEED, MAX_STEPS
from app.ui.canvas_tools import MODES

CONTROL_PREPROCESSORS = (("Scribble", "scribble"), ("Lineart", "lineart"))
_PREFILLED = ("prompt", "negative", "steps")


def _text_box(placeholder: str, lines: int) -> QPlainTextEdit:
    box = QPlainTextEdit()
    box.setPlaceholderText(placeholder)
    box.setTabChangesFocus(True)
    # Room for the style sheet's padding too, so the lines asked for show without scrolling.
    height = box.fontMetrics().lineSpacing() * lines + 30
    box.setFixedHeight(height)
    return box


class CanvasGeneratePanel(QFrame):
    generateClicked = Signal()
    cancelClicked = Signal()
    useDrawingClicked = Signal()
    removeControlClicked = Signal()
    controlShown = Signal(bool)
    changed = Signal()  # any field: the canvas saves them with its work

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("canvasPanel")
        self._touched: set[str] = set()
        self._quiet = False
        self._wanted_controlnet = ""  # saved choice, selected once the listing has it

        self.prompt = _text_box("What the repainted part shows", 3)
        self.prompt.setObjectName("canvasPrompt")
        self.negative = _text_box("Negative prompt", 2)
        self.negative.setObjectName("canvasNegative")
        self.mode_combo = QComboBox()
        self.mode_combo.setObjectName("canvasMode")
        self.mode_combo.addItem("Auto", "auto")
        for mode in MODES:
            self.mode_combo.addItem(mode, mode)
        self.mode_combo.setToolTip(
            "Auto: a mask means inpaint, an extended canvas outpaint; a control drawing on a "
            "blank picture makes a new picture (txt2img)"
        )
        self.strength_slider = QSlider(Qt.Orientation.Horizontal)
        self.strength_slider.setObjectName("canvasStrength")
        self.strength_slider.setRange(1, 100)
        self.strength_slider.setValue(60)
        self.strength_slider.setToolTip(
            "How much of the picture changes: low keeps it, high reimagines it"
        )
        self.strength_label = QLabel()
        self.strength_label.setMinimumWidth(32)
        self.strength_slider.valueChanged.connect(self._strength_changed)
        self._strength_changed(self.strength_slider.value())
        self.steps = QSpinBox()
        self.steps.setObjectName("canvasSteps")
        self.steps.setRange(1, MAX_STEPS)
        self.steps.setValue(25)
        self.seed = QSpinBox()
        self.seed.setObjectName("canvasSeed")
        self.seed.setRange(-1, min(MAX_SEED, 2**31 - 1))
        self.seed.setValue(-1)
        self.seed.setSpecialValueText("Random")
        self.seed.setToolTip("-1 (Random) picks a new seed each time")
        self.random_seed = QToolButton()
        self.random_seed.setText("⟳")
        self.random_seed.setToolTip("Random seed")
        self.random_seed.clicked.connect(lambda: self.seed.setValue(-1))
        self.images = QSpinBox()
        self.images.setObjectName("canvasImages")
        self.images.setRange(1, MAX_BATCH)
        self.images.setValue(1)
        self.images.setToolTip("Pictures per job; the first comes back onto the canvas")

        self.use_drawing = QPushButton("Use my drawing as control")
        self.use_drawing.setObjectName("canvasUseDrawing")
        self.use_drawing.setToolTip(
            "Use my drawing as the control image: your brush strokes move onto a control "
            "layer that a ControlNet (scribble or lineart) follows"
        )
        self.use_drawing.clicked.connect(self.useDrawingClicked)
        self.preprocessor = QComboBox()
        self.preprocessor.setObjectName("canvasPreprocessor")
        for label, value in CONTROL_PREPROCESSORS:
            self.preprocessor.addItem(label, value)
        self.controlnet_combo = QComboBox()
        self.controlnet_combo.setObjectName("canvasControlNet")
        self.control_weight = QDoubleSpinBox()
        self.control_weight.setRange(0.0, 2.0)
        self.control_weight.setSingleStep(0.05)
        self.control_weight.setValue(1.0)
        self.control_weight.setFixedWidth(76)
        self.control_weight.setToolTip("How strongly the picture follows the drawing")
        self.show_control = QCheckBox("Show")
        self.show_control.setToolTip("Show the control layer on the canvas")
        self.show_control.setChecked(True)
        self.show_control.toggled.connect(self.controlShown)
        self.remove_control = QPushButton("Remove")
        self.remove_control.setToolTip("Remove the control layer (Undo brings it back)")
        self.remove_control.clicked.connect(self.removeControlClicked)
        self.control_hint = QLabel()
        self.control_hint.setObjectName("canvasControlHint")
        self.control_hint.setWordWrap(True)

        self.progress = QProgressBar()
        self.progress.setObjectName("canvasProgress")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("Ready")
        self.progress.setTextVisible(True)
        self.progress.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message = QLabel()
        self.message.setObjectName("canvasMessage")
        self.message.setWordWrap(True)
        self.message.hide()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("canvasCancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancelClicked)
        self.generate_button = QPushButton("Generate")
        self.generate_button.setObjectName("canvasGenerate")
        self.generate_button.setDefault(True)
        self.generate_button.clicked.connect(self.generateClicked)

        # Long entries (model names, the seed's digits) must not widen the panel.
        for widget in (
            self.mode_combo,
            self.controlnet_combo,
            self.preprocessor,
            self.seed,
            self.steps,
            self.images,
        ):
            widget.setMinimumWidth(56)
        for combo in (self.mode_combo, self.controlnet_combo, self.preprocessor):
            combo.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
            )
            combo.setMinimumContentsLength(6)
        self._lay_out()
        for box in (self.prompt, self.negative):
            box.textChanged.connect(self._edited)
        for widget in (self.steps, self.seed, self.images, self.strength_slider):
            widget.valueChanged.connect(self._edited)
        self.mode_combo.currentIndexChanged.connect(lambda _=0: self.say(""))
        self.mode_combo.currentIndexChanged.connect(lambda _=0: self.changed.emit())
        self.set_controlnets([], "")
        self.set_control_present(False)

    def _lay_out(self) -> None:
        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.setHorizontalSpacing(8)
        form.setVerticalSpacing(6)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        strength = QHBoxLayout()
        strength.addWidget(self.strength_slider, 1)
        strength.addWidget(self.strength_label)
        seed = QHBoxLayout()
        seed.addWidget(self.seed, 1)
        seed.addWidget(self.random_seed)
        numbers = QHBoxLayout()
        numbers.addWidget(self.steps, 1)
        numbers.addWidget(QLabel("Images"))
        numbers.addWidget(self.images)
        form.addRow("Mode", self.mode_combo)
        form.addRow("Strength", strength)
        form.addRow("Steps", numbers)
        form.addRow("Seed", seed)

        control = QFormLayout()
        control.setContentsMargins(0, 0, 0, 0)
        control.setVerticalSpacing(6)
        control.addRow(self.use_drawing)
        control.addRow("Model", self.controlnet_combo)
        control.addRow("Lines", self.preprocessor)
        layer = QHBoxLayout()
        layer.addWidget(self.control_weight)
        layer.addStretch(1)
        layer.addWidget(self.show_control)
        layer.addWidget(self.remove_control)
        control.addRow("Weight", layer)
        control.addRow(self.control_hint)

        body = QWidget()
        body.setObjectName("canvasPanelBody")
        column = QVBoxLayout(body)
        column.setContentsMargins(12, 10, 12, 6)
        column.setSpacing(6)
        column.addWidget(self._heading("Prompt"))
        column.addWidget(self.prompt)
        column.addWidget(self.negative)
        column.addSpacing(4)
        column.addLayout(form)
        column.addSpacing(6)
        column.addWidget(self._heading("ControlNet: follow my drawing"))
        column.addLayout(control)
        column.addStretch(1)
        scroll = QScrollArea()
        scroll.setObjectName("canvasPanelScroll")
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(body)

        buttons = QHBoxLayout()
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.generate_button, 1)
        footer = QVBoxLayout()
        footer.setContentsMargins(12, 6, 12, 10)
        footer.setSpacing(6)
        footer.addWidget(self.message)
        footer.addWidget(self.progress)
        footer.addLayout(buttons)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        outer.addWidget(scroll, 1)
        outer.addLayout(footer)

    @staticmethod
    def _heading(text: str) -> QLabel:
        label = QLabel(text)
        label.setObjectName("canvasHeading")
        return label

    # --- values ----------------------------------------------------------------------

    def prompt_text(self) -> str:
        return self.prompt.toPlainText().strip()

    def negative_text(self) -> str:
        return self.negative.toPlainText().strip()

    def strength(self) -> float:
        return self.strength_slider.value() / 100

    def chosen_mode(self) -> str:
        return str(self.mode_combo.currentData())

    def controlnet(self) -> str:
        return str(self.controlnet_combo.currentData() or "")

    def prefill(self, prompt: str, negative: str, steps: int) -> None:
        """The Generate tab's values, for each field not edited on the canvas yet."""
        self._quiet = True
        try:
            if "prompt" not in self._touched and prompt != self.prompt.toPlainText():
                self.prompt.setPlainText(prompt)
            if "negative" not in self._touched and negative != self.negative.toPlainText():
                self.negative.setPlainText(negative)
            if "steps" not in self._touched:
                self.steps.setValue(steps)
        finally:
            self._quiet = False

    def fields(self) -> dict[str, Any]:
        return {
            "prompt": self.prompt.toPlainText(),
            "negative": self.negative.toPlainText(),
            "mode": self.chosen_mode(),
            "strength": self.strength_slider.value(),
            "steps": self.steps.value(),
            "seed": self.seed.value(),
            "images": self.images.value(),
            "preprocessor": self.preprocessor.currentData(),
            "controlnet": self.controlnet(),
            "control_weight": self.control_weight.value(),
            "touched": sorted(self._touched),
        }

    def set_fields(self, fields: dict[str, Any]) -> None:
        """Put back fields saved by ``fields()``; unknown or broken values are skipped."""
        self._quiet = True
        try:
            for key, box in (("prompt", self.prompt), ("negative", self.negative)):
                if isinstance(fields.get(key), str):
                    box.setPlainText(fields[key])
            for key, spin in (
                ("strength", self.strength_slider),
                ("steps", self.steps),
                ("seed", self.seed),
                ("images", self.images),
            ):
                value = fields.get(key)
                if isinstance(value, int) and not isinstance(value, bool):
                    spin.setValue(value)
            if isinstance(fields.get("control_weight"), int | float):
                self.control_weight.setValue(float(fields["control_weight"]))
            for key, combo in (("mode", self.mode_combo), ("preprocessor", self.preprocessor)):
                index = combo.findData(fields.get(key))
                if index >= 0:
                    combo.setCurrentIndex(index)
            self._wanted_controlnet = str(fields.get("controlnet") or "")
            self._select_controlnet(self._wanted_controlnet)
            touched = fields.get("touched", [])
            if isinstance(touched, list):
                self._touched = {t for t in touched if t in _PREFILLED}
        finally:
            self._quiet = False

    def set_controlnets(self, models: list[tuple[str, str]], hint: str) -> None:
        """The installed ControlNets as (name, path); ``hint`` says which to download."""
        current = self.controlnet() or self._wanted_controlnet
        self.controlnet_combo.clear()
        for name, path in models:
            self.controlnet_combo.addItem(name, path)
        if not models:
            self.controlnet_combo.addItem("None installed", "")
        self.controlnet_combo.setEnabled(bool(models))
        self._select_controlnet(current)
        self.control_hint.setText(hint)
        self.control_hint.setVisible(bool(hint))

    def _select_controlnet(self, path: str) -> None:
        index = self.controlnet_combo.findData(path) if path else -1
        if index >= 0:
            self.controlnet_combo.setCurrentIndex(index)

    def set_control_present(self, present: bool) -> None:
        self.remove_control.setEnabled(present)
        self.show_control.setEnabled(present)

    # --- job state -------------------------------------------------------------------

    def set_running(self, running: bool, text: str = "") -> None:
        self.cancel_button.setEnabled(running)
        if running:
            self.progress.setRange(0, 0)  # busy until the first step arrives
            self.progress.setFormat(text or "Starting…")
        else:
            self.progress.setRange(0, 1)
            self.progress.setValue(0)
            self.progress.setFormat(text or "Ready")

    def set_progress(self, step: int, total: int, text: str) -> None:
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(min(step, total))
        self.progress.setFormat(text)

    def say(self, text: str) -> None:
        self.message.setText(text)
        self.message.setVisible(bool(text))

    # --- internals -------------------------------------------------------------------

    def _strength_changed(self, value: int) -> None:
        self.strength_label.setText(f"{value / 100:.2f}")

    def _edited(self, *_: object) -> None:
        if self._quiet:
            return
        sender = self.sender()
        for key, widget in (
            ("prompt", self.prompt),
            ("negative", self.negative),
            ("steps", self.steps),
        ):
            if sender is widget:
                self._touched.add(key)
        self.changed.emit()
