"""The picture area: live preview / chosen image, progress line, strip of finished thumbnails."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QPainter, QPainterPath, QPaintEvent, QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from app.ui.queue_panel import HintListWidget

THUMB_SIZE = 88
PATH_ROLE = Qt.ItemDataRole.UserRole


class PreviewWidget(QWidget):
    """Paints one image scaled to fit (smoothly, keeping its aspect), or a hint when empty."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("previewArea")
        self._image = QImage()
        self._scaled = QImage()  # the image at its on-screen size, made once per size
        self._hint = "Your picture appears here, step by step."
        self._caption = ""
        self.setMinimumSize(240, 240)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def image(self) -> QImage:
        return self._image

    def set_image(self, image: QImage, caption: str = "") -> None:
        self._image = image
        self._scaled = QImage()
        self._caption = caption
        self.update()

    def set_hint(self, hint: str) -> None:
        self._hint = hint
        self.update()

    def clear(self) -> None:
        self._image = QImage()
        self._scaled = QImage()
        self._caption = ""
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt's name
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        area = QRectF(self.rect()).adjusted(1, 1, -1, -1)
        frame = QPainterPath()
        frame.addRoundedRect(area, 12, 12)
        painter.fillPath(frame, QColor("#17181c"))
        if self._image.isNull():
            painter.setPen(QColor("#6f7482"))
            painter.drawText(area, Qt.AlignmentFlag.AlignCenter, self._hint)
            return
        pad = 16
        room = area.adjusted(pad, pad, -pad, -pad)
        w, h = self._image.width(), self._image.height()
        scale = min(room.width() / w, room.height() / h)
        target = QRectF(0, 0, w * scale, h * scale)
        target.moveCenter(room.center())
        size = target.size().toSize()
        if self._scaled.size() != size:
            # Previews are latent-sized (1/8 of the picture): scale smoothly, not big pixels
            # (a scaled drawImage under a clip path ignores the smooth-transform hint).
            self._scaled = self._image.scaled(
                size,
                Qt.AspectRatioMode.IgnoreAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
        clip = QPainterPath()
        clip.addRoundedRect(target, 6, 6)
        painter.setClipPath(clip)
        painter.drawImage(target.topLeft(), self._scaled)
        painter.setClipping(False)
        if self._caption:
            painter.setPen(QColor("#9da2ae"))
            painter.drawText(
                area.adjusted(12, 0, -12, -4),
                Qt.AlignmentFlag.AlignBottom | Qt.AlignmentFlag.AlignRight,
                self._caption,
            )


class ThumbnailStrip(HintListWidget):
    """Finished images, newest first; clicking one shows it large."""

    imageChosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Finished pictures of this session line up here.", parent)
        self.setObjectName("thumbStrip")
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(False)
        self.setMovement(QListView.Movement.Static)
        self.setIconSize(QSize(THUMB_SIZE, THUMB_SIZE))
        self.setSpacing(4)
        self.setHorizontalScrollMode(QListView.ScrollMode.ScrollPerPixel)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFixedHeight(THUMB_SIZE + 26)
        self.itemClicked.connect(lambda item: self.imageChosen.emit(item.data(PATH_ROLE)))
        self.currentItemChanged.connect(
            lambda item, _old: item is not None and self.imageChosen.emit(item.data(PATH_ROLE))
        )

    def add_image(self, path: str, image: QImage | None = None) -> QListWidgetItem:
        image = image if image is not None else QImage(path)
        thumb = image.scaled(
            THUMB_SIZE,
            THUMB_SIZE,
            Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
        item = QListWidgetItem(QIcon(QPixmap.fromImage(thumb)), "")
        item.setData(PATH_ROLE, path)
        item.setToolTip(Path(path).name)
        item.setSizeHint(QSize(THUMB_SIZE + 8, THUMB_SIZE + 8))
        self.blockSignals(True)
        self.insertItem(0, item)
        self.setCurrentItem(item)
        self.blockSignals(False)
        return item

    def paths(self) -> list[str]:
        return [self.item(i).data(PATH_ROLE) for i in range(self.count())]


class PreviewPanel(QWidget):
    """Preview, progress bar with "Step x/y · time left", and the thumbnail strip."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.preview = PreviewWidget()
        self.progress = QProgressBar()
        self.progress.setObjectName("stepProgress")
        self.progress.setTextVisible(False)
        self.progress.setFixedHeight(6)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress_label = QLabel("Idle")
        self.progress_label.setObjectName("progressLabel")
        # The webui's Interrupt: stop after this step and keep the picture (Cancel drops it).
        self.finish_button = QPushButton("Finish now")
        self.finish_button.setObjectName("finishButton")
        self.finish_button.setToolTip(
            "Stop after the current step and keep the picture as it is now "
            "(Cancel stops and keeps nothing)"
        )
        self.finish_button.setVisible(False)
        self.thumbs = ThumbnailStrip()
        self.thumbs.imageChosen.connect(self.show_path)

        line = QHBoxLayout()
        line.setSpacing(10)
        line.addWidget(self.progress, 1)
        line.addWidget(self.progress_label)
        line.addWidget(self.finish_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(10)
        layout.addWidget(self.preview, 1)
        layout.addLayout(line)
        layout.addWidget(self.thumbs)

    def show_path(self, path: str) -> None:
        image = QImage(path)
        if not image.isNull():
            self.preview.set_image(image, Path(path).name)

    def set_progress(self, step: int, total: int, text: str) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(step)
        self.progress_label.setText(text)

    def set_busy(self, text: str) -> None:
        self.progress.setRange(0, 0)  # an indeterminate bar: loading a model, for example
        self.progress_label.setText(text)

    def set_idle(self, text: str = "Idle") -> None:
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress_label.setText(text)
