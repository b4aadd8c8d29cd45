"""The full-size viewer: one picture at a time over the window, arrows to move through
the grid's rows, Esc to close, fit-to-window or 100% (scrolling when larger)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage, QImageReader, QKeyEvent, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.library.gallery import GalleryItem
from app.ui.gallery_detail import ImageView
from app.ui.gallery_model import GalleryModel


def load_full_image(item: GalleryItem) -> QImage:
    reader = QImageReader(str(item.path))
    reader.setAutoTransform(True)
    return reader.read()


class ImageViewer(QDialog):
    """Shows `model`'s row `row` full size; `favouriteRequested(id)` asks for a star toggle."""

    favouriteRequested = Signal(int)
    rowChanged = Signal(int)

    def __init__(self, model: GalleryModel, row: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("imageViewer")
        self.setWindowTitle("Picture")
        self._model = model
        self.row = -1
        self._image = QImage()

        self.title = QLabel()
        self.title.setObjectName("viewerTitle")
        self.position = QLabel()
        self.position.setObjectName("dimLabel")
        self.prev_button = self._button("◀", "Previous picture (Left arrow)", self.previous)
        self.next_button = self._button("▶", "Next picture (Right arrow)", self.next)
        self.fit_button = self._button("Fit", "Fit to the window (F)", lambda: self.set_fit(True))
        self.actual_button = self._button(
            "100%", "Actual size, one image pixel per screen pixel (1)", lambda: self.set_fit(False)
        )
        self.star_button = self._button("☆", "Favourite (Ctrl+D)", self._star)
        self.close_button = self._button("Close", "Close the viewer (Esc)", self.reject)
        for button in (self.fit_button, self.actual_button, self.star_button):
            button.setCheckable(True)

        self.fit_view = ImageView()
        self.actual_label = QLabel()
        self.actual_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.scroll_area = QScrollArea()
        self.scroll_area.setObjectName("viewerScroll")
        self.scroll_area.setWidget(self.actual_label)
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.fit_view)
        self.stack.addWidget(self.scroll_area)

        bar = QHBoxLayout()
        bar.setSpacing(6)
        bar.addWidget(self.prev_button)
        bar.addWidget(self.next_button)
        bar.addSpacing(8)
        bar.addWidget(self.title, 1)
        bar.addWidget(self.position)
        bar.addSpacing(8)
        for button in (self.fit_button, self.actual_button, self.star_button, self.close_button):
            bar.addWidget(button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 10)
        layout.addLayout(bar)
        layout.addWidget(self.stack, 1)

        # Keys go to the dialog itself: nothing inside takes focus (the scroll area would
        # eat the arrows), and no shortcut depends on the window being the active one.
        for child in (self.scroll_area, self.fit_view, self.actual_label, self.stack):
            child.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._keys = {
            (Qt.Key.Key_Left, False): self.previous,
            (Qt.Key.Key_Right, False): self.next,
            (Qt.Key.Key_F, False): lambda: self.set_fit(True),
            (Qt.Key.Key_1, False): lambda: self.set_fit(False),
            (Qt.Key.Key_D, True): self._star,
        }
        self._model.dataChanged.connect(self._data_changed)
        self.set_fit(True)
        self.show_row(row)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        ctrl = bool(event.modifiers() & Qt.KeyboardModifier.ControlModifier)
        action = self._keys.get((Qt.Key(event.key()), ctrl))
        if action is None:
            super().keyPressEvent(event)  # Esc closes (QDialog)
            return
        action()
        event.accept()

    def _button(self, text: str, tip: str, slot: object) -> QPushButton:
        button = QPushButton(text)
        button.setToolTip(tip)
        button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # arrows move pictures, not focus
        button.clicked.connect(slot)
        return button

    # --- what the viewer shows ---------------------------------------------------------

    def item(self) -> GalleryItem | None:
        return self._model.item(self.row)

    def is_fit(self) -> bool:
        return self.stack.currentWidget() is self.fit_view

    def show_row(self, row: int) -> None:
        if row >= self._model.rowCount() and self._model.canFetchMore():
            self._model.fetchMore()
        item = self._model.item(row)
        if item is None:
            return
        self.row = row
        self._image = load_full_image(item)
        if self._image.isNull():
            self.fit_view.set_image(QImage())
            self.fit_view.set_hint(f"{item.path.name} could not be read; it may have been moved.")
            self.actual_label.setText(self.fit_view._hint)
        else:
            self.fit_view.set_image(self._image)
            self.actual_label.setPixmap(QPixmap.fromImage(self._image))
        self.title.setText(f"{item.path.name}  ·  {item.width} × {item.height}")
        total = max(self._model.total, self._model.rowCount())
        self.position.setText(f"{row + 1} of {total}")
        self.setWindowTitle(item.path.name)
        self.prev_button.setEnabled(row > 0)
        self.next_button.setEnabled(row + 1 < total)
        self._show_star(item)
        self.rowChanged.emit(row)

    def set_fit(self, fit: bool) -> None:
        self.stack.setCurrentWidget(self.fit_view if fit else self.scroll_area)
        self.fit_button.setChecked(fit)
        self.actual_button.setChecked(not fit)

    def next(self) -> None:
        self.show_row(self.row + 1)

    def previous(self) -> None:
        if self.row > 0:
            self.show_row(self.row - 1)

    # --- internals ---------------------------------------------------------------------

    def _star(self) -> None:
        item = self.item()
        if item is not None:
            self.favouriteRequested.emit(item.id)

    def _show_star(self, item: GalleryItem) -> None:
        self.star_button.setChecked(item.favourite)
        self.star_button.setText("★" if item.favourite else "☆")

    def _data_changed(self, *_: object) -> None:
        item = self.item()
        if item is not None:
            self._show_star(item)
