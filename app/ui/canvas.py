"""The canvas tab: paint over a picture, mask what to repaint, extend it, generate from it.

CanvasWidget wires a tool bar, the view with its scroll bars and its own generate panel
(prompt, strength, steps, seed, ControlNet, progress, Cancel); the picture, its layers and
undo live in CanvasDocument, and the work is kept across restarts by CanvasStore. The main
window connects `generateRequested` to its queue, tells the canvas which job is its own
(`track_job`), and calls `take_result(path)` with the picture that comes back.
"""

from __future__ import annotations

import contextlib
import logging
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from PySide6.QtCore import QMimeData, QPoint, QRect, Qt, QTimer, Signal
from PySide6.QtGui import (
    QAction,
    QColor,
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QImage,
)
from PySide6.QtWidgets import (
    QColorDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QSlider,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.request import MAX_SIZE, ControlUnit
from app.ui.canvas_area import CanvasArea
from app.ui.canvas_dialogs import ExtendDialog, NewImageDialog
from app.ui.canvas_jobs import CanvasJobs, controlnet_choices
from app.ui.canvas_panel import CanvasGeneratePanel
from app.ui.canvas_state import CanvasDocument
from app.ui.canvas_store import CanvasStore
from app.ui.canvas_toolbar import build_toolbar, swatch
from app.ui.canvas_tools import Tool, infer_mode
from app.ui.canvas_view import CanvasView
from app.ui.imageio import (
    FILE_DIALOG_FILTER,
    copy_image_to_clipboard,
    image_from_mime,
    mime_has_image,
    qimage_to_pil,
)

log = logging.getLogger(__name__)

_EMPTY_HINT = "Drop a picture here, paste one with Ctrl+V, or use Open or New"
AUTOSAVE_DELAY_MS = 800
PANEL_WIDTH = 312
# Local to the canvas: the active tool must read as pressed, and Generate as the main action,
# whatever the application style sheet says about tool buttons in general.
_STYLE = """
#canvasToolbar { border: none; border-bottom: 1px solid #2a2c34; padding: 2px 4px; spacing: 1px; }
#canvasToolbar QToolButton { min-width: 40px; padding: 2px 3px; }
#canvasToolbar QToolButton#qt_toolbar_ext_button { min-width: 0px; padding: 0px; }
#canvasToolbar QToolButton:checked { background: #3a3463; border: 1px solid #6a58ee; }
#canvasPanel { border-left: 1px solid #2a2c34; }
#canvasPanelBody, #canvasPanelScroll { background: transparent; }
#canvasHeading { color: #a9a9b6; font-weight: 600; padding-top: 2px; }
#canvasControlHint { color: #e9c46a; }
#canvasStatusBar { border-top: 1px solid #2a2c34; }
#canvasStatus { color: #a9a9b6; }
QPushButton#canvasGenerate {
    background: qlineargradient(x1:0, y1:0, x2:1, y2:1, stop:0 #7a68ff, stop:1 #b15cf0);
    color: #ffffff; font-weight: 600; border: none; border-radius: 8px; padding: 7px 18px;
}
QPushButton#canvasGenerate:hover {
    background: qlineargradient(x1:0, y1:0, x2:1, y2:1, stop:0 #8a7aff, stop:1 #c06ef8);
}
#canvasMessage { color: #ffb4b4; }
"""


def _save_message(exc: OSError) -> str:
    return (
        f"The canvas could not be kept for next time ({exc.strerror or exc}); free some disk space."
    )


class CanvasWidget(QWidget):
    # dict: mode, strength, init_image, mask, outpaint, prompt, negative_prompt, steps, seed,
    # batch_size, controlnets (GenerationRequest fields)
    generateRequested = Signal(object)
    upscaleRequested = Signal(str)  # a PNG of the flattened picture, for the window's upscaler
    _saveFailed = Signal(str)  # from the autosave thread

    # Set by build_toolbar.
    open_action: QAction
    new_action: QAction
    paste_action: QAction
    copy_action: QAction
    tool_actions: dict[Tool, QAction]
    size_slider: QSlider
    size_label: QLabel
    colour_button: QToolButton
    undo_action: QAction
    redo_action: QAction
    clear_mask_action: QAction
    invert_mask_action: QAction
    extend_action: QAction
    control_action: QAction
    zoom_out_action: QAction
    zoom_in_action: QAction
    fit_action: QAction
    clear_canvas_action: QAction

    def __init__(self, parent: QWidget | None = None, store: CanvasStore | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("canvasWidget")
        self.setAcceptDrops(True)
        self.setStyleSheet(_STYLE)
        self.doc = CanvasDocument(self)
        self.view = CanvasView(self.doc)
        self.view.hint = _EMPTY_HINT
        self.area = CanvasArea(self.view)
        self.panel = CanvasGeneratePanel()
        self.panel.setFixedWidth(PANEL_WIDTH)
        self.status = QLabel()
        self.status.setObjectName("canvasStatus")
        self._cursor: QPoint | None = None
        self.store = store or CanvasStore()
        self.jobs = CanvasJobs(self)
        self._save_error = ""
        # Asked when a picture larger than the engine's limit is opened: scale it down?
        self.ask_scale_down = self._ask_scale_down

        self.toolbar: QToolBar = build_toolbar(self)
        self.size_slider.valueChanged.connect(self._size_changed)
        self._size_changed(self.size_slider.value())
        status_bar = QWidget()
        status_bar.setObjectName("canvasStatusBar")
        status_row = QHBoxLayout(status_bar)
        status_row.setContentsMargins(10, 3, 10, 3)
        status_row.addWidget(self.status, 1)
        left = QVBoxLayout()
        left.setContentsMargins(0, 0, 0, 0)
        left.setSpacing(0)
        left.addWidget(self.toolbar)
        left.addWidget(self.area, 1)
        left.addWidget(status_bar)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(left, 1)
        layout.addWidget(self.panel)

        p = self.panel
        p.generateClicked.connect(self.generate)
        p.cancelClicked.connect(self.jobs.cancel)
        p.useDrawingClicked.connect(self.use_drawing_as_control)
        p.removeControlClicked.connect(self.doc.remove_control)
        p.controlShown.connect(self._show_control)
        p.preprocessor.currentIndexChanged.connect(lambda _=0: self._refresh_hint())
        self._listing: dict[str, Any] = {}
        self._refresh_hint()

        self._autosave = QTimer(self)
        self._autosave.setSingleShot(True)
        self._autosave.setInterval(AUTOSAVE_DELAY_MS)
        self._autosave.timeout.connect(self._save_in_background)
        self._saver = ThreadPoolExecutor(max_workers=1, thread_name_prefix="canvas-save")
        self._saving: Future[None] | None = None
        self._saveFailed.connect(self._save_failed)
        saver = self._saver
        self.destroyed.connect(lambda *_: saver.shutdown(wait=False))
        self.doc.add_change_listener(lambda _rect: self._autosave.start())
        p.changed.connect(self._autosave.start)
        self.doc.reshaped.connect(self._update_status)
        self.doc.undo_stack.indexChanged.connect(self._document_changed)
        self.view.zoomChanged.connect(self._update_status)
        self.view.on_cursor = self._cursor_moved
        self._restore_saved()
        self._update_status()
        self._document_changed()

    # --- API for the main window -------------------------------------------------------

    @property
    def generate_button(self):  # noqa: ANN201 - the panel's button, by its old name
        return self.panel.generate_button

    @property
    def message(self) -> QLabel:
        return self.panel.message

    @property
    def mode_combo(self):  # noqa: ANN201
        return self.panel.mode_combo

    @property
    def strength_slider(self) -> QSlider:
        return self.panel.strength_slider

    def attach_worker(self, worker: Any) -> None:
        """Follow the engine worker's signals for this canvas's jobs (progress, preview)."""
        self.jobs.attach(worker)

    def track_job(self, job_id: int) -> None:
        """A job queued from this canvas: show its progress and live preview here."""
        whole = self.mode() == "outpaint"
        rect = QRect(QPoint(0, 0), self.doc.size()) if whole else self.doc.image_rect()
        self.jobs.track(job_id, rect)

    def prefill(self, prompt: str, negative: str, steps: int) -> None:
        self.panel.prefill(prompt, negative, steps)

    def set_models_listing(self, listing: dict[str, Any]) -> None:
        """The models worker's listing: the installed ControlNets fill the panel's choice."""
        self._listing = listing if isinstance(listing, dict) else {}
        self._refresh_hint()

    def load_image(self, image: QImage | str | Path, ask: bool = True) -> bool:
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
        if ask and max(image.width(), image.height()) > MAX_SIZE and self.ask_scale_down(image):
            image = image.scaled(
                MAX_SIZE,
                MAX_SIZE,
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
        self.doc.load(image)
        self._say("")
        self.view.fit()
        return True

    def take_result(self, path: str) -> bool:
        """A picture generated from the canvas comes back onto it (the control layer stays)."""
        self.view.clear_preview()
        image = QImage(path)
        if image.isNull():
            self._say(f"The result {Path(path).name} could not be read back onto the canvas.")
            return False
        self.doc.load(image, "Generated picture", keep_control=True)
        self.view.fit()
        return True

    def request_upscale(self) -> None:
        """Hand the flattened picture to the window's upscaler (as a PNG in the cache)."""
        if self.doc.is_empty():
            return
        from app.library.paths import cache_dir

        path = cache_dir() / "canvas-upscale.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        if self.current_image().save(str(path), "PNG"):
            self.upscaleRequested.emit(str(path))

    def current_image(self) -> QImage:
        """The picture with the paint flattened on it, at its own size (no extension)."""
        return self.doc.flattened()

    def current_mask(self) -> QImage | None:
        """White where the mask is painted, black elsewhere; None when nothing is masked."""
        return self.doc.mask_image() if self.doc.has_mask() else None

    def extension(self) -> tuple[int, int, int, int]:
        return self.doc.ext

    def mode(self) -> str:
        chosen = self.panel.chosen_mode()
        if chosen != "auto":
            return chosen
        return self._inferred_mode()

    def strength(self) -> float:
        return self.panel.strength()

    # --- actions ---------------------------------------------------------------------

    def generate(self) -> None:
        if self.doc.is_empty():
            self._say("Open, paste or drop a picture first (or New, to draw on a blank one).")
            return
        mode = self.mode()
        if mode == "inpaint" and not self.doc.has_mask():
            self._say("Paint a mask over the part to repaint first (the Mask brush).")
            return
        if mode == "outpaint" and not any(self.doc.ext):
            self._say("Extend the canvas first; outpaint fills the new border.")
            return
        units: tuple[ControlUnit, ...] = ()
        if self.doc.has_control():
            model = self.panel.controlnet()
            if not model:
                self._say(self._missing_controlnet())
                return
            drawing = self.doc.control_drawing(whole_canvas=mode == "outpaint")
            units = (
                ControlUnit(
                    model=model,
                    image=qimage_to_pil(drawing, "RGB"),
                    preprocessor=str(self.panel.preprocessor.currentData()),
                    weight=round(self.panel.control_weight.value(), 2),
                ),
            )
        self._say("")
        p = self.panel
        payload = {
            "mode": mode,
            "strength": p.strength(),
            "init_image": qimage_to_pil(self.doc.flattened(), "RGB"),
            "mask": qimage_to_pil(self.doc.mask_image(), "L") if mode == "inpaint" else None,
            "outpaint": self.doc.ext if mode == "outpaint" else (0, 0, 0, 0),
            "prompt": p.prompt_text(),
            "negative_prompt": p.negative_text(),
            "steps": p.steps.value(),
            "seed": p.seed.value(),
            "batch_size": p.images.value(),
            "controlnets": units,
        }
        self.generateRequested.emit(payload)

    def use_drawing_as_control(self) -> None:
        """Move the brush strokes onto the control layer, which a ControlNet then follows."""
        if self.doc.is_empty():
            self._say("Open a picture or make a New one, then draw the lines to follow.")
            return
        if not self.doc.use_drawing_as_control():
            self._say("Draw the lines to follow with the Brush first, then use them as control.")
            return
        self.panel.show_control.setChecked(True)
        self._say("" if self.panel.controlnet() else self._missing_controlnet())

    def clear_canvas(self) -> None:
        """Remove the picture, its layers and the copy kept for next time (undoable)."""
        self._wait_for_save()
        self.doc.clear()
        self.store.clear()
        self.view.clear_preview()

    def save_now(self) -> None:
        """Write the canvas work to the data folder now, and wait (closing, tests)."""
        self._autosave.stop()
        self._wait_for_save()
        try:
            self.store.save(*self._snapshot())
        except OSError as exc:
            self._save_failed(_save_message(exc))
            return
        self._save_error = ""

    def _save_in_background(self) -> None:
        """The autosave: PNG encoding of a large layer takes seconds, so it runs in a thread
        on copy-on-write copies of the layers; painting on meanwhile detaches from them."""
        if self._saving is not None and not self._saving.done():
            self._autosave.start()  # one save at a time; try again shortly
            return
        snapshot, store, failed = self._snapshot(), self.store, self._saveFailed

        def run() -> None:
            try:
                store.save(*snapshot)
            except OSError as exc:
                with contextlib.suppress(RuntimeError):  # the widget is gone
                    failed.emit(_save_message(exc))

        self._saving = self._saver.submit(run)

    def _wait_for_save(self) -> None:
        if self._saving is not None:
            with contextlib.suppress(Exception):
                self._saving.result()
            self._saving = None

    def _snapshot(self) -> tuple[dict[str, QImage], tuple[int, int, int, int], bool, dict]:
        d = self.doc
        # New QImage handles: they share the pixels until the canvas paints on (copy-on-write).
        layers = {
            "base": QImage(d.base),
            "paint": QImage(d.paint),
            "mask": QImage(d.mask),
            "control": QImage(d.control),
        }
        return layers, d.ext, d.blank, self.panel.fields()

    def _save_failed(self, message: str) -> None:
        if message != self._save_error:
            self._save_error = message
            self._say(message)

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
        self.colour_button.setIcon(swatch(colour))

    def set_brush_size(self, size: int) -> None:
        self.size_slider.setValue(size)

    def nudge_size(self, factor: float) -> None:
        value = self.size_slider.value()
        new = round(value * factor)
        self.size_slider.setValue(new if new != value else value + (1 if factor > 1 else -1))

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

    def _ask_scale_down(self, image: QImage) -> bool:
        answer = QMessageBox.question(
            self,
            "Large picture",
            f"This picture is {image.width()} × {image.height()} pixels; Stable Diffusion "
            f"works up to {MAX_SIZE}. Scale it down to fit {MAX_SIZE} pixels?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.Yes,
        )
        return answer == QMessageBox.StandardButton.Yes

    def _restore_saved(self) -> None:
        try:
            saved = self.store.load()
        except ValueError as exc:
            log.warning("the saved canvas could not be restored: %s", exc)
            self._say("The canvas kept from last time could not be read; it starts empty.")
            return
        if saved is None:
            return
        self.panel.set_fields(saved.fields)
        if not saved.base.isNull():
            self.doc.restore_saved(saved.base, saved.layers, saved.ext, saved.blank)
            self.view.fit()

    def _inferred_mode(self) -> str:
        d = self.doc
        return infer_mode(d.has_mask(), d.ext, drawing_on_blank=d.blank and d.has_control())

    def _missing_controlnet(self) -> str:
        return self._hint_text() or "Choose a ControlNet model for the drawing first."

    def _hint_text(self) -> str:
        _, hint = controlnet_choices(self._listing, str(self.panel.preprocessor.currentData()))
        return hint

    def _refresh_hint(self) -> None:
        models, hint = controlnet_choices(self._listing, str(self.panel.preprocessor.currentData()))
        self.panel.set_controlnets(models, hint)
        if models and self.panel.message.text().startswith("No ControlNet is installed"):
            self._say("")  # one has been installed since

    def _show_control(self, shown: bool) -> None:
        self.view.control_visible = shown
        self.view.update()

    def _document_changed(self, *_: object) -> None:
        inferred = self._inferred_mode()
        self.panel.mode_combo.setItemText(0, f"Auto ({inferred})")
        self.panel.set_control_present(self.doc.has_control())
        self._autosave.start()

    def _say(self, text: str) -> None:
        self.panel.say(text)

    def _size_changed(self, value: int) -> None:
        self.view.brush_size = float(value)
        self.size_label.setText(f"{value} px")
        self.view.update()

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
