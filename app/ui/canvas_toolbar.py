"""The canvas's tool bar and its actions (with their keyboard shortcuts).

A QToolBar, so that at a narrow window the actions that do not fit go into its extension
menu (the » button) instead of being cut off.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QColor, QIcon, QKeySequence, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QToolBar, QToolButton, QWidget

from app.ui.canvas_tools import Tool, tool_icon

if TYPE_CHECKING:
    from app.ui.canvas import CanvasWidget

Key = str | QKeySequence.StandardKey

TOOLS = (
    (Tool.BRUSH, "Brush", "B", "Paint on the picture"),
    (Tool.ERASER, "Eraser", "E", "Erase your paint back to the picture"),
    (Tool.MASK, "Mask", "M", "Paint the part to repaint (inpaint)"),
    (Tool.MASK_ERASER, "Unmask", "Shift+M", "Erase the mask"),
    (Tool.PAN, "Pan", "H", "Move the view (or hold Space, or drag with the middle button)"),
)


def swatch(colour: QColor) -> QIcon:
    pixmap = QPixmap(20, 20)
    pixmap.fill(colour)
    return QIcon(pixmap)


def make_action(
    owner: QWidget,
    icon: str,
    text: str,
    slot: Callable[..., object],
    keys: Sequence[Key] = (),
    tip: str = "",
) -> QAction:
    action = QAction(tool_icon(icon) if icon else QIcon(), text, owner)
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
        first = QKeySequence(keys[0]).toString(QKeySequence.SequenceFormat.NativeText)
        tip = f"{tip or text} ({first})"
    action.setToolTip(tip or text)
    owner.addAction(action)
    return action


def build_toolbar(c: CanvasWidget) -> QToolBar:
    """The tool bar; sets the actions and controls on ``c`` by the names the tests use."""
    bar = QToolBar("Canvas tools")
    bar.setObjectName("canvasToolbar")
    bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
    bar.setMovable(False)
    bar.setFloatable(False)
    c.open_action = make_action(
        c, "open", "Open", c.open_file, [QKeySequence.StandardKey.Open], "Open a picture"
    )
    c.new_action = make_action(c, "new", "New", c.new_blank_dialog, [], "A new blank picture")
    c.paste_action = make_action(
        c, "paste", "Paste", c.paste, [QKeySequence.StandardKey.Paste], "Paste a picture"
    )
    c.copy_action = make_action(c, "", "Copy", c.copy, [QKeySequence.StandardKey.Copy])
    for action in (c.open_action, c.new_action, c.paste_action):
        bar.addAction(action)
    bar.addSeparator()

    group = QActionGroup(c)
    c.tool_actions = {}
    for tool, text, key, tip in TOOLS:
        action = make_action(c, tool.value, text, lambda _=False, t=tool: c.set_tool(t), [key], tip)
        action.setCheckable(True)
        group.addAction(action)
        bar.addAction(action)
        c.tool_actions[tool] = action
    c.tool_actions[Tool.BRUSH].setChecked(True)

    c.size_slider = QSlider(Qt.Orientation.Horizontal)
    c.size_slider.setObjectName("brushSize")
    c.size_slider.setRange(1, 300)
    c.size_slider.setValue(int(c.view.brush_size))
    c.size_slider.setFixedWidth(96)
    c.size_slider.setToolTip("Brush size ([ and ] change it)")
    c.size_label = QLabel()
    c.size_label.setMinimumWidth(44)
    size_box = QWidget()
    size_layout = QHBoxLayout(size_box)
    size_layout.setContentsMargins(6, 0, 6, 0)
    size_layout.addWidget(QLabel("Size"))
    size_layout.addWidget(c.size_slider)
    size_layout.addWidget(c.size_label)
    size_action = bar.addWidget(size_box)
    size_action.setText("Brush size")
    make_action(c, "", "Smaller brush", lambda: c.nudge_size(1 / 1.25), ["["])
    make_action(c, "", "Larger brush", lambda: c.nudge_size(1.25), ["]"])
    c.colour_button = QToolButton()
    c.colour_button.setObjectName("brushColour")
    c.colour_button.setText("Colour")
    c.colour_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
    c.colour_button.setIcon(swatch(c.view.colour))
    c.colour_button.setToolTip("Brush colour")
    c.colour_button.clicked.connect(c.pick_colour)
    colour_action = bar.addWidget(c.colour_button)
    colour_action.setText("Colour")
    bar.addSeparator()

    stack = c.doc.undo_stack
    c.undo_action = make_action(c, "undo", "Undo", stack.undo, [QKeySequence.StandardKey.Undo])
    c.redo_action = make_action(
        c, "redo", "Redo", stack.redo, [QKeySequence.StandardKey.Redo, "Ctrl+Shift+Z", "Ctrl+Y"]
    )
    stack.canUndoChanged.connect(c.undo_action.setEnabled)
    stack.canRedoChanged.connect(c.redo_action.setEnabled)
    c.undo_action.setEnabled(False)
    c.redo_action.setEnabled(False)
    bar.addAction(c.undo_action)
    bar.addAction(c.redo_action)
    bar.addSeparator()
    c.clear_mask_action = make_action(
        c, "clear", "Clear mask", c.doc.clear_mask, [], "Remove the whole mask"
    )
    c.invert_mask_action = make_action(
        c, "invert", "Invert mask", c.doc.invert_mask, [], "Repaint everything except the mask"
    )
    c.extend_action = make_action(
        c, "extend", "Extend…", c.extend_dialog, [], "Add a border for outpainting"
    )
    c.control_action = make_action(
        c,
        "control",
        "Control",
        c.use_drawing_as_control,
        [],
        "Use my drawing as the control image (ControlNet scribble or lineart)",
    )
    c.upscale_action = make_action(
        c, "", "Upscale…", c.request_upscale, [],
        "A 2x or 4x larger copy of the picture: saved in the gallery, back on the canvas",
    )  # fmt: skip
    for action in (
        c.clear_mask_action, c.invert_mask_action, c.extend_action, c.control_action,
        c.upscale_action,
    ):  # fmt: skip
        bar.addAction(action)
    bar.addSeparator()
    c.zoom_out_action = make_action(
        c, "zoom_out", "Zoom out", c.view.zoom_out, ["-", QKeySequence.StandardKey.ZoomOut]
    )
    c.zoom_in_action = make_action(
        c, "zoom_in", "Zoom in", c.view.zoom_in, ["+", "=", QKeySequence.StandardKey.ZoomIn]
    )
    c.fit_action = make_action(
        c, "fit", "Fit", c.view.fit, ["Ctrl+0"], "Fit the picture in the window"
    )
    for action in (c.zoom_out_action, c.zoom_in_action, c.fit_action):
        bar.addAction(action)
    bar.addSeparator()
    c.clear_canvas_action = make_action(
        c,
        "trash",
        "Clear",
        c.clear_canvas,
        [],
        "Clear the canvas: removes the picture and its layers, also the copy kept for next "
        "time (Undo brings it back)",
    )
    bar.addAction(c.clear_canvas_action)
    return bar
