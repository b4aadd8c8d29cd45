"""The job list: each job's prompt excerpt and state, with cancel one / cancel all."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPaintEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from app.ui.queue_thumbs import THUMB_SIZE, mode_label, thumbnail
from app.ui.state import CANCELLED, DONE, FAILED, FINAL_STATES, RUNNING, JobsState, excerpt

JOB_ID_ROLE = Qt.ItemDataRole.UserRole
STATE_ROLE = Qt.ItemDataRole.UserRole + 1
PERCENT_ROLE = Qt.ItemDataRole.UserRole + 2
DETAIL_ROLE = Qt.ItemDataRole.UserRole + 3
THUMB_ROLE = Qt.ItemDataRole.UserRole + 4  # QImage: init image, or the result when done
MODE_ROLE = Qt.ItemDataRole.UserRole + 5  # "Txt2img", "Inpaint", ...
DONE_THUMB_ROLE = Qt.ItemDataRole.UserRole + 6  # the thumbnail is the result's

_STATE_COLORS = {
    RUNNING: "#8b7bff",
    DONE: "#4cc38a",
    FAILED: "#f06a6a",
    CANCELLED: "#8a8f9c",
}


class JobDelegate(QStyledItemDelegate):
    """Two lines per job (prompt; state and size) and a thin progress bar while running."""

    ROW_HEIGHT = 54

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:  # noqa: N802
        return QSize(option.rect.width(), self.ROW_HEIGHT)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = option.rect.adjusted(4, 3, -4, -3)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        hovered = bool(option.state & QStyle.StateFlag.State_MouseOver)
        bg = QColor("#34364a") if selected else QColor("#2a2c33" if hovered else "#24262c")
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(bg)
        painter.drawRoundedRect(rect, 8, 8)

        state = index.data(STATE_ROLE) or ""
        accent = QColor(_STATE_COLORS.get(state, "#c7cad3"))
        painter.setBrush(accent)
        painter.drawEllipse(QRect(rect.left() + 10, rect.top() + 13, 8, 8))

        text_left = rect.left() + 26
        thumb = index.data(THUMB_ROLE)
        if isinstance(thumb, QImage) and not thumb.isNull():
            box = QRect(
                text_left, rect.top() + (rect.height() - THUMB_SIZE) // 2, THUMB_SIZE, THUMB_SIZE
            )
            target = QRect(0, 0, thumb.width(), thumb.height())
            target.moveCenter(box.center())
            painter.drawImage(target, thumb)
            text_left += THUMB_SIZE + 8
        text_width = rect.right() - 10 - text_left
        title_font = QFont(option.font)
        title_font.setWeight(QFont.Weight.DemiBold)
        painter.setFont(title_font)
        painter.setPen(
            QColor("#e8eaf0" if state not in FINAL_STATES or state == DONE else "#9da2ae")
        )
        title = painter.fontMetrics().elidedText(
            index.data(Qt.ItemDataRole.DisplayRole) or "", Qt.TextElideMode.ElideRight, text_width
        )
        painter.drawText(
            QRect(text_left, rect.top() + 6, text_width, 20), Qt.AlignmentFlag.AlignVCenter, title
        )

        detail_font = QFont(option.font)
        detail_font.setPointSizeF(max(7.0, option.font.pointSizeF() - 1))
        painter.setFont(detail_font)
        painter.setPen(accent if state in _STATE_COLORS else QColor("#9da2ae"))
        detail = painter.fontMetrics().elidedText(
            index.data(DETAIL_ROLE) or "", Qt.TextElideMode.ElideRight, text_width
        )
        painter.drawText(
            QRect(text_left, rect.top() + 26, text_width, 18), Qt.AlignmentFlag.AlignVCenter, detail
        )

        if state == RUNNING:
            bar = QRect(text_left, rect.bottom() - 5, text_width, 3)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor("#3a3d48"))
            painter.drawRoundedRect(bar, 1.5, 1.5)
            done = QRect(bar)
            done.setWidth(int(bar.width() * (index.data(PERCENT_ROLE) or 0) / 100))
            painter.setBrush(accent)
            painter.drawRoundedRect(done, 1.5, 1.5)
        painter.restore()


class HintListWidget(QListWidget):
    """A list that says what goes in it while it is empty."""

    def __init__(self, hint: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.hint = hint

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt's name
        super().paintEvent(event)
        if self.count() == 0 and self.hint:
            painter = QPainter(self.viewport())
            painter.setPen(QColor("#6f7482"))
            painter.drawText(
                self.viewport().rect().adjusted(12, 12, -12, -12),
                Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                self.hint,
            )


class QueuePanel(QWidget):
    """Renders a JobsState; asks the window to cancel through signals."""

    cancelRequested = Signal(int)
    cancelAllRequested = Signal()
    jobChosen = Signal(int)

    def __init__(self, jobs: JobsState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._jobs = jobs
        self._items: dict[int, QListWidgetItem] = {}

        title = QLabel("Queue")
        title.setObjectName("sectionLabel")
        self.count_label = QLabel("")
        self.count_label.setObjectName("dimLabel")
        header = QHBoxLayout()
        header.addWidget(title)
        header.addStretch(1)
        header.addWidget(self.count_label)

        self.list = HintListWidget(
            "No jobs yet.\nCtrl+Enter queues one; queue as many as you like."
        )
        self.list.setObjectName("queueList")
        self.list.setItemDelegate(JobDelegate(self.list))
        self.list.setMouseTracking(True)
        self.list.setUniformItemSizes(True)
        self.list.setVerticalScrollMode(QListWidget.ScrollMode.ScrollPerPixel)
        self.list.itemSelectionChanged.connect(self._update_buttons)
        self.list.itemClicked.connect(lambda item: self.jobChosen.emit(int(item.data(JOB_ID_ROLE))))

        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Remove the selected job from the queue, or stop it")
        self.cancel_button.clicked.connect(self._cancel_selected)
        self.cancel_all_button = QPushButton("Cancel all")
        self.cancel_all_button.setObjectName("dangerButton")
        self.cancel_all_button.clicked.connect(self.cancelAllRequested)
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Remove finished, failed and cancelled jobs from the list")
        self.clear_button.clicked.connect(jobs.clear_finished)
        buttons = QHBoxLayout()
        buttons.setSpacing(6)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.cancel_all_button)
        buttons.addWidget(self.clear_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(8)
        layout.addLayout(header)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)

        jobs.added.connect(self._added)
        jobs.changed.connect(self._changed)
        jobs.removed.connect(self._removed)
        self._update_buttons()

    def _added(self, job_id: int) -> None:
        item = QListWidgetItem()
        item.setData(JOB_ID_ROLE, job_id)
        entry = self._jobs.get(job_id)
        if entry is not None:
            item.setData(MODE_ROLE, mode_label(entry.mode))
            item.setData(THUMB_ROLE, thumbnail(entry.init_image))
        self.list.addItem(item)
        self._items[job_id] = item
        self._changed(job_id)

    def _changed(self, job_id: int) -> None:
        entry = self._jobs.get(job_id)
        item = self._items.get(job_id)
        if entry is None or item is None:
            return
        item.setData(Qt.ItemDataRole.DisplayRole, excerpt(entry.prompt))
        item.setData(STATE_ROLE, entry.state)
        item.setData(PERCENT_ROLE, entry.percent)
        if entry.state == DONE and entry.paths and not item.data(DONE_THUMB_ROLE):
            result = thumbnail(entry.paths[0])
            if result is not None:
                item.setData(THUMB_ROLE, result)
                item.setData(DONE_THUMB_ROLE, True)
        mode = item.data(MODE_ROLE) or mode_label(entry.mode)
        item.setData(
            DETAIL_ROLE, f"{mode}  ·  {entry.status_text}  ·  {entry.size} × {entry.images}"
        )
        item.setToolTip(entry.message or entry.prompt)
        self._update_buttons()

    def _removed(self, job_id: int) -> None:
        item = self._items.pop(job_id, None)
        if item is not None:
            self.list.takeItem(self.list.row(item))
        self._update_buttons()

    def selected_job(self) -> int | None:
        items = self.list.selectedItems()
        return int(items[0].data(JOB_ID_ROLE)) if items else None

    def _cancel_selected(self) -> None:
        job_id = self.selected_job()
        if job_id is not None:
            self.cancelRequested.emit(job_id)

    def _update_buttons(self) -> None:
        active = self._jobs.active()
        job_id = self.selected_job()
        entry = self._jobs.get(job_id) if job_id is not None else None
        self.cancel_button.setEnabled(entry is not None and entry.state not in FINAL_STATES)
        self.cancel_all_button.setEnabled(bool(active))
        self.clear_button.setEnabled(len(active) < len(self._jobs.entries()))
        self.count_label.setText(f"{len(active)} active" if active else "idle")

    def item_for(self, job_id: int) -> QListWidgetItem | None:
        return self._items.get(job_id)
