"""The canvas view with scroll bars: they show where the view is on the canvas and move it.

The view keeps its own zoom and offset (zoom anchors at the cursor, panning is free); the bars
follow them. A bar's range lets the canvas scroll until its far edge reaches the middle of
the view, and grows to include wherever a pan has put it, so bars and pan never fight.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QGridLayout, QScrollBar, QWidget

from app.ui.canvas_view import CanvasView


class CanvasArea(QWidget):
    def __init__(self, view: CanvasView, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("canvasArea")
        self.view = view
        self.hbar = QScrollBar(Qt.Orientation.Horizontal)
        self.vbar = QScrollBar(Qt.Orientation.Vertical)
        for bar in (self.hbar, self.vbar):
            bar.setObjectName("canvasScrollBar")
            bar.valueChanged.connect(self._scrolled)
        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(view, 0, 0)
        layout.addWidget(self.vbar, 0, 1)
        layout.addWidget(self.hbar, 1, 0)
        self._syncing = False
        view.on_view_changed = self.sync

    def sync(self) -> None:
        """Put the bars where the view is (called on every zoom, pan and resize)."""
        view = self.view
        size = view.doc.size()
        self._syncing = True
        try:
            for bar, extent, span, offset in (
                (self.hbar, size.width(), view.width(), view.offset().x()),
                (self.vbar, size.height(), view.height(), view.offset().y()),
            ):
                content = extent * view.zoom()
                value = round(-offset)
                low, high = round(-span / 2), round(content - span / 2)
                bar.setEnabled(extent > 0)
                bar.setRange(min(low, value), max(high, value, low))
                bar.setPageStep(max(1, span))
                bar.setSingleStep(max(1, span // 20))
                bar.setValue(value)
        finally:
            self._syncing = False

    def _scrolled(self, _value: int) -> None:
        if self._syncing:
            return
        self.view.set_offset(QPointF(-self.hbar.value(), -self.vbar.value()))
