"""The gallery's detail pane: the selected picture large, its prompts and every parameter."""

from __future__ import annotations

import datetime as _dt

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPaintEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.library.gallery import GalleryItem


class ImageView(QWidget):
    """Draws one image scaled to fit, centred, with smooth filtering; a hint when empty."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._image = QImage()
        self._hint = ""
        self.setMinimumSize(160, 160)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_image(self, image: QImage) -> None:
        self._image = image
        self.update()

    def image(self) -> QImage:
        return self._image

    def set_hint(self, text: str) -> None:
        self._hint = text
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(420, 420)

    def paintEvent(self, _event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        if self._image.isNull():
            painter.setPen(QColor("#7a7a82"))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self._hint)
            return
        size = self._image.size().scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
        if size.width() > self._image.width() * 2:  # tiny pictures: no more than 2x
            size = self._image.size() * 2
        x = (self.width() - size.width()) / 2
        y = (self.height() - size.height()) / 2
        painter.drawImage(QRectF(x, y, size.width(), size.height()), self._image)


def _section(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("sectionLabel")  # styled by the theme; bold without one
    font = label.font()
    font.setBold(True)
    label.setFont(font)
    return label


def _text_box(max_lines: int) -> QPlainTextEdit:
    box = QPlainTextEdit()
    box.setReadOnly(True)
    box.setFrameShape(QFrame.Shape.NoFrame)
    box.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
    line = box.fontMetrics().lineSpacing()
    box.setMaximumHeight(line * max_lines + 12)
    box.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Maximum)
    return box


class GalleryDetailPane(QWidget):
    """Shows one GalleryItem; the buttons are added by the gallery widget (`actions_row` for
    the picture, `bulk_row` for what acts on every selected picture)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("galleryDetail")
        self.image_view = ImageView()
        self.image_view.set_hint("Select a picture to see its settings")
        self.title = QLabel()
        self.title.setObjectName("detailTitle")
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.actions_row = QHBoxLayout()
        self.actions_row.setSpacing(6)
        self.bulk_row = QHBoxLayout()
        self.bulk_row.setSpacing(6)
        self.prompt = _text_box(5)
        self.negative = _text_box(3)
        self.params = QTableWidget(0, 2)
        self.params.setHorizontalHeaderLabels(["Parameter", "Value"])
        self.params.verticalHeader().setVisible(False)
        self.params.horizontalHeader().setSectionResizeMode(
            0, QHeaderView.ResizeMode.ResizeToContents
        )
        self.params.horizontalHeader().setStretchLastSection(True)
        self.params.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.params.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.params.setAlternatingRowColors(True)
        self.params.setShowGrid(False)
        self.params.setWordWrap(False)
        self.params.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.path = QLabel()
        self.path.setObjectName("dimLabel")
        self.path.setWordWrap(True)
        self.path.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        info = QVBoxLayout()
        info.setSpacing(4)
        info.addWidget(self.title)
        info.addLayout(self.actions_row)
        info.addLayout(self.bulk_row)
        info.addWidget(_section("Prompt"))
        info.addWidget(self.prompt)
        self._negative_label = _section("Negative prompt")
        info.addWidget(self._negative_label)
        info.addWidget(self.negative)
        info.addWidget(_section("Parameters"))
        info.addWidget(self.params, 1)
        info.addWidget(self.path)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addWidget(self.image_view, 3)
        layout.addLayout(info, 2)
        self.show_item(None)

    def show_item(self, item: GalleryItem | None) -> None:
        self.image_view.set_image(QImage())
        if item is None:
            self.title.setText("No picture selected")
            self.prompt.setPlainText("")
            self.negative.setPlainText("")
            self.params.setRowCount(0)
            self.path.setText("")
            return
        created = _dt.datetime.fromtimestamp(item.created).strftime("%Y-%m-%d %H:%M")
        self.title.setText(f"{item.width} × {item.height}  ·  {created}")
        self.prompt.setPlainText(item.prompt or "(no prompt)")
        self.negative.setPlainText(item.negative_prompt)
        self._negative_label.setVisible(bool(item.negative_prompt))
        self.negative.setVisible(bool(item.negative_prompt))
        # Every key the file carries, unknown ones included, in file order.
        self.params.setRowCount(len(item.params))
        for row, (key, value) in enumerate(item.params.items()):
            key_cell = QTableWidgetItem(key)
            value_cell = QTableWidgetItem(value)
            value_cell.setToolTip(value)
            self.params.setItem(row, 0, key_cell)
            self.params.setItem(row, 1, value_cell)
        self.path.setText(str(item.path))
        self.path.setToolTip(str(item.path))

    def parameter_rows(self) -> list[tuple[str, str]]:
        rows = []
        for row in range(self.params.rowCount()):
            key, value = self.params.item(row, 0), self.params.item(row, 1)
            rows.append((key.text() if key else "", value.text() if value else ""))
        return rows
