"""The canvas document: the picture, a paint layer, a mask layer and the outpaint border.

Plain state with an undo stack and no widgets, so it is tested without a mouse. Coordinates
are canvas pixels: the picture sits at (left, top) inside the extended canvas; the layers
cover the whole canvas but strokes are clipped to the picture (the border is what outpaint
fills, so there is nothing there to paint over yet).

Undo keeps only the rectangle a stroke touched (before and after), so a long session of
small strokes on a large picture costs little memory; whole-document changes (load,
extend, clear or invert the mask) keep full copies, and the stack is capped.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QObject, QPoint, QPointF, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QUndoCommand, QUndoStack

from app.ui.canvas_tools import Tool

UNDO_LIMIT = 60
MASK_COLOUR = QColor(255, 48, 48)
_ARGB = QImage.Format.Format_ARGB32_Premultiplied
Extension = tuple[int, int, int, int]


def _blank(size: QSize) -> QImage:
    image = QImage(size, _ARGB)
    image.fill(Qt.GlobalColor.transparent)
    return image


def _mask_from_alpha(alpha: np.ndarray) -> QImage:
    """A mask layer (premultiplied ARGB, B,G,R,A in memory) of MASK_COLOUR with this alpha."""
    h, w = alpha.shape
    a = alpha.astype(np.uint16)
    arr = np.empty((h, w, 4), dtype=np.uint8)
    for channel, value in enumerate((MASK_COLOUR.blue(), MASK_COLOUR.green(), MASK_COLOUR.red())):
        arr[..., channel] = (a * value // 255).astype(np.uint8)
    arr[..., 3] = alpha
    return QImage(arr.tobytes(), w, h, 4 * w, _ARGB).copy()


class _State:
    """A full copy of the document, for whole-document undo steps."""

    def __init__(self, doc: CanvasDocument) -> None:
        # New QImage handles share the pixels until either side paints (copy-on-write);
        # holding the same Python objects would let later strokes change the snapshot.
        self.base, self.paint, self.mask = QImage(doc.base), QImage(doc.paint), QImage(doc.mask)
        self.control = QImage(doc.control)
        self.ext = doc.ext
        self.blank = doc.blank


class _DocumentCommand(QUndoCommand):
    def __init__(self, doc: CanvasDocument, text: str, before: _State, after: _State) -> None:
        super().__init__(text)
        self._doc, self._before, self._after = doc, before, after
        self._first = True

    def redo(self) -> None:
        if self._first:  # already applied when pushed
            self._first = False
            return
        self._doc._restore(self._after)

    def undo(self) -> None:
        self._doc._restore(self._before)


class _StrokeCommand(QUndoCommand):
    def __init__(self, doc: CanvasDocument, layer: str, rect: QRect, before: QImage) -> None:
        super().__init__("Mask stroke" if layer == "mask" else "Stroke")
        self._doc, self._layer, self._rect = doc, layer, rect
        self._before = before
        self._after = getattr(doc, layer).copy(rect)
        self._first = True

    def _put(self, patch: QImage) -> None:
        layer: QImage = getattr(self._doc, self._layer)
        painter = QPainter(layer)
        painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Source)
        painter.drawImage(self._rect.topLeft(), patch)
        painter.end()
        self._doc._changed(QRect(self._rect))

    def redo(self) -> None:
        if self._first:
            self._first = False
            return
        self._put(self._after)

    def undo(self) -> None:
        self._put(self._before)


class CanvasDocument(QObject):
    reshaped = Signal()  # size or extension changed (or a new picture): rare

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.base = QImage()  # the picture, RGB(A); never painted on
        self.paint = QImage()
        self.mask = QImage()
        # The drawing a ControlNet follows ("Use my drawing as the control image"): strokes
        # moved off the paint layer; only their alpha counts, so any brush colour works.
        self.control = QImage()
        self.ext: Extension = (0, 0, 0, 0)
        self.blank = False  # the picture is a New blank one: with a control, Auto is txt2img
        self.undo_stack = QUndoStack(self)
        self.undo_stack.setUndoLimit(UNDO_LIMIT)
        self._stroke_layer = ""
        self._stroke_before = QImage()
        self._stroke_rect = QRect()
        self._last = QPointF()
        self._pen = QPen()
        self._erase = False
        # Per-dab repaint notices go to plain callbacks, not a signal: they fire on every
        # mouse move, and PySide6 6.12.0 leaks a reference to True on each Python emit.
        self._change_listeners: list[Callable[[QRect], None]] = []
        self._flags: dict[str, tuple[tuple[int, int], bool]] = {}

    def add_change_listener(self, listener: Callable[[QRect], None]) -> None:
        """`listener(rect)`: canvas rectangle to repaint; an empty rect means everything."""
        self._change_listeners.append(listener)

    def _changed(self, rect: QRect) -> None:
        for listener in self._change_listeners:
            listener(rect)

    # --- geometry --------------------------------------------------------------------

    def is_empty(self) -> bool:
        return self.base.isNull()

    def size(self) -> QSize:
        """The whole canvas, extension included."""
        if self.base.isNull():
            return QSize(0, 0)
        left, top, right, bottom = self.ext
        return QSize(self.base.width() + left + right, self.base.height() + top + bottom)

    def image_rect(self) -> QRect:
        """Where the picture sits on the canvas."""
        return QRect(QPoint(self.ext[0], self.ext[1]), self.base.size())

    # --- whole-document changes (undoable) ---------------------------------------------

    def load(
        self,
        image: QImage,
        text: str = "Open picture",
        keep_control: bool = False,
        blank: bool = False,
    ) -> None:
        """A new picture; ``keep_control`` keeps the control drawing when the size allows
        (a result coming back from a ControlNet job)."""
        before = _State(self)
        fmt = _ARGB if image.hasAlphaChannel() else QImage.Format.Format_RGB32
        control = self.control if keep_control and self.ext == (0, 0, 0, 0) else QImage()
        self.base = image.convertToFormat(fmt)
        self.paint = _blank(image.size())
        self.mask = _blank(image.size())
        self.control = control if control.size() == image.size() else _blank(image.size())
        self.ext = (0, 0, 0, 0)
        self.blank = blank
        self._push(text, before)

    def new_blank(self, width: int, height: int, colour: QColor | None = None) -> None:
        image = QImage(width, height, QImage.Format.Format_RGB32)
        image.fill(colour or QColor("white"))
        self.load(image, "New picture", blank=True)

    def clear(self) -> None:
        """Remove the picture and every layer (undoable)."""
        if self.is_empty():
            return
        before = _State(self)
        self.base, self.paint, self.mask, self.control = QImage(), QImage(), QImage(), QImage()
        self.ext, self.blank = (0, 0, 0, 0), False
        self._push("Clear canvas", before)

    def use_drawing_as_control(self) -> bool:
        """Move the paint layer's strokes onto the control layer; False when nothing is drawn."""
        if self.is_empty() or not self.has_drawing():
            return False
        before = _State(self)
        control = QImage(self.control) if not self.control.isNull() else _blank(self.size())
        painter = QPainter(control)
        painter.drawImage(QPoint(0, 0), self.paint)
        painter.end()
        self.control = control
        self.paint = _blank(self.size())
        self._push("Use drawing as control", before)
        return True

    def remove_control(self) -> None:
        if self.is_empty() or not self.has_control():
            return
        before = _State(self)
        self.control = _blank(self.size())
        self._push("Remove control", before)

    def restore_saved(
        self,
        base: QImage,
        layers: dict[str, QImage],
        ext: Extension,
        blank: bool = False,
    ) -> None:
        """Put back a document saved by the canvas store: not an undo step, a fresh start."""
        self.undo_stack.clear()
        fmt = _ARGB if base.hasAlphaChannel() else QImage.Format.Format_RGB32
        self.base, self.ext, self.blank = base.convertToFormat(fmt), ext, blank
        for name in ("paint", "mask", "control"):
            layer = layers.get(name, QImage())
            ok = not layer.isNull() and layer.size() == self.size()
            setattr(self, name, layer.convertToFormat(_ARGB) if ok else _blank(self.size()))
        self.reshaped.emit()
        self._changed(QRect())

    def extend(self, left: int, top: int, right: int, bottom: int) -> None:
        """Grow the canvas; the new border is what outpaint fills. Negative values shrink."""
        if self.is_empty():
            return
        new_ext = (
            max(0, self.ext[0] + left),
            max(0, self.ext[1] + top),
            max(0, self.ext[2] + right),
            max(0, self.ext[3] + bottom),
        )
        if new_ext == self.ext:
            return
        before = _State(self)
        shift = QPoint(new_ext[0] - self.ext[0], new_ext[1] - self.ext[1])
        self.ext = new_ext
        self.paint = self._moved(self.paint, shift)
        self.mask = self._moved(self.mask, shift)
        self.control = self._moved(self.control, shift)
        self._push("Extend canvas", before)

    def reset_extension(self) -> None:
        left, top, right, bottom = self.ext
        self.extend(-left, -top, -right, -bottom)

    def clear_mask(self) -> None:
        if self.is_empty() or not self.has_mask():
            return
        before = _State(self)
        self.mask = _blank(self.mask.size())
        self._push("Clear mask", before)

    def invert_mask(self) -> None:
        if self.is_empty():
            return
        before = _State(self)
        rect = self.image_rect()
        alpha = 255 - self._alpha(self.mask)
        inside = np.zeros(alpha.shape, dtype=bool)
        inside[rect.top() : rect.bottom() + 1, rect.left() : rect.right() + 1] = True
        alpha[~inside] = 0
        self.mask = _mask_from_alpha(alpha)
        self._push("Invert mask", before)

    # --- strokes ---------------------------------------------------------------------

    def begin_stroke(self, tool: Tool, pos: QPointF, size: float, colour: QColor) -> None:
        if self.is_empty() or tool not in (Tool.BRUSH, Tool.ERASER, Tool.MASK, Tool.MASK_ERASER):
            return
        self._stroke_layer = "mask" if tool in (Tool.MASK, Tool.MASK_ERASER) else "paint"
        self._erase = tool in (Tool.ERASER, Tool.MASK_ERASER)
        layer: QImage = getattr(self, self._stroke_layer)
        # QImage is copy-on-write: this keeps the old pixels alive only until the first dab.
        self._stroke_before = QImage(layer)
        self._stroke_rect = QRect()
        ink = MASK_COLOUR if self._stroke_layer == "mask" else colour
        self._pen = QPen(ink, max(1.0, size), Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap)
        self._pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
        self._last = QPointF(pos)
        self._dab(pos, pos)

    def stroke_to(self, pos: QPointF) -> None:
        if not self._stroke_layer:
            return
        self._dab(self._last, pos)
        self._last = QPointF(pos)

    def end_stroke(self) -> None:
        if not self._stroke_layer:
            return
        layer, rect = self._stroke_layer, self._stroke_rect
        self._stroke_layer = ""
        if rect.isEmpty():
            return
        before = self._stroke_before.copy(rect)
        self._stroke_before = QImage()
        self.undo_stack.push(_StrokeCommand(self, layer, rect, before))

    def stroke(self, tool: Tool, points: list[QPointF], size: float, colour: QColor) -> None:
        """A whole stroke at once (scripts and tests)."""
        if not points:
            return
        self.begin_stroke(tool, points[0], size, colour)
        for point in points[1:]:
            self.stroke_to(point)
        self.end_stroke()

    def _dab(self, start: QPointF, end: QPointF) -> None:
        layer: QImage = getattr(self, self._stroke_layer)
        painter = QPainter(layer)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setClipRect(self.image_rect())
        if self._erase:
            painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Clear)
        painter.setPen(self._pen)
        # A line with round caps between two mouse positions: smooth however fast the hand.
        if start == end:
            painter.drawPoint(start)
        else:
            painter.drawLine(start, end)
        painter.end()
        pad = self._pen.widthF() / 2 + 2
        dirty = QRectF(start, end).normalized().adjusted(-pad, -pad, pad, pad).toAlignedRect()
        dirty &= layer.rect()
        self._stroke_rect |= dirty
        self._changed(dirty)

    # --- reading out -----------------------------------------------------------------

    def flattened(self) -> QImage:
        """The picture with the paint on it, at the picture's own size (no extension)."""
        if self.is_empty():
            return QImage()
        out = self.base.convertToFormat(_ARGB)
        painter = QPainter(out)
        painter.drawImage(QPoint(0, 0), self.paint, self.image_rect())
        painter.end()
        return out

    def mask_image(self) -> QImage:
        """Grayscale mask at the picture's size: white where painted (repaint), black elsewhere."""
        if self.is_empty():
            return QImage()
        r = self.image_rect()
        alpha = self._alpha(self.mask)[r.top() : r.bottom() + 1, r.left() : r.right() + 1]
        binary = np.where(alpha >= 128, 255, 0).astype(np.uint8)
        h, w = binary.shape
        return QImage(binary.tobytes(), w, h, w, QImage.Format.Format_Grayscale8).copy()

    def has_mask(self) -> bool:
        return not self.is_empty() and self._any_alpha("mask", 128)

    def has_drawing(self) -> bool:
        return not self.is_empty() and self._any_alpha("paint", 1)

    def has_control(self) -> bool:
        return not (self.is_empty() or self.control.isNull()) and self._any_alpha("control", 1)

    def _any_alpha(self, layer: str, threshold: int) -> bool:
        """Whether any pixel of a layer reaches ``threshold`` alpha; remembered per version of
        the layer's pixels (QImage's cache key changes with every paint), because the window
        asks after every stroke and a 4096 px layer takes tens of milliseconds to scan."""
        image: QImage = getattr(self, layer)
        key = (image.cacheKey(), threshold)
        cached = self._flags.get(layer)
        if cached is not None and cached[0] == key:
            return cached[1]
        value = bool((self._alpha(image) >= threshold).any())
        self._flags[layer] = (key, value)
        return value

    def control_drawing(self, whole_canvas: bool = False) -> QImage:
        """The control drawing as dark lines on white paper (what the scribble and lineart
        preprocessors read), at the picture's size or the whole canvas (outpaint)."""
        if self.is_empty():
            return QImage()
        alpha = self._alpha(self.control) if not self.control.isNull() else None
        r = QRect(QPoint(0, 0), self.size()) if whole_canvas else self.image_rect()
        h, w = r.height(), r.width()
        if alpha is None:
            gray = np.full((h, w), 255, dtype=np.uint8)
        else:
            gray = 255 - alpha[r.top() : r.bottom() + 1, r.left() : r.right() + 1]
        gray = np.ascontiguousarray(gray)
        return QImage(gray.tobytes(), w, h, w, QImage.Format.Format_Grayscale8).copy()

    # --- internals -------------------------------------------------------------------

    def _push(self, text: str, before: _State) -> None:
        self.undo_stack.push(_DocumentCommand(self, text, before, _State(self)))
        self.reshaped.emit()
        self._changed(QRect())

    def _restore(self, state: _State) -> None:
        self.base, self.paint = QImage(state.base), QImage(state.paint)
        self.mask, self.ext = QImage(state.mask), state.ext
        self.control, self.blank = QImage(state.control), state.blank
        self.reshaped.emit()
        self._changed(QRect())

    def _moved(self, layer: QImage, shift: QPoint) -> QImage:
        moved = _blank(self.size())
        if layer.isNull():
            return moved
        painter = QPainter(moved)
        painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Source)
        painter.drawImage(shift, layer)
        painter.end()
        return moved

    @classmethod
    def _alpha(cls, image: QImage) -> np.ndarray:
        alpha = image.convertToFormat(QImage.Format.Format_Alpha8)
        arr = np.frombuffer(alpha.constBits(), dtype=np.uint8).reshape(
            alpha.height(), alpha.bytesPerLine()
        )
        return arr[:, : alpha.width()].copy()
