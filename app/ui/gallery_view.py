"""The gallery tab: a searchable grid of every picture, with a detail pane and actions.

The widget only wires things together: rows and paging live in GalleryModel, disk work in
ThumbnailLoader's pool, the store is `app.library.gallery.Gallery`.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QPoint, QSize, Qt, QTimer, QUrl, Signal, Slot
from PySide6.QtGui import (
    QAction,
    QDesktopServices,
    QDragEnterEvent,
    QDropEvent,
    QImage,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QMenu,
    QMessageBox,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.errors import EaselError
from app.library.gallery import Gallery, GalleryItem
from app.library.infotext import parse_infotext, request_from_infotext
from app.request import GenerationRequest
from app.ui.gallery_detail import GalleryDetailPane
from app.ui.gallery_model import GalleryModel, ItemRole, ThumbnailDelegate, icon_grid_size
from app.ui.imageio import copy_image_to_clipboard, image_paths_from_mime, qimage_to_pil
from app.ui.thumbnails import ThumbnailLoader

ICON_SIZE = 168
SEARCH_DELAY_MS = 150
PREVIEW_BOUND = QSize(1536, 1536)


def reveal_command(path: Path, platform: str = sys.platform) -> list[str] | None:
    """The command that shows `path` selected in the file manager; None: open its folder.

    Linux file managers have no common "select this file" switch, so there the folder is
    opened with QDesktopServices instead.
    """
    if platform == "darwin":
        return ["open", "-R", str(path)]
    if platform.startswith("win"):
        # Explorer parses "/select," itself; the path follows as its own (quoted) argument.
        return ["explorer", "/select,", str(path)]
    return None


def reveal_in_file_manager(path: Path, platform: str = sys.platform) -> bool:
    """False when no file manager could be started."""
    command = reveal_command(path, platform)
    if command is None:
        return bool(QDesktopServices.openUrl(QUrl.fromLocalFile(str(path.parent))))
    try:
        subprocess.Popen(command)  # noqa: S603 - fixed programs, path as one argument
    except OSError:
        return False
    return True


def no_file_manager_text(path: Path) -> str:
    return f"No file manager was found to show {path.name}; it is in {path.parent}."


def _ask_delete(parent: QWidget, item: GalleryItem) -> bool:
    answer = QMessageBox.question(
        parent,
        "Delete picture",
        f"Delete {item.path.name}? The file is moved to the trash where your system has one.",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
        QMessageBox.StandardButton.Cancel,
    )
    return answer == QMessageBox.StandardButton.Yes


class GalleryWidget(QWidget):
    restoreRequested = Signal(object)  # GenerationRequest
    sendToCanvasRequested = Signal(str)  # path
    reconciled = Signal()

    def __init__(self, gallery: Gallery, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("galleryWidget")
        self.gallery = gallery
        # Injectable so tests (and a future "don't ask again") can answer for the user.
        self.confirm_delete: Callable[[QWidget, GalleryItem], bool] = _ask_delete
        self.loader = ThumbnailLoader(gallery, parent=self)
        self.model = GalleryModel(gallery, self.loader, ICON_SIZE)

        self.search = QLineEdit()
        self.search.setObjectName("gallerySearch")
        self.search.setPlaceholderText("Search prompts…")
        self.search.setClearButtonEnabled(True)
        self.count_label = QLabel()
        self.count_label.setObjectName("galleryCount")
        self.message = QLabel()
        self.message.setObjectName("galleryMessage")
        self.message.setWordWrap(True)
        self.message.hide()

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
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setDragDropMode(QAbstractItemView.DragDropMode.NoDragDrop)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.setModel(self.model)
        self.view.setItemDelegate(ThumbnailDelegate(self.view))
        self.view.setMouseTracking(True)
        self.view.viewport().setAcceptDrops(True)
        self.view.viewport().installEventFilter(self)

        self.detail = GalleryDetailPane()
        self._build_actions()
        self._layout()

        self._search_timer = QTimer(self, singleShot=True, interval=SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self._apply_search)
        self._prefetch_timer = QTimer(self, singleShot=True, interval=0)
        self._prefetch_timer.timeout.connect(self._prefetch_visible)
        self.search.textChanged.connect(self._search_timer.start)
        self.view.selectionModel().currentChanged.connect(self._current_changed)
        self.view.customContextMenuRequested.connect(self._context_menu)
        self.view.verticalScrollBar().valueChanged.connect(self._prefetch_timer.start)
        self.model.rowsInserted.connect(self._prefetch_timer.start)
        self.model.modelReset.connect(self._prefetch_timer.start)
        self.loader.previewLoaded.connect(self._preview_loaded)
        # New thumbnails: repaint the grid once per batch (no per-row dataChanged).
        self.loader.add_listener(lambda _ids: self.view.viewport().update())

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
        self.copy_action = self._action(
            "Copy image", self.copy_selected, QKeySequence.StandardKey.Copy
        )
        self.reveal_action = self._action("Show in folder", self.reveal_selected)
        self.delete_action = self._action(
            "Delete…", self.delete_selected, QKeySequence.StandardKey.Delete
        )
        self._item_actions = [
            self.restore_action,
            self.canvas_action,
            self.copy_action,
            self.reveal_action,
            self.delete_action,
        ]
        for action in self._item_actions:
            button = QPushButton(action.text())
            button.setObjectName("dangerButton" if action is self.delete_action else "")
            button.setToolTip(action.toolTip() or action.text())
            button.clicked.connect(action.trigger)
            action.enabledChanged.connect(button.setEnabled)
            self.detail.actions_row.addWidget(button)
        self.detail.actions_row.addStretch(1)

    def _layout(self) -> None:
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.search, 1)
        top.addWidget(self.count_label)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(8, 8, 0, 8)
        left_layout.addLayout(top)
        left_layout.addWidget(self.view, 1)
        left_layout.addWidget(self.message)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(self.detail)
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
        """Reload the rows for the current search, keeping the selection where it can."""
        keep = self.selected_item()
        self.model.set_query(self.search.text())
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
        self._update_count()
        if self.selected_item() is None and self.model.rowCount():
            self.select_row(0)

    def import_paths(self, paths: list[Path]) -> list[GalleryItem]:
        """Copy pictures from elsewhere into the gallery (with their parameters)."""
        imported: list[GalleryItem] = []
        errors: list[str] = []
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            for path in paths:
                try:
                    imported.append(self.gallery.import_file(path))
                except EaselError as exc:
                    errors.append(str(exc))
        finally:
            QApplication.restoreOverrideCursor()
        if imported:
            self.add_paths([str(item.path) for item in imported])
            self.select_row(self.model.row_of(imported[-1].id))
        self._say(
            errors[0]
            if len(errors) == 1
            else f"{len(errors)} files could not be imported; {errors[0]}"
            if errors
            else ""
        )
        return imported

    def import_image(self, image: QImage) -> GalleryItem | None:
        """Raw pixels dropped from a browser or another app (no file, no parameters)."""
        try:
            item = self.gallery.add(qimage_to_pil(image, "RGBA"), "")
        except EaselError as exc:
            self._say(str(exc))
            return None
        self.add_paths([str(item.path)])
        self.select_row(self.model.row_of(item.id))
        return item

    def selected_item(self) -> GalleryItem | None:
        index = self.view.currentIndex()
        return index.data(ItemRole) if index.isValid() else None

    def select_row(self, row: int) -> None:
        if 0 <= row < self.model.rowCount():
            index = self.model.index(row)
            self.view.setCurrentIndex(index)
            self.view.scrollTo(index)

    def shutdown(self) -> None:
        """Stop background work; call before the gallery is closed."""
        self.loader.shutdown()

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

    def delete_selected(self) -> None:
        item = self.selected_item()
        if item is None or not self.confirm_delete(self, item):
            return
        row = self.model.row_of(item.id)
        try:
            self.gallery.delete(item.id)
        except EaselError as exc:
            self._say(str(exc))
            return
        self.model.remove_id(item.id)
        self._update_count()
        if self.model.rowCount():
            self.select_row(min(row, self.model.rowCount() - 1))
        else:
            self._show(None)

    # --- drops -----------------------------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
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

    def _accept_drag(self, event: QDragEnterEvent) -> bool:
        mime = event.mimeData()
        if event.source() is not self.view and (image_paths_from_mime(mime) or mime.hasImage()):
            event.acceptProposedAction()
        else:
            event.ignore()
        return True

    def handle_drop(self, event: QDropEvent) -> None:
        mime = event.mimeData()
        paths = image_paths_from_mime(mime)
        if paths:
            self.import_paths(paths)
        elif mime.hasImage():
            self.import_image(QImage(mime.imageData()))
        else:
            event.ignore()
            return
        event.acceptProposedAction()

    # --- internals -------------------------------------------------------------------

    def _say(self, text: str) -> None:
        self.message.setText(text)
        self.message.setVisible(bool(text))

    def _apply_search(self) -> None:
        if self.search.text().strip() != self.model.query:
            self.refresh()

    def _update_count(self) -> None:
        total = self.model.total
        noun = "picture" if total == 1 else "pictures"
        if self.model.query:
            self.count_label.setText(f"{total} matching")
        else:
            self.count_label.setText(f"{total} {noun}")
        has = self.selected_item() is not None
        for action in self._item_actions:
            action.setEnabled(has)

    def _current_changed(self, *_: object) -> None:
        self._show(self.selected_item())

    def _show(self, item: GalleryItem | None) -> None:
        self.detail.show_item(item)
        for action in self._item_actions:
            action.setEnabled(item is not None)
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
            self.refresh()
        self.reconciled.emit()

    def _context_menu(self, pos: QPoint) -> None:
        index = self.view.indexAt(pos)
        if not index.isValid():
            return
        self.view.setCurrentIndex(index)
        menu = QMenu(self)
        for action in self._item_actions:
            if action is self.delete_action:
                menu.addSeparator()
            menu.addAction(action)
        menu.exec(self.view.viewport().mapToGlobal(pos))

    def _fit_grid(self) -> None:
        """Cells share the width evenly, so the grid never leaves a ragged gap at the right."""
        width = self.view.viewport().width() - 2
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
