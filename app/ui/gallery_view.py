"""The gallery tab: a searchable, filterable grid of every picture, a detail pane, actions
on one or many selected pictures, and the full-size viewer.

The widget only wires things together: rows and paging live in GalleryModel, the filter
controls in GalleryFilterBar, questions in gallery_actions, disk work in ThumbnailLoader's
pool, the store is `app.library.gallery.Gallery`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QPoint, QSize, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QImage, QKeyEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListView,
    QMenu,
    QPushButton,
    QScrollArea,
    QSplitter,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from app.errors import EaselError
from app.library.gallery import Gallery, GalleryItem
from app.library.infotext import parse_infotext, request_from_infotext
from app.request import GenerationRequest
from app.ui.gallery_actions import (
    ask_delete,
    choose_export_folder,
    no_file_manager_text,
    reveal_command,
    reveal_in_file_manager,
)
from app.ui.gallery_bulk import GalleryBulkActions
from app.ui.gallery_detail import GalleryDetailPane
from app.ui.gallery_drops import GalleryDrops
from app.ui.gallery_filters import GalleryFilterBar
from app.ui.gallery_model import GalleryModel, ItemRole, ThumbnailDelegate, icon_grid_size
from app.ui.gallery_viewer import ImageViewer
from app.ui.imageio import copy_image_to_clipboard
from app.ui.thumbnails import ThumbnailLoader

__all__ = ["GalleryWidget", "no_file_manager_text", "reveal_command", "reveal_in_file_manager"]

ICON_SIZE = 168
PREVIEW_BOUND = QSize(1536, 1536)


class GalleryWidget(GalleryBulkActions, GalleryDrops, QWidget):
    restoreRequested = Signal(object)  # GenerationRequest
    sendToCanvasRequested = Signal(str)  # path
    upscaleRequested = Signal(str)  # path
    reconciled = Signal()
    notice = Signal(str)  # a sentence for the window (the index was rebuilt...)

    def __init__(self, gallery: Gallery, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("galleryWidget")
        self.gallery = gallery
        # Injectable so tests (and a future "don't ask again") can answer for the user.
        self.confirm_delete: Callable[[QWidget, list[str], bool], bool] = ask_delete
        self.choose_folder: Callable[[QWidget, int], Path | None] = choose_export_folder
        self.loader = ThumbnailLoader(gallery, parent=self)
        self.model = GalleryModel(gallery, self.loader, ICON_SIZE)
        self.viewer: ImageViewer | None = None

        self.filters = GalleryFilterBar()
        self.search = self.filters.search
        self.count_label = self.filters.count_label
        self.message = QLabel()
        self.message.setObjectName("galleryMessage")
        self.message.setWordWrap(True)
        self.message.hide()
        self.retry_button = QPushButton("Retry save")
        self.retry_button.setObjectName("retrySave")
        self.retry_button.setToolTip("Write the pictures that could not be saved")
        self.retry_button.clicked.connect(self.retry_save)
        self.retry_button.hide()

        self.view = QListView()
        self.view.setObjectName("galleryGrid")
        self.view.setViewMode(QListView.ViewMode.IconMode)
        self.view.setUniformItemSizes(True)
        self.view.setIconSize(QSize(ICON_SIZE, ICON_SIZE))
        self.view.setGridSize(icon_grid_size(ICON_SIZE))
        self.view.setResizeMode(QListView.ResizeMode.Adjust)
        self.view.setMovement(QListView.Movement.Static)
        self.view.setSpacing(0)
        self.view.setWrapping(True)
        self.view.setLayoutMode(QListView.LayoutMode.Batched)
        self.view.setBatchSize(200)
        self.view.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setDragDropMode(QAbstractItemView.DragDropMode.NoDragDrop)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.setModel(self.model)
        self.view.setItemDelegate(ThumbnailDelegate(self.view))
        self.view.setMouseTracking(True)
        self.view.viewport().setAcceptDrops(True)
        self.view.viewport().installEventFilter(self)
        self.view.installEventFilter(self)  # Ctrl+A and Enter on the grid

        self.detail = GalleryDetailPane()
        self._build_actions()
        self._layout()

        self._prefetch_timer = QTimer(self, singleShot=True, interval=0)
        self._prefetch_timer.timeout.connect(self._prefetch_visible)
        self.filters.changed.connect(self.refresh)
        self.view.selectionModel().currentChanged.connect(self._current_changed)
        self.view.selectionModel().selectionChanged.connect(self._selection_changed)
        self.view.doubleClicked.connect(lambda index: self.open_viewer(index.row()))
        self.view.customContextMenuRequested.connect(self._context_menu)
        self.view.verticalScrollBar().valueChanged.connect(self._prefetch_timer.start)
        self.model.rowsInserted.connect(self._prefetch_timer.start)
        self.model.modelReset.connect(self._prefetch_timer.start)
        self.loader.previewLoaded.connect(self._preview_loaded)
        # New thumbnails: repaint the grid once per batch (no per-row dataChanged).
        self.loader.add_listener(lambda _ids: self.view.viewport().update())

        self.filters.set_models(gallery.models())
        self.refresh()
        # Files added or removed while Easel was closed: sync off the UI thread.
        self.loader.run_task(gallery.reconcile, self._reconcile_done)

    # --- construction ----------------------------------------------------------------

    def _action(self, text: str, slot: Callable[[], None], keys: object = None) -> QAction:
        action = QAction(text, self)
        action.triggered.connect(slot)
        if keys is not None:
            action.setShortcut(QKeySequence(keys))
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.addAction(action)
        return action

    def _build_actions(self) -> None:
        self.restore_action = self._action("Use settings", self.restore_selected)
        self.restore_action.setToolTip("Put this picture's prompt and settings into the form")
        self.canvas_action = self._action("Send to canvas", self.send_selected_to_canvas)
        self.upscale_action = self._action("Upscale…", self.upscale_selected)
        self.upscale_action.setToolTip("Make a larger copy (2x or 4x) with an upscaler")
        self.copy_action = self._action(
            "Copy image", self.copy_selected, QKeySequence.StandardKey.Copy
        )
        self.reveal_action = self._action("Show in folder", self.reveal_selected)
        self.export_action = self._action("Export…", self.export_selected)
        self.export_action.setToolTip(
            "Copy the selected pictures, with their settings, to a folder"
        )
        self.delete_action = self._action(
            "Delete…", self.delete_selected, QKeySequence.StandardKey.Delete
        )
        self.favourite_action = self._action(
            "☆ Favourite", self.toggle_favourite_selected, "Ctrl+D"
        )
        self.favourite_action.setToolTip("Favourite: star the selected pictures (Ctrl+D)")
        self.view_action = self._action("View", lambda: self._open_current())
        self.view_action.setToolTip("See the picture full size (double-click, Enter)")
        # Acting on the current picture only, and on every selected picture.
        self._single_actions = [
            self.restore_action,
            self.canvas_action,
            self.upscale_action,
            self.copy_action,
            self.reveal_action,
            self.view_action,
        ]
        self._bulk_actions = [self.favourite_action, self.export_action, self.delete_action]
        self._item_actions = self._single_actions + self._bulk_actions
        for action in self._item_actions:
            button = QPushButton(action.text())
            if action is self.favourite_action:
                self.star_button = button
            button.setObjectName("dangerButton" if action is self.delete_action else "")
            button.setToolTip(action.toolTip() or action.text())
            button.clicked.connect(action.trigger)
            action.enabledChanged.connect(button.setEnabled)
            action.changed.connect(lambda b=button, a=action: b.setText(a.text()))
            row = self.detail.bulk_row if action in self._bulk_actions else self.detail.actions_row
            row.addWidget(button)
        self.detail.actions_row.addStretch(1)
        self.detail.bulk_row.addStretch(1)

    def _layout(self) -> None:
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(8, 8, 0, 8)
        left_layout.addWidget(_sideways(self.filters, self.filters.sizeHint().height()))
        left_layout.addWidget(self.view, 1)
        bottom = QFrame()
        bottom_row = QHBoxLayout(bottom)
        bottom_row.setContentsMargins(0, 0, 0, 0)
        bottom_row.addWidget(self.message, 1)
        bottom_row.addWidget(self.retry_button)
        left_layout.addWidget(bottom)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        # Narrow windows (1024 px) scroll the detail pane sideways instead of growing.
        splitter.addWidget(_sideways(self.detail))
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([820, 560])
        splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

    # --- public slots ----------------------------------------------------------------

    @Slot()
    def refresh(self) -> None:
        """Reload the rows for the current search and filters, keeping the current picture."""
        keep = self.selected_item()
        self.model.set_query(self.filters.filter())
        self._update_count()
        if keep is not None and self.model.row_of(keep.id) >= 0:
            self.select_row(self.model.row_of(keep.id))
        else:
            self._show(None)

    @Slot(list)
    def add_paths(self, paths: list[str]) -> None:
        """New pictures were saved: put them at the top without reloading the rest."""
        if not paths:
            return
        self.model.prepend_new([str(p) for p in paths])
        self.filters.set_models(self.gallery.models())
        self._update_count()
        if self.selected_item() is None and self.model.rowCount():
            self.select_row(0)

    def selected_item(self) -> GalleryItem | None:
        """The current picture (the one the detail pane shows)."""
        index = self.view.currentIndex()
        return index.data(ItemRole) if index.isValid() else None

    def selected_items(self) -> list[GalleryItem]:
        """Every selected picture in grid order; the current one when none is selected."""
        rows = sorted(index.row() for index in self.view.selectionModel().selectedIndexes())
        items = [item for row in rows if (item := self.model.item(row)) is not None]
        if not items and (current := self.selected_item()) is not None:
            items = [current]
        return items

    def select_all(self) -> None:
        """Ctrl+A: every picture that matches, not only the rows loaded so far."""
        self.model.fetch_all()
        self.view.selectAll()

    def select_row(self, row: int) -> None:
        if 0 <= row < self.model.rowCount():
            index = self.model.index(row)
            self.view.setCurrentIndex(index)
            self.view.scrollTo(index)

    def shutdown(self) -> None:
        """Stop background work; call before the gallery is closed."""
        self.loader.shutdown()
        thread = self.delete_thread
        if thread is not None and self.delete_stop is not None:
            self.delete_stop.set()  # the chunk being deleted finishes, files with rows
            thread.join()

    # --- actions ---------------------------------------------------------------------

    def restore_selected(self) -> None:
        item = self.selected_item()
        if item is None:
            return
        request: GenerationRequest = request_from_infotext(parse_infotext(item.parameters))
        self.restoreRequested.emit(request)

    def send_selected_to_canvas(self) -> None:
        item = self.selected_item()
        if item is not None:
            self.sendToCanvasRequested.emit(str(item.path))

    def upscale_selected(self) -> None:
        item = self.selected_item()
        if item is not None:
            self.upscaleRequested.emit(str(item.path))

    def copy_selected(self) -> None:
        item = self.selected_item()
        if item is None:
            return
        image = QImage(str(item.path))
        if image.isNull():
            self._say(f"{item.path.name} could not be read; it may have been moved or damaged.")
            return
        copy_image_to_clipboard(image, item.path)
        self._say(f"Copied {item.path.name} to the clipboard.")

    def reveal_selected(self) -> None:
        item = self.selected_item()
        if item is not None and not reveal_in_file_manager(item.path):
            self._say(no_file_manager_text(item.path))

    def _open_current(self) -> None:
        self.open_viewer()

    def open_viewer(self, row: int | None = None) -> ImageViewer | None:
        """The full-size viewer on `row` (default: the current picture)."""
        if row is None:
            index = self.view.currentIndex()
            row = index.row() if index.isValid() else -1
        if self.model.item(row) is None:
            return None
        viewer = ImageViewer(self.model, row, self)
        viewer.favouriteRequested.connect(self._viewer_star)
        viewer.rowChanged.connect(lambda r: self.view.setCurrentIndex(self.model.index(r)))
        viewer.finished.connect(self._viewer_closed)
        viewer.resize(self.window().size())
        self.viewer = viewer
        viewer.open()
        return viewer

    # --- drops -----------------------------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.view and event.type() == QEvent.Type.KeyPress:
            key = event  # type: ignore[assignment]
            assert isinstance(key, QKeyEvent)
            if key.matches(QKeySequence.StandardKey.SelectAll):
                self.select_all()
                return True
            if key.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self.open_viewer()
                return True
        if watched is self.view.viewport():
            kind = event.type()
            if kind == QEvent.Type.Resize:
                self._fit_grid()
            if kind in (QEvent.Type.DragEnter, QEvent.Type.DragMove):
                return self._accept_drag(event)  # type: ignore[arg-type]
            if kind == QEvent.Type.Drop:
                self.handle_drop(event)  # type: ignore[arg-type]
                return True
        return super().eventFilter(watched, event)

    # --- internals -------------------------------------------------------------------

    def _say(self, text: str) -> None:
        self.message.setText(text)
        self.message.setVisible(bool(text))

    def _update_count(self) -> None:
        total = self.model.total
        noun = "picture" if total == 1 else "pictures"
        text = f"{total} matching" if self.model.view.is_filtered() else f"{total} {noun}"
        selected = len(self.view.selectionModel().selectedIndexes())
        if selected > 1:
            text += f"  ·  {selected} selected"
        self.filters.set_count(text)
        self._update_actions()

    def _update_actions(self) -> None:
        items = self.selected_items()
        for action in self._single_actions:
            action.setEnabled(self.selected_item() is not None)
        for action in self._bulk_actions:
            action.setEnabled(bool(items))
        n = len(items)
        self.export_action.setText(f"Export {n}…" if n > 1 else "Export…")
        self.delete_action.setText(f"Delete {n}…" if n > 1 else "Delete…")
        starred = bool(items) and all(item.favourite for item in items)
        self.favourite_action.setText("★ Favourite" if starred else "☆ Favourite")

    def _current_changed(self, *_: object) -> None:
        self._show(self.selected_item())

    def _selection_changed(self, *_: object) -> None:
        self._update_count()

    def _viewer_star(self, item_id: int) -> None:
        item = self.gallery.get(item_id)
        if item is not None:
            self.set_favourite([item_id], not item.favourite)

    def _viewer_closed(self, *_: object) -> None:
        self.viewer = None
        self.view.setFocus()

    def _show(self, item: GalleryItem | None) -> None:
        self.detail.show_item(item)
        self._update_actions()
        if item is not None:
            self.detail.image_view.set_hint("Loading…")
            self.loader.request_preview(item, PREVIEW_BOUND)

    def _preview_loaded(self, item_id: int, image: QImage) -> None:
        current = self.selected_item()
        if current is not None and current.id == item_id:
            self.detail.image_view.set_image(image)

    def _reconcile_done(self, result: object) -> None:
        if isinstance(result, Exception):
            self._say(
                str(result)
                if isinstance(result, EaselError)
                else f"The gallery folder could not be scanned ({result})."
            )
        elif result != (0, 0):
            self.filters.set_models(self.gallery.models())
            self.refresh()
        if self.gallery.notice:
            self._say(self.gallery.notice)
            self.notice.emit(self.gallery.notice)
            self.gallery.notice = ""
        self.reconciled.emit()

    def _context_menu(self, pos: QPoint) -> None:
        index = self.view.indexAt(pos)
        if not index.isValid():
            return
        if not self.view.selectionModel().isSelected(index):
            self.view.setCurrentIndex(index)  # right-click inside a selection keeps it
        menu = QMenu(self)
        for action in self._item_actions:
            if action is self.delete_action:
                menu.addSeparator()
            menu.addAction(action)
        menu.exec(self.view.viewport().mapToGlobal(pos))

    def _fit_grid(self) -> None:
        """Cells share the width evenly, so the grid never leaves a ragged gap at the right."""
        # The width QListView lays out in: it always reserves the style's scroll bar extent
        # (QListViewPrivate::prepareItemsLayout), which a style sheet's thinner bar can
        # make wider than the bar drawn; using the viewport's width wraps a column early.
        bar = self.view.verticalScrollBar()
        extent = self.view.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent, None, bar)
        width = self.view.maximumViewportSize().width() - extent - 2
        target = icon_grid_size(ICON_SIZE).width()
        columns = max(1, round(width / target))
        cell = max(64, width // columns)
        if self.view.gridSize().width() != cell:
            self.view.setGridSize(QSize(cell, cell))
            self.view.setIconSize(QSize(cell - 10, cell - 10))

    def _prefetch_visible(self) -> None:
        viewport = self.view.viewport().rect()
        grid = self.view.gridSize()
        first = max(0, self.view.indexAt(viewport.topLeft() + QPoint(4, 4)).row())
        columns = max(1, viewport.width() // max(1, grid.width()))
        rows = viewport.height() // max(1, grid.height()) + 1
        span = columns * rows
        # Half a screen above, a screen below: scrolling down is the common way.
        self.model.prefetch(first - span // 2, first + 2 * span)


def _sideways(widget: QWidget, height: int = 0) -> QScrollArea:
    """``widget`` in a frameless scroll area that scrolls sideways when the window is narrower
    than the widget likes; ``height`` fixes a one-row bar's height (its own plus a scroll bar)."""
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setObjectName("sidewaysScroll")  # transparent: the tab's own background shows
    area.setWidget(widget)
    area.viewport().setAutoFillBackground(False)
    widget.setAutoFillBackground(False)
    area.setMinimumWidth(280)
    if height:
        area.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        area.setFixedHeight(height + area.horizontalScrollBar().sizeHint().height())
    return area
