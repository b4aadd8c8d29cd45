"""The drawing surface: shows a CanvasDocument zoomed and panned, turns the mouse into strokes.

Mouse positions map to canvas pixels through one transform (offset + zoom); strokes are
lines with round caps between successive positions, so painting stays smooth however
fast the hand moves or however few move events arrive.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QPoint, QPointF, QRect, QRectF, QSize, QSizeF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QCursor,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QResizeEvent,
    QShowEvent,
    QTransform,
    QWheelEvent,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

from app.ui.canvas_state import CanvasDocument
from app.ui.canvas_tools import Tool
from app.ui.imageio import checkerboard_brush

MIN_ZOOM, MAX_ZOOM = 0.05, 32.0
ZOOM_STEP = 1.25
MASK_OPACITY = 0.5
CONTROL_OPACITY = 0.8
_BACKGROUND = QColor("#1b1b1f")


class CanvasView(QWidget):
    zoomChanged = Signal(float)

    def __init__(self, doc: CanvasDocument, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("canvasView")
        self.doc = doc
        self.tool = Tool.BRUSH
        self.brush_size = 24.0
        self.colour = QColor("#ffd24a")
        self.hint = ""
        self._zoom = 1.0
        self._offset = QPointF(0, 0)
        self._stroking = False
        self._pan_from: QPointF | None = None
        self._space = False
        self._mouse: QPointF | None = None
        self._checker = checkerboard_brush(8)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        # Called on every mouse move: a plain callback (see CanvasDocument's listeners).
        self.on_cursor: Callable[[QPoint | None], None] = lambda _point: None
        # Called whenever zoom or offset change (the scroll bars follow): a plain callback too.
        self.on_view_changed: Callable[[], None] = lambda: None
        self.control_visible = True
        self._preview = QImage()  # the running job's live preview, drawn over its area
        self._preview_rect = QRect()
        self._fit_pending = False
        doc.add_change_listener(self._doc_changed)
        self._update_cursor()

    # --- geometry --------------------------------------------------------------------

    def zoom(self) -> float:
        return self._zoom

    def transform(self) -> QTransform:
        return (
            QTransform().translate(self._offset.x(), self._offset.y()).scale(self._zoom, self._zoom)
        )

    def to_canvas(self, pos: QPointF) -> QPointF:
        return (pos - self._offset) / self._zoom

    def to_widget(self, pos: QPointF) -> QPointF:
        return pos * self._zoom + self._offset

    def set_zoom(self, zoom: float, anchor: QPointF | None = None) -> None:
        """Zoom keeping the canvas point under `anchor` (default: the centre) in place."""
        zoom = max(MIN_ZOOM, min(MAX_ZOOM, zoom))
        anchor = anchor if anchor is not None else QPointF(self.width() / 2, self.height() / 2)
        fixed = self.to_canvas(anchor)
        self._zoom = zoom
        self._offset = anchor - fixed * zoom
        self._view_changed()
        self.zoomChanged.emit(zoom)

    def zoom_in(self) -> None:
        self.set_zoom(self._zoom * ZOOM_STEP)

    def zoom_out(self) -> None:
        self.set_zoom(self._zoom / ZOOM_STEP)

    def fit(self) -> None:
        """The whole canvas in view, centred; small pictures are magnified at most 2x."""
        size = self.doc.size()
        if size.isEmpty():
            return
        if not self.isVisible() or self.width() < 10 or self.height() < 10:
            self._fit_pending = True  # e.g. sent from the gallery: fit once the tab shows
            return
        self._fit_pending = False
        margin = 24
        zoom = min(
            (self.width() - 2 * margin) / size.width(),
            (self.height() - 2 * margin) / size.height(),
            2.0,
        )
        self._zoom = max(MIN_ZOOM, zoom)
        self._offset = QPointF(
            (self.width() - size.width() * self._zoom) / 2,
            (self.height() - size.height() * self._zoom) / 2,
        )
        self._view_changed()
        self.zoomChanged.emit(self._zoom)

    def offset(self) -> QPointF:
        return QPointF(self._offset)

    def set_offset(self, offset: QPointF) -> None:
        """Where the canvas's top-left corner sits in the widget (the scroll bars move it)."""
        self._offset = QPointF(offset)
        self._view_changed()

    def _view_changed(self) -> None:
        self.update()
        self.on_view_changed()

    # --- live preview ------------------------------------------------------------------

    def set_preview(self, image: QImage, rect: QRect) -> None:
        """Show a job's step preview stretched over ``rect`` (canvas pixels) until cleared."""
        self._preview, self._preview_rect = QImage(image), QRect(rect)
        self.update()

    def clear_preview(self) -> None:
        if not self._preview.isNull():
            self._preview = QImage()
            self.update()

    def has_preview(self) -> bool:
        return not self._preview.isNull()

    def sizeHint(self) -> QSize:
        return QSize(800, 600)

    # --- painting --------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(event.rect(), _BACKGROUND)
        doc = self.doc
        if doc.is_empty():
            painter.setPen(QColor("#8a8a92"))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.hint)
            return
        canvas = QRectF(QPointF(0, 0), QSizeF(doc.size()))
        on_screen = self.transform().mapRect(canvas)
        # Drop shadow, then the checkerboard fixed to the screen (it shows transparency).
        painter.fillRect(on_screen.translated(3, 4), QColor(0, 0, 0, 90))
        painter.setBrushOrigin(on_screen.topLeft())
        painter.fillRect(on_screen, self._checker)
        painter.save()
        painter.setTransform(self.transform())
        smooth = self._zoom < 2.0  # magnified: show crisp pixels, as paint apps do
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, smooth)
        image_rect = doc.image_rect()
        painter.drawImage(image_rect.topLeft(), doc.base)
        previewing = not self._preview.isNull()
        if previewing:  # the picture forming replaces paint and mask (they are in the job)
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
            painter.drawImage(QRectF(self._preview_rect), self._preview)
        else:
            painter.drawImage(QPoint(0, 0), doc.paint)
        if self.control_visible and not doc.control.isNull():
            # Over the preview too: the lines the ControlNet follows, next to what it makes.
            painter.setOpacity(CONTROL_OPACITY if not previewing else CONTROL_OPACITY / 2)
            painter.drawImage(QPoint(0, 0), doc.control)
        if not previewing:
            painter.setOpacity(MASK_OPACITY)
            painter.drawImage(QPoint(0, 0), doc.mask)
        painter.restore()
        if any(doc.ext):
            pen = QPen(QColor("#7fb4ff"), 1.5, Qt.PenStyle.DashLine)
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(self.transform().mapRect(QRectF(image_rect)))
        painter.setPen(QPen(QColor(255, 255, 255, 40), 1))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(on_screen.adjusted(-0.5, -0.5, 0.5, 0.5))
        self._paint_brush_outline(painter)

    def _paint_brush_outline(self, painter: QPainter) -> None:
        if self._mouse is None or not self.tool.paints or self._panning():
            return
        radius = self.brush_size * self._zoom / 2
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        # Dark then light ring: visible on any picture.
        painter.setPen(QPen(QColor(0, 0, 0, 160), 3))
        painter.drawEllipse(self._mouse, radius, radius)
        painter.setPen(QPen(QColor(255, 255, 255, 220), 1.2))
        painter.drawEllipse(self._mouse, radius, radius)

    def _doc_changed(self, rect: QRect) -> None:
        if rect.isNull() or rect.isEmpty():
            self.update()
            return
        mapped = self.transform().mapRect(QRectF(rect)).toAlignedRect().adjusted(-2, -2, 2, 2)
        self.update(mapped)

    def _outline_rect(self, pos: QPointF) -> QRect:
        r = self.brush_size * self._zoom / 2 + 4
        return QRectF(pos.x() - r, pos.y() - r, 2 * r, 2 * r).toAlignedRect()

    # --- input -----------------------------------------------------------------------

    def _panning(self) -> bool:
        return self._pan_from is not None or self._space or self.tool is Tool.PAN

    def _update_cursor(self) -> None:
        if self._pan_from is not None:
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
        elif self._space or self.tool is Tool.PAN:
            self.setCursor(Qt.CursorShape.OpenHandCursor)
        else:
            self.setCursor(QCursor(Qt.CursorShape.CrossCursor))

    def mousePressEvent(self, event: QMouseEvent) -> None:
        pos = event.position()
        button = event.button()
        if button == Qt.MouseButton.MiddleButton or (
            button == Qt.MouseButton.LeftButton and (self._space or self.tool is Tool.PAN)
        ):
            self._pan_from = pos
            self._update_cursor()
            return
        if button == Qt.MouseButton.LeftButton and not self.doc.is_empty():
            self._stroking = True
            self.doc.begin_stroke(self.tool, self.to_canvas(pos), self.brush_size, self.colour)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pos = event.position()
        old = self._mouse
        self._mouse = pos
        if self._pan_from is not None:
            self._offset += pos - self._pan_from
            self._pan_from = pos
            self._view_changed()
        elif self._stroking:
            self.doc.stroke_to(self.to_canvas(pos))
        for p in (old, pos):
            if p is not None:
                self.update(self._outline_rect(p))
        self._emit_cursor(pos)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None and event.button() in (
            Qt.MouseButton.MiddleButton,
            Qt.MouseButton.LeftButton,
        ):
            self._pan_from = None
            self._update_cursor()
        elif self._stroking and event.button() == Qt.MouseButton.LeftButton:
            self._stroking = False
            self.doc.end_stroke()

    def leaveEvent(self, _event: object) -> None:
        if self._mouse is not None:
            self.update(self._outline_rect(self._mouse))
        self._mouse = None
        self.on_cursor(None)

    def wheelEvent(self, event: QWheelEvent) -> None:
        pixels = event.pixelDelta()
        ctrl = bool(event.modifiers() & Qt.KeyboardModifier.ControlModifier)
        if not ctrl and not pixels.isNull():
            # Two-finger scroll on a trackpad pans; pinch / Ctrl+scroll zooms.
            self._offset += QPointF(pixels)
            self._view_changed()
            return
        steps = event.angleDelta().y() / 120
        if steps:
            self.set_zoom(self._zoom * ZOOM_STEP**steps, event.position())
        event.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = True
            self._update_cursor()
            self.update()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = False
            self._update_cursor()
            self.update()
            return
        super().keyReleaseEvent(event)

    def resizeEvent(self, event: QResizeEvent) -> None:
        old = event.oldSize()
        if old.isValid():  # keep the picture centred as the window grows or shrinks
            self._offset += QPointF(
                (event.size().width() - old.width()) / 2, (event.size().height() - old.height()) / 2
            )
        super().resizeEvent(event)
        if self._fit_pending and self.isVisible():
            self.fit()
        else:
            self.on_view_changed()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._fit_pending:
            self.fit()

    def _emit_cursor(self, pos: QPointF) -> None:
        point = self.to_canvas(pos)
        size = self.doc.size()
        if 0 <= point.x() < size.width() and 0 <= point.y() < size.height():
            self.on_cursor(QPoint(int(point.x()), int(point.y())))
        else:
            self.on_cursor(None)

    def set_tool(self, tool: Tool) -> None:
        self.tool = tool
        self._update_cursor()
        self.update()
