"""The canvas tab: paint over a picture, mask what to repaint, extend it, send it to generate.

CanvasWidget wires a tool bar and a generate bar around a CanvasView; the picture, its
layers and undo live in CanvasDocument. The main window connects `generateRequested` to
its queue and calls `load_image(path)` with the result.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData, QPoint, Qt, Signal
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QColor,
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QIcon,
    QImage,
    QKeySequence,
    QPixmap,
)
from PySide6.QtWidgets import (
    QColorDialog,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.ui.canvas_dialogs import ExtendDialog, NewImageDialog
from app.ui.canvas_state import CanvasDocument
from app.ui.canvas_tools import MODES, Tool, infer_mode, tool_icon
from app.ui.canvas_view import CanvasView
from app.ui.imageio import (
    FILE_DIALOG_FILTER,
    copy_image_to_clipboard,
    image_from_mime,
    mime_has_image,
    qimage_to_pil,
)

_TOOLS = (
    (Tool.BRUSH, "Brush", "B", "Paint on the picture"),
    (Tool.ERASER, "Eraser", "E", "Erase your paint back to the picture"),
    (Tool.MASK, "Mask", "M", "Paint the part to repaint (inpaint)"),
    (Tool.MASK_ERASER, "Unmask", "Shift+M", "Erase the mask"),
    (Tool.PAN, "Pan", "H", "Move the view (or hold Space, or drag with the middle button)"),
)
_EMPTY_HINT = "Drop a picture here, paste one with Ctrl+V, or use Open or New"
# Local to the canvas: the active tool must read as pressed, and Generate as the main action,
# whatever the application style sheet says about tool buttons in general.
_STYLE = """
#canvasToolbar { border: none; border-bottom: 1px solid #2a2c34; padding: 2px 6px; spacing: 2px; }
#canvasToolbar QToolButton { min-width: 44px; }
#canvasToolbar QToolButton:checked { background: #3a3463; border: 1px solid #6a58ee; }
#canvasGenerateBar { border-top: 1px solid #2a2c34; }
QPushButton#canvasGenerate {
    background: qlineargradient(x1:0, y1:0, x2:1, y2:1, stop:0 #7a68ff, stop:1 #b15cf0);
    color: #ffffff; font-weight: 600; border: none; border-radius: 8px; padding: 7px 18px;
}
QPushButton#canvasGenerate:hover {
    background: qlineargradient(x1:0, y1:0, x2:1, y2:1, stop:0 #8a7aff, stop:1 #c06ef8);
}
#canvasMessage { color: #ffb4b4; }
"""


def _swatch(colour: QColor) -> QIcon:
    pixmap = QPixmap(20, 20)
    pixmap.fill(colour)
    return QIcon(pixmap)


class CanvasWidget(QWidget):
    generateRequested = Signal(object)  # dict: mode, strength, init_image, mask, outpaint

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("canvasWidget")
        self.setAcceptDrops(True)
        self.setStyleSheet(_STYLE)
        self.doc = CanvasDocument(self)
        self.view = CanvasView(self.doc)
        self.view.hint = _EMPTY_HINT
        self.status = QLabel()
        self.status.setObjectName("canvasStatus")
        self.message = QLabel()
        self.message.setObjectName("canvasMessage")
        self._cursor: QPoint | None = None

        self.toolbar = self._build_toolbar()
        bottom = self._build_generate_bar()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.toolbar)
        layout.addWidget(self.view, 1)
        layout.addWidget(bottom)

        self.doc.reshaped.connect(self._update_status)
        self.doc.undo_stack.indexChanged.connect(self._update_mode_label)
        self.view.zoomChanged.connect(self._update_status)
        self.view.on_cursor = self._cursor_moved
        self._update_status()
        self._update_mode_label()

    # --- construction ----------------------------------------------------------------

    def _action(self, icon: str, text: str, slot, keys=(), tip: str = "") -> QAction:  # noqa: ANN001
        action = QAction(tool_icon(icon) if icon else QIcon(), text, self)
        action.triggered.connect(slot)
        if keys:
            sequences: list[QKeySequence] = []
            for key in keys:
                found = (
                    QKeySequence.keyBindings(key)
                    if isinstance(key, QKeySequence.StandardKey)
                    else [QKeySequence(key)]
                )
                sequences += [seq for seq in found if seq not in sequences]
            action.setShortcuts(sequences)
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            tip = f"{tip or text} ({QKeySequence(keys[0]).toString(QKeySequence.SequenceFormat.NativeText)})"
        action.setToolTip(tip or text)
        self.addAction(action)
        return action

    def _build_toolbar(self) -> QToolBar:
        bar = QToolBar("Canvas tools")
        bar.setObjectName("canvasToolbar")
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
        bar.setMovable(False)
        self.open_action = self._action(
            "open", "Open", self.open_file, [QKeySequence.StandardKey.Open], "Open a picture"
        )
        self.new_action = self._action(
            "new", "New", self.new_blank_dialog, [], "A new blank picture"
        )
        self.paste_action = self._action(
            "paste", "Paste", self.paste, [QKeySequence.StandardKey.Paste], "Paste a picture"
        )
        self.copy_action = self._action("", "Copy", self.copy, [QKeySequence.StandardKey.Copy])
        for action in (self.open_action, self.new_action, self.paste_action):
            bar.addAction(action)
        bar.addSeparator()

        group = QActionGroup(self)
        self.tool_actions: dict[Tool, QAction] = {}
        for tool, text, key, tip in _TOOLS:
            action = self._action(
                tool.value, text, lambda _=False, t=tool: self.set_tool(t), [key], tip
            )
            action.setCheckable(True)
            group.addAction(action)
            bar.addAction(action)
            self.tool_actions[tool] = action
        self.tool_actions[Tool.BRUSH].setChecked(True)
        bar.addSeparator()

        self.size_slider = QSlider(Qt.Orientation.Horizontal)
        self.size_slider.setObjectName("brushSize")
        self.size_slider.setRange(1, 300)
        self.size_slider.setValue(int(self.view.brush_size))
        self.size_slider.setFixedWidth(130)
        self.size_slider.setToolTip("Brush size ([ and ] change it)")
        self.size_label = QLabel()
        self.size_label.setMinimumWidth(44)
        self.size_slider.valueChanged.connect(self._size_changed)
        self._size_changed(self.size_slider.value())
        size_box = QWidget()
        size_layout = QHBoxLayout(size_box)
        size_layout.setContentsMargins(6, 0, 6, 0)
        size_layout.addWidget(QLabel("Size"))
        size_layout.addWidget(self.size_slider)
        size_layout.addWidget(self.size_label)
        bar.addWidget(size_box)
        self._action("", "Smaller brush", lambda: self._nudge_size(1 / 1.25), ["["])
        self._action("", "Larger brush", lambda: self._nudge_size(1.25), ["]"])
        self.colour_button = QToolButton()
        self.colour_button.setObjectName("brushColour")
        self.colour_button.setText("Colour")
        self.colour_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
        self.colour_button.setIcon(_swatch(self.view.colour))
        self.colour_button.setToolTip("Brush colour")
        self.colour_button.clicked.connect(self.pick_colour)
        bar.addWidget(self.colour_button)
        bar.addSeparator()

        stack = self.doc.undo_stack
        self.undo_action = self._action("undo", "Undo", stack.undo, [QKeySequence.StandardKey.Undo])
        self.redo_action = self._action(
            "redo", "Redo", stack.redo, [QKeySequence.StandardKey.Redo, "Ctrl+Shift+Z", "Ctrl+Y"]
        )
        stack.canUndoChanged.connect(self.undo_action.setEnabled)
        stack.canRedoChanged.connect(self.redo_action.setEnabled)
        self.undo_action.setEnabled(False)
        self.redo_action.setEnabled(False)
        bar.addAction(self.undo_action)
        bar.addAction(self.redo_action)
        bar.addSeparator()
        self.clear_mask_action = self._action(
            "clear", "Clear mask", self.doc.clear_mask, [], "Remove the whole mask"
        )
        self.invert_mask_action = self._action(
            "invert", "Invert mask", self.doc.invert_mask, [], "Repaint everything except the mask"
        )
        self.extend_action = self._action(
            "extend", "Extend…", self.extend_dialog, [], "Add a border for outpainting"
        )
        for action in (self.clear_mask_action, self.invert_mask_action, self.extend_action):
            bar.addAction(action)
        bar.addSeparator()
        self.zoom_out_action = self._action(
            "zoom_out", "Zoom out", self.view.zoom_out, ["-", QKeySequence.StandardKey.ZoomOut]
        )
        self.zoom_in_action = self._action(
            "zoom_in", "Zoom in", self.view.zoom_in, ["+", "=", QKeySequence.StandardKey.ZoomIn]
        )
        self.fit_action = self._action(
            "fit", "Fit", self.view.fit, ["Ctrl+0"], "Fit the picture in the window"
        )
        for action in (self.zoom_out_action, self.zoom_in_action, self.fit_action):
            bar.addAction(action)
        return bar

    def _build_generate_bar(self) -> QWidget:
        bar = QWidget()
        bar.setObjectName("canvasGenerateBar")
        self.mode_combo = QComboBox()
        self.mode_combo.setObjectName("canvasMode")
        self.mode_combo.addItem("Auto", "auto")
        for mode in MODES:
            self.mode_combo.addItem(mode, mode)
        self.mode_combo.setToolTip("Auto: a mask means inpaint, an extended canvas outpaint")
        self.strength_slider = QSlider(Qt.Orientation.Horizontal)
        self.strength_slider.setObjectName("canvasStrength")
        self.strength_slider.setRange(1, 100)
        self.strength_slider.setValue(60)
        self.strength_slider.setMinimumWidth(160)
        self.strength_slider.setToolTip(
            "How much of the picture changes: low keeps it, high reimagines it"
        )
        self.strength_label = QLabel()
        self.strength_label.setMinimumWidth(34)
        self.strength_slider.valueChanged.connect(
            lambda v: self.strength_label.setText(f"{v / 100:.2f}")
        )
        self.strength_label.setText(f"{self.strength_slider.value() / 100:.2f}")
        self.generate_button = QPushButton("Generate")
        self.generate_button.setObjectName("canvasGenerate")
        self.generate_button.setDefault(True)
        self.generate_button.setMinimumWidth(120)
        self.generate_button.clicked.connect(self.generate)

        layout = QHBoxLayout(bar)
        layout.setContentsMargins(10, 6, 10, 6)
        layout.addWidget(self.status, 1)
        layout.addWidget(self.message)
        layout.addSpacing(12)
        layout.addWidget(QLabel("Mode"))
        layout.addWidget(self.mode_combo)
        layout.addSpacing(8)
        layout.addWidget(QLabel("Strength"))
        layout.addWidget(self.strength_slider)
        layout.addWidget(self.strength_label)
        layout.addSpacing(8)
        layout.addWidget(self.generate_button)
        self.mode_combo.currentIndexChanged.connect(lambda _=0: self.message.clear())
        return bar

    # --- API for the main window -------------------------------------------------------

    def load_image(self, image: QImage | str | Path) -> bool:
        """Show a picture (undoable); False and a message when it cannot be read."""
        if not isinstance(image, QImage):
            path = str(image)
            image = QImage(path)
            if image.isNull():
                self._say(
                    f"{Path(path).name} could not be read as a picture; use a PNG, JPEG or WebP file."
                )
                return False
        if image.isNull():
            return False
        self.doc.load(image)
        self._say("")
        self.view.fit()
        return True

    def current_image(self) -> QImage:
        """The picture with the paint flattened on it, at its own size (no extension)."""
        return self.doc.flattened()

    def current_mask(self) -> QImage | None:
        """White where the mask is painted, black elsewhere; None when nothing is masked."""
        return self.doc.mask_image() if self.doc.has_mask() else None

    def extension(self) -> tuple[int, int, int, int]:
        return self.doc.ext

    def mode(self) -> str:
        chosen = self.mode_combo.currentData()
        if chosen != "auto":
            return str(chosen)
        return infer_mode(self.doc.has_mask(), self.doc.ext)

    def strength(self) -> float:
        return self.strength_slider.value() / 100

    # --- actions ---------------------------------------------------------------------

    def generate(self) -> None:
        if self.doc.is_empty():
            self._say("Open, paste or drop a picture first.")
            return
        mode = self.mode()
        if mode == "inpaint" and not self.doc.has_mask():
            self._say("Paint a mask over the part to repaint first (the Mask brush).")
            return
        if mode == "outpaint" and not any(self.doc.ext):
            self._say("Extend the canvas first; outpaint fills the new border.")
            return
        self._say("")
        payload = {
            "mode": mode,
            "strength": self.strength(),
            "init_image": qimage_to_pil(self.doc.flattened(), "RGB"),
            "mask": qimage_to_pil(self.doc.mask_image(), "L") if mode == "inpaint" else None,
            "outpaint": self.doc.ext if mode == "outpaint" else (0, 0, 0, 0),
        }
        self.generateRequested.emit(payload)

    def set_tool(self, tool: Tool) -> None:
        self.view.set_tool(tool)
        self.tool_actions[tool].setChecked(True)

    def open_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open picture", "", FILE_DIALOG_FILTER)
        if path:
            self.load_image(path)

    def new_blank(self, width: int, height: int, colour: QColor | None = None) -> None:
        self.doc.new_blank(width, height, colour)
        self.view.fit()

    def new_blank_dialog(self) -> None:
        dialog = NewImageDialog(self)
        if dialog.exec():
            self.new_blank(*dialog.values())

    def extend_canvas(self, left: int, top: int, right: int, bottom: int) -> None:
        """Add a border to outpaint; each side rounds up to a multiple of 8 pixels."""
        if self.doc.is_empty():
            self._say("Open, paste or drop a picture first.")
            return
        self.doc.extend(*(-(-v // 8) * 8 for v in (left, top, right, bottom)))
        self.view.fit()

    def extend_dialog(self) -> None:
        dialog = ExtendDialog(self)
        if dialog.exec():
            self.extend_canvas(*dialog.values())

    def load_mime(self, mime: QMimeData | None) -> bool:
        image = image_from_mime(mime) if mime is not None else None
        if image is None:
            self._say("The clipboard holds no picture; copy an image or an image file first.")
            return False
        return self.load_image(image)

    def paste(self) -> None:
        self.load_mime(QGuiApplication.clipboard().mimeData())

    def copy(self) -> None:
        if not self.doc.is_empty():
            copy_image_to_clipboard(self.current_image())

    def pick_colour(self) -> None:
        colour = QColorDialog.getColor(self.view.colour, self, "Brush colour")
        if colour.isValid():
            self.set_colour(colour)

    def set_colour(self, colour: QColor) -> None:
        self.view.colour = QColor(colour)
        self.colour_button.setIcon(_swatch(colour))

    def set_brush_size(self, size: int) -> None:
        self.size_slider.setValue(size)

    # --- drops -----------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if mime_has_image(event.mimeData()):
            event.acceptProposedAction()

    def dragMoveEvent(self, event: QDragEnterEvent) -> None:
        if mime_has_image(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        if self.load_mime(event.mimeData()):
            event.acceptProposedAction()

    # --- internals -------------------------------------------------------------------

    def _say(self, text: str) -> None:
        self.message.setText(text)

    def _size_changed(self, value: int) -> None:
        self.view.brush_size = float(value)
        self.size_label.setText(f"{value} px")
        self.view.update()

    def _nudge_size(self, factor: float) -> None:
        value = self.size_slider.value()
        new = round(value * factor)
        self.size_slider.setValue(new if new != value else value + (1 if factor > 1 else -1))

    def _cursor_moved(self, point: QPoint | None) -> None:
        self._cursor = point
        self._update_status()

    def _update_status(self, *_: object) -> None:
        if self.doc.is_empty():
            self.status.setText("No picture")
            return
        base = self.doc.base.size()
        parts = [f"Zoom {round(self.view.zoom() * 100)}%", f"{base.width()} × {base.height()}"]
        if any(self.doc.ext):
            size = self.doc.size()
            parts.append(f"→ {size.width()} × {size.height()} (outpaint)")
        if self._cursor is not None:
            x, y = self._cursor.x() - self.doc.ext[0], self._cursor.y() - self.doc.ext[1]
            parts.append(f"x {x}, y {y}")
        self.status.setText("   ·   ".join(parts))

    def _update_mode_label(self, *_: object) -> None:
        inferred = infer_mode(self.doc.has_mask(), self.doc.ext)
        self.mode_combo.setItemText(0, f"Auto ({inferred})")
