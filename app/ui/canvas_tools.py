"""Canvas tools: what each one is, the mode a canvas implies, and the tool bar's icons.

The icons are drawn here with QPainter (a few strokes each) so they are crisp at any
scale, follow the palette, and need no image files in the installer.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPainterPath, QPen, QPixmap

MODES = ("txt2img", "img2img", "inpaint", "outpaint")


class Tool(enum.Enum):
    BRUSH = "brush"
    ERASER = "eraser"
    MASK = "mask"
    MASK_ERASER = "mask_eraser"
    PAN = "pan"

    @property
    def paints(self) -> bool:
        return self is not Tool.PAN


def infer_mode(
    has_mask: bool, extension: tuple[int, int, int, int], drawing_on_blank: bool = False
) -> str:
    """Extended canvas -> outpaint; a painted mask -> inpaint; a control drawing on a blank
    picture -> txt2img (the drawing alone shapes a new picture); otherwise img2img."""
    if any(extension):
        return "outpaint"
    if has_mask:
        return "inpaint"
    if drawing_on_blank:
        return "txt2img"
    return "img2img"


# --- icons ---------------------------------------------------------------------------

_Draw = Callable[[QPainter], None]
_INK = QColor("#d8d8de")
_ACCENT = QColor("#ff5a5a")


def _pen(colour: QColor = _INK, width: float = 1.8) -> QPen:
    pen = QPen(colour, width, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    return pen


def _brush(p: QPainter) -> None:
    p.setPen(_pen(width=2.2))
    p.drawLine(QPointF(19, 5), QPointF(10, 14))
    path = QPainterPath(QPointF(10, 13))
    path.cubicTo(QPointF(5, 13), QPointF(6, 18), QPointF(4, 20))
    path.cubicTo(QPointF(9, 20), QPointF(12, 18), QPointF(11, 14))
    p.setBrush(_INK)
    p.drawPath(path)


def _eraser(p: QPainter) -> None:
    p.setPen(_pen())
    p.save()
    p.translate(12, 12)
    p.rotate(-40)
    p.drawRoundedRect(QRectF(-8, -4.5, 16, 9), 2, 2)
    p.drawLine(QPointF(-2, -4.5), QPointF(-2, 4.5))
    p.restore()
    p.drawLine(QPointF(5, 20), QPointF(19, 20))


def _mask(p: QPainter) -> None:
    p.setPen(Qt.PenStyle.NoPen)
    fill = QColor(_ACCENT)
    fill.setAlpha(150)
    p.setBrush(fill)
    p.drawEllipse(QRectF(4, 6, 13, 13))
    p.setPen(_pen(width=2.2))
    p.drawLine(QPointF(20, 4), QPointF(13, 11))


def _mask_eraser(p: QPainter) -> None:
    _mask(p)
    p.setPen(_pen(QColor("#1e1e22"), 3))
    p.drawLine(QPointF(6, 17), QPointF(15, 8))


def _pan(p: QPainter) -> None:
    p.setPen(_pen())
    for dx, dy in ((0, -1), (0, 1), (-1, 0), (1, 0)):
        tip = QPointF(12 + 8 * dx, 12 + 8 * dy)
        p.drawLine(QPointF(12, 12), tip)
        side = QPointF(3 * dy, 3 * dx)
        back = QPointF(tip.x() - 3 * dx, tip.y() - 3 * dy)
        p.drawLine(tip, back + side)
        p.drawLine(tip, back - side)


def _open(p: QPainter) -> None:
    p.setPen(_pen())
    path = QPainterPath(QPointF(3, 18))
    for x, y in ((3, 6), (9, 6), (11, 8), (19, 8), (19, 11)):
        path.lineTo(QPointF(x, y))
    path.moveTo(QPointF(3, 18))
    for x, y in ((7, 11), (22, 11), (18, 18), (3, 18)):
        path.lineTo(QPointF(x, y))
    p.drawPath(path)


def _new(p: QPainter) -> None:
    p.setPen(_pen())
    p.drawRoundedRect(QRectF(5, 3, 14, 18), 1.5, 1.5)
    p.drawLine(QPointF(12, 8), QPointF(12, 16))
    p.drawLine(QPointF(8, 12), QPointF(16, 12))


def _paste(p: QPainter) -> None:
    p.setPen(_pen())
    p.drawRoundedRect(QRectF(5, 5, 14, 16), 1.5, 1.5)
    p.drawRect(QRectF(9, 3, 6, 4))
    p.drawLine(QPointF(9, 12), QPointF(15, 12))
    p.drawLine(QPointF(9, 16), QPointF(15, 16))


def _arrow(p: QPainter, flip: bool) -> None:
    p.setPen(_pen(width=2))
    p.save()
    if flip:
        p.translate(24, 0)
        p.scale(-1, 1)
    path = QPainterPath(QPointF(19, 18))
    path.cubicTo(QPointF(19, 9), QPointF(12, 8), QPointF(5, 9))
    p.drawPath(path)
    p.drawLine(QPointF(5, 9), QPointF(9, 5))
    p.drawLine(QPointF(5, 9), QPointF(9, 13))
    p.restore()


def _zoom(p: QPainter, plus: bool) -> None:
    p.setPen(_pen())
    p.drawEllipse(QRectF(4, 4, 12, 12))
    p.drawLine(QPointF(14.5, 14.5), QPointF(20, 20))
    p.drawLine(QPointF(7, 10), QPointF(13, 10))
    if plus:
        p.drawLine(QPointF(10, 7), QPointF(10, 13))


def _fit(p: QPainter) -> None:
    p.setPen(_pen())
    for x, y, dx, dy in ((4, 4, 1, 1), (20, 4, -1, 1), (4, 20, 1, -1), (20, 20, -1, -1)):
        p.drawLine(QPointF(x, y), QPointF(x + 5 * dx, y))
        p.drawLine(QPointF(x, y), QPointF(x, y + 5 * dy))
    p.drawRect(QRectF(8, 8, 8, 8))


def _extend(p: QPainter) -> None:
    dashed = _pen(width=1.4)
    dashed.setStyle(Qt.PenStyle.DashLine)
    p.setPen(dashed)
    p.drawRect(QRectF(2.5, 5.5, 19, 13))
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(_INK)
    p.drawRect(QRectF(7, 9, 10, 6))


def _invert(p: QPainter) -> None:
    p.setPen(_pen())
    p.drawEllipse(QRectF(4, 4, 16, 16))
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(_ACCENT)
    path = QPainterPath()
    path.moveTo(12, 4)
    path.arcTo(QRectF(4, 4, 16, 16), 90, 180)
    path.closeSubpath()
    p.drawPath(path)


def _clear(p: QPainter) -> None:
    p.setPen(_pen(_ACCENT, 2))
    p.drawLine(QPointF(6, 6), QPointF(18, 18))
    p.drawLine(QPointF(18, 6), QPointF(6, 18))


def _trash(p: QPainter) -> None:
    p.setPen(_pen())
    p.drawLine(QPointF(5, 7), QPointF(19, 7))
    p.drawLine(QPointF(10, 7), QPointF(10.5, 4.5))
    p.drawLine(QPointF(10.5, 4.5), QPointF(13.5, 4.5))
    p.drawLine(QPointF(13.5, 4.5), QPointF(14, 7))
    path = QPainterPath(QPointF(7, 7))
    for x, y in ((8, 20), (16, 20), (17, 7)):
        path.lineTo(QPointF(x, y))
    p.drawPath(path)
    p.drawLine(QPointF(10.5, 10), QPointF(10.8, 17))
    p.drawLine(QPointF(13.5, 10), QPointF(13.2, 17))


def _control(p: QPainter) -> None:
    """A scribble becoming a frame: the drawing a ControlNet follows."""
    p.setPen(_pen(QColor("#7fb4ff"), 1.4))
    p.drawRoundedRect(QRectF(3, 3, 18, 18), 2, 2)
    p.setPen(_pen(width=2))
    path = QPainterPath(QPointF(6, 16))
    path.cubicTo(QPointF(8, 6), QPointF(12, 18), QPointF(14, 9))
    path.cubicTo(QPointF(15, 6), QPointF(18, 8), QPointF(18, 12))
    p.drawPath(path)


_ICONS: dict[str, _Draw] = {
    "brush": _brush,
    "eraser": _eraser,
    "mask": _mask,
    "mask_eraser": _mask_eraser,
    "pan": _pan,
    "open": _open,
    "new": _new,
    "paste": _paste,
    "undo": lambda p: _arrow(p, False),
    "redo": lambda p: _arrow(p, True),
    "zoom_in": lambda p: _zoom(p, True),
    "zoom_out": lambda p: _zoom(p, False),
    "fit": _fit,
    "extend": _extend,
    "invert": _invert,
    "clear": _clear,
    "trash": _trash,
    "control": _control,
}


def tool_icon(name: str) -> QIcon:
    """A 24-unit drawing at 1x and 2x, so it stays sharp on high-DPI screens."""
    icon = QIcon()
    for scale in (1, 2):
        pixmap = QPixmap(24 * scale, 24 * scale)
        pixmap.setDevicePixelRatio(scale)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        _ICONS[name](painter)
        painter.end()
        icon.addPixmap(pixmap)
    return icon
