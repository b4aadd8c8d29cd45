"""The gallery's filter bar: search words, sort, model, date range and favourites.

It only turns its controls into a `GalleryFilter` and says when that changed; the widget
asks the model for the rows. Typing is debounced, picking from a list applies at once.
"""

from __future__ import annotations

import datetime as _dt

from PySide6.QtCore import QDate, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.library.gallery_query import SORTS, GalleryFilter

SEARCH_DELAY_MS = 150
ANY_MODEL = "__any__"
# Date presets: label, days back from today's midnight (None: any date, -1: custom range).
DATE_RANGES: list[tuple[str, int | None]] = [
    ("Any date", None),
    ("Today", 0),
    ("Last 7 days", 6),
    ("Last 30 days", 29),
    ("Last 12 months", 364),
    ("Custom range…", -1),
]


def _to_date(day: QDate) -> _dt.date:
    return _dt.date(day.year(), day.month(), day.day())


def _midnight(day: _dt.date) -> float:
    return _dt.datetime.combine(day, _dt.time()).timestamp()


class GalleryFilterBar(QWidget):
    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("galleryFilterBar")
        self.search = QLineEdit()
        self.search.setObjectName("gallerySearch")
        self.search.setPlaceholderText("Search prompts…")
        self.search.setClearButtonEnabled(True)
        self.sort = QComboBox()
        self.sort.setObjectName("gallerySort")
        self.sort.setToolTip("Order of the pictures")
        for key, (label, _sql) in SORTS.items():
            self.sort.addItem(label, key)
        self.model = QComboBox()
        self.model.setObjectName("galleryModelFilter")
        self.model.setToolTip("Only pictures made with this model")
        self.model.setMinimumContentsLength(18)
        self.model.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.model.addItem("All models", ANY_MODEL)
        self.dates = QComboBox()
        self.dates.setObjectName("galleryDateFilter")
        self.dates.setToolTip("Only pictures made in this time")
        for label, days in DATE_RANGES:
            self.dates.addItem(label, days)
        today = QDate.currentDate()
        self.date_from = QDateEdit(today.addDays(-30))
        self.date_to = QDateEdit(today)
        for edit, tip in ((self.date_from, "From (inclusive)"), (self.date_to, "To (inclusive)")):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
            edit.setToolTip(tip)
            edit.hide()
        self.favourites = QToolButton()
        self.favourites.setObjectName("galleryFavouritesFilter")
        self.favourites.setText("★ Favourites")
        self.favourites.setCheckable(True)
        self.favourites.setToolTip("Only starred pictures")
        self.count_label = QLabel()
        self.count_label.setObjectName("galleryCount")

        # Two rows: the search gets the whole width, the filters sit under it.
        top = QHBoxLayout()
        top.setSpacing(8)
        top.addWidget(self.search, 1)
        top.addWidget(self.favourites)
        top.addWidget(self.count_label)
        bottom = QHBoxLayout()
        bottom.setSpacing(6)
        for widget in (
            self.sort,
            self.model,
            self.dates,
            self.date_from,
            self.date_to,
        ):
            bottom.addWidget(widget)
        bottom.addStretch(1)
        rows = QVBoxLayout(self)
        rows.setContentsMargins(0, 0, 0, 0)
        rows.setSpacing(6)
        rows.addLayout(top)
        rows.addLayout(bottom)

        self._timer = QTimer(self, singleShot=True, interval=SEARCH_DELAY_MS)
        self._timer.timeout.connect(self._typed)
        self._applied_query = ""
        self.search.textChanged.connect(self._timer.start)
        for combo in (self.sort, self.model, self.dates):
            combo.currentIndexChanged.connect(self._picked)
        self.date_from.dateChanged.connect(self._picked)
        self.date_to.dateChanged.connect(self._picked)
        self.favourites.toggled.connect(self._picked)

    def filter(self) -> GalleryFilter:
        since = until = None
        days = self.dates.currentData()
        today = _dt.date.today()
        if days == -1:
            start, end = _to_date(self.date_from.date()), _to_date(self.date_to.date())
            since, until = _midnight(start), _midnight(end + _dt.timedelta(days=1))
        elif days is not None:
            since = _midnight(today - _dt.timedelta(days=int(days)))
        model = self.model.currentData()
        return GalleryFilter(
            query=self.search.text().strip(),
            sort=str(self.sort.currentData() or "newest"),
            model=None if model == ANY_MODEL else str(model),
            since=since,
            until=until,
            favourites=self.favourites.isChecked(),
        )

    def set_models(self, models: list[tuple[str, int]]) -> None:
        """The models found in the gallery, keeping the current choice where it still exists."""
        current = self.model.currentData()
        self.model.blockSignals(True)
        self.model.clear()
        self.model.addItem("All models", ANY_MODEL)
        for name, count in models:
            self.model.addItem(name or "(no model)", name)
            noun = "picture" if count == 1 else "pictures"
            self.model.setItemData(
                self.model.count() - 1, f"{count} {noun}", Qt.ItemDataRole.ToolTipRole
            )
        found = self.model.findData(current)
        self.model.setCurrentIndex(max(0, found))
        self.model.blockSignals(False)
        if current != ANY_MODEL and found < 0:
            self.changed.emit()  # the chosen model has no pictures left

    def set_count(self, text: str) -> None:
        self.count_label.setText(text)

    def _typed(self) -> None:
        if self.search.text().strip() != self._applied_query:
            self._applied_query = self.search.text().strip()
            self.changed.emit()

    def _picked(self, *_: object) -> None:
        custom = self.dates.currentData() == -1
        self.date_from.setVisible(custom)
        self.date_to.setVisible(custom)
        self.changed.emit()
