"""The gallery grid's model: rows paged in from the index, thumbnails filled in as they load.

Rows come from `Gallery.items(query, limit, offset)` a page at a time (canFetchMore /
fetchMore), so a library of 50,000 pictures opens as fast as one of 50. Thumbnails are
asked for only when the view asks for a row's icon (it asks for what it paints) or when the
widget prefetches the rows just outside the viewport.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QPersistentModelIndex,
    QRectF,
    QSize,
    Qt,
)
from PySide6.QtGui import QColor, QFont, QPainter, QPainterPath, QPalette, QPen, QPixmap
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem

from app.library.gallery import Gallery, GalleryItem
from app.library.gallery_query import GalleryFilter, as_filter
from app.ui.thumbnails import ThumbnailLoader

PAGE_SIZE = 120
ItemRole = Qt.ItemDataRole.UserRole + 1
_Index = QModelIndex | QPersistentModelIndex


def _placeholder(size: int, text: str) -> QPixmap:
    pixmap = QPixmap(size, size)
    pixmap.fill(QColor("#2a2a2e"))
    painter = QPainter(pixmap)
    painter.setPen(QColor("#6c6c74"))
    font = QFont()
    font.setPixelSize(max(10, size // 12))
    painter.setFont(font)
    painter.drawText(pixmap.rect(), Qt.AlignmentFlag.AlignCenter, text)
    painter.end()
    return pixmap


class GalleryModel(QAbstractListModel):
    def __init__(self, gallery: Gallery, loader: ThumbnailLoader, icon_size: int = 160) -> None:
        super().__init__()
        self._gallery = gallery
        self._loader = loader
        self._items: list[GalleryItem] = []
        self._row_of: dict[int, int] = {}
        self._view = GalleryFilter()
        self._total = 0
        self._exhausted = True
        self._loading = _placeholder(icon_size, "")
        self._broken = _placeholder(icon_size, "unreadable")

    # --- Qt model API ----------------------------------------------------------------

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._items)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or not 0 <= index.row() < len(self._items):
            return None
        item = self._items[index.row()]
        if role == Qt.ItemDataRole.DecorationRole:
            pixmap = self._loader.cached(item.id)
            if pixmap is not None:
                return pixmap
            if self._loader.is_broken(item.id):
                return self._broken
            self._loader.request(item)
            return self._loading
        if role == Qt.ItemDataRole.ToolTipRole:
            prompt = item.prompt if len(item.prompt) < 300 else item.prompt[:300] + "…"
            return f"{prompt}\n{item.width}×{item.height} · {item.path.name}"
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return item.prompt or item.path.name
        if role == ItemRole:
            return item
        return None

    def canFetchMore(self, parent: _Index = QModelIndex()) -> bool:  # noqa: B008
        return not parent.isValid() and not self._exhausted

    def fetchMore(self, parent: _Index = QModelIndex()) -> None:  # noqa: B008
        if parent.isValid() or self._exhausted:
            return
        page = self._gallery.items(self._view, limit=PAGE_SIZE, offset=len(self._items))
        page = [item for item in page if item.id not in self._row_of]
        if len(page) < PAGE_SIZE:
            self._exhausted = True
        if not page:
            return
        first = len(self._items)
        self.beginInsertRows(QModelIndex(), first, first + len(page) - 1)
        self._items.extend(page)
        self._reindex(first)
        self.endInsertRows()

    # --- what the widget uses --------------------------------------------------------

    @property
    def query(self) -> str:
        return self._view.query

    @property
    def view(self) -> GalleryFilter:
        """What the rows show: search words, filters and sort."""
        return self._view

    @property
    def total(self) -> int:
        """How many pictures match the query (not only the rows fetched so far)."""
        return self._total

    def item(self, row: int) -> GalleryItem | None:
        return self._items[row] if 0 <= row < len(self._items) else None

    def row_of(self, item_id: int) -> int:
        return self._row_of.get(item_id, -1)

    def set_query(self, query: str | GalleryFilter) -> None:
        """Start over: the first page of what matches `query` (words, or a whole filter)."""
        view = as_filter(query)
        self.beginResetModel()
        self._view = GalleryFilter(
            view.query.strip(), view.sort, view.model, view.since, view.until, view.favourites
        )
        self._items = []
        self._row_of = {}
        self._exhausted = False
        self._total = self._gallery.count(self._view)
        self.endResetModel()
        self.fetchMore()

    def fetch_all(self) -> None:
        """Load every matching row (for Select all); pages of rows, no pixels."""
        while self.canFetchMore():
            self.fetchMore()

    def replace_item(self, item: GalleryItem) -> None:
        """The same picture with new fields (a star toggled): repaint its cell."""
        row = self._row_of.get(item.id, -1)
        if row >= 0:
            self._items[row] = item
            index = self.index(row)
            self.dataChanged.emit(index, index)

    def prepend_new(self, paths: list[str]) -> list[int]:
        """Rows for freshly saved or imported pictures, without reloading the rest.

        Returns the rows (after insertion) of the items matching `paths`.
        """
        wanted = {Path(p).resolve() for p in paths}
        if self._view.sort != "newest":  # new pictures belong somewhere in the middle
            self.set_query(self._view)
            return [row for row, item in enumerate(self._items) if item.path.resolve() in wanted]
        # New pictures are the newest, so they are among the first rows of the query;
        # a small margin covers pictures saved by someone else meanwhile.
        head = self._gallery.items(self._view, limit=len(paths) + 16)
        new = [item for item in head if item.id not in self._row_of]
        if new:
            self.beginInsertRows(QModelIndex(), 0, len(new) - 1)
            self._items[:0] = new
            self._reindex(0)
            self.endInsertRows()
            self._total += len(new)
        return [row for row, item in enumerate(self._items) if item.path.resolve() in wanted]

    def remove_ids(self, item_ids: list[int]) -> None:
        if len(item_ids) <= 20:
            for item_id in item_ids:
                self.remove_id(item_id)
            return
        # Many at once (a bulk delete): one reset instead of a reindex per row.
        gone = set(item_ids)
        self.beginResetModel()
        kept = [item for item in self._items if item.id not in gone]
        self._items = kept
        self._total = self._gallery.count(self._view)  # also those never loaded
        self._reindex(0)
        self.endResetModel()

    def remove_id(self, item_id: int) -> None:
        row = self._row_of.get(item_id, -1)
        if row < 0:
            return
        self.beginRemoveRows(QModelIndex(), row, row)
        del self._items[row]
        del self._row_of[item_id]
        self._reindex(row)
        self.endRemoveRows()
        self._total = max(0, self._total - 1)
        self._loader.forget(item_id)

    def prefetch(self, first: int, last: int) -> None:
        """Ask for the thumbnails of rows first..last (clamped) ahead of painting them."""
        for row in range(max(0, first), min(len(self._items), last + 1)):
            item = self._items[row]
            if self._loader.cached(item.id) is None:
                self._loader.request(item)

    # --- internals -------------------------------------------------------------------

    def _reindex(self, start: int) -> None:
        if start == 0:
            self._row_of = {}
        for row in range(start, len(self._items)):
            self._row_of[self._items[row].id] = row


class ThumbnailDelegate(QStyledItemDelegate):
    """Thumbnails fitted into square cells with their own aspect ratio, rounded, framed."""

    PAD = 5

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        cell = QRectF(option.rect).adjusted(self.PAD, self.PAD, -self.PAD, -self.PAD)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        hovered = bool(option.state & QStyle.StateFlag.State_MouseOver)
        path = QPainterPath()
        path.addRoundedRect(cell, 6, 6)
        painter.fillPath(path, QColor("#26262b"))
        pixmap = index.data(Qt.ItemDataRole.DecorationRole)
        if isinstance(pixmap, QPixmap) and not pixmap.isNull():
            size = pixmap.size().toSizeF().scaled(cell.size(), Qt.AspectRatioMode.KeepAspectRatio)
            target = QRectF(
                cell.center().x() - size.width() / 2,
                cell.center().y() - size.height() / 2,
                size.width(),
                size.height(),
            )
            clip = QPainterPath()
            clip.addRoundedRect(target, 6, 6)
            painter.setClipPath(clip)
            painter.drawPixmap(target, pixmap, QRectF(pixmap.rect()))
            painter.setClipping(False)
        item = index.data(ItemRole)
        if item is not None and item.favourite:
            self._paint_star(painter, cell)
        if selected or hovered:
            colour = option.palette.color(QPalette.ColorRole.Highlight)
            if not selected:
                colour.setAlpha(110)
            painter.setPen(QPen(colour, 3 if selected else 2))
            painter.drawPath(path)
        painter.restore()

    @staticmethod
    def _paint_star(painter: QPainter, cell: QRectF) -> None:
        badge = QRectF(cell.right() - 26, cell.top() + 4, 22, 22)
        painter.save()  # the selection frame drawn next must not inherit this brush
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 150))
        painter.drawEllipse(badge)
        font = QFont()
        font.setPixelSize(15)
        painter.setFont(font)
        painter.setPen(QColor("#ffc83d"))
        painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, "★")
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, _index: _Index) -> QSize:
        return option.decorationSize + QSize(2 * self.PAD, 2 * self.PAD)


def icon_grid_size(icon: int) -> QSize:
    return QSize(icon + 2 * ThumbnailDelegate.PAD, icon + 2 * ThumbnailDelegate.PAD)
