"""What the gallery does to the selected pictures: delete, export, star; and Retry save.

A mixin of GalleryWidget (it uses the widget's gallery, model, selection and message line),
kept apart so the widget's module stays about wiring. Deleting more than a handful of
pictures runs off the UI thread with a progress dialog and Stop (the trash takes milliseconds
per file on macOS and Windows; tens of thousands would freeze the window for minutes).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, cast

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import QProgressDialog, QPushButton, QWidget

from app.errors import EaselError
from app.library.gallery import Gallery, GalleryItem, UnsavedError
from app.library.gallery_export import export_items

if TYPE_CHECKING:
    from app.ui.gallery_filters import GalleryFilterBar
    from app.ui.gallery_model import GalleryModel


IN_BACKGROUND_FROM = 50  # pictures: fewer are deleted at once, on the UI thread


class _DeleteRelay(QObject):
    """Carries the delete thread's progress and end to the UI thread: the relay lives there,
    so its own slots run there (queued) whichever thread emits."""

    progressed = Signal(int, int)
    finished = Signal(int, list)

    def __init__(self, on_progress: Callable[[int], None], on_end: Callable[[int, list], None]):
        super().__init__()
        self._on_progress, self._on_end = on_progress, on_end
        self.progressed.connect(self._progressed)
        self.finished.connect(self._finished)

    @Slot(int, int)
    def _progressed(self, done: int, _total: int) -> None:
        self._on_progress(done)

    @Slot(int, list)
    def _finished(self, deleted: int, errors: list) -> None:
        self._on_end(deleted, errors)


class GalleryBulkActions:
    gallery: Gallery
    model: GalleryModel
    filters: GalleryFilterBar
    retry_button: QPushButton
    confirm_delete: Callable[[QWidget, list[str], bool], bool]
    choose_folder: Callable[[QWidget, int], Path | None]
    delete_thread: threading.Thread | None = None  # a bulk delete running in the background
    delete_stop: threading.Event | None = None
    delete_dialog: QProgressDialog | None = None

    if TYPE_CHECKING:

        def selected_items(self) -> list[GalleryItem]: ...
        def select_row(self, row: int) -> None: ...
        def add_paths(self, paths: list[str]) -> None: ...
        def refresh(self) -> None: ...
        def _say(self, text: str) -> None: ...
        def _show(self, item: GalleryItem | None) -> None: ...
        def _update_count(self) -> None: ...
        def _update_actions(self) -> None: ...

    def delete_selected(self) -> None:
        items = self.selected_items()
        if not items:
            return
        names = [item.path.name for item in items]
        if not self.confirm_delete(cast(QWidget, self), names, self.gallery.uses_trash):
            return
        row = min(self.model.row_of(item.id) for item in items)
        ids = [item.id for item in items]
        if len(ids) < IN_BACKGROUND_FROM:
            try:
                deleted, errors = self.gallery.delete_many(ids)
            except EaselError as exc:
                self._say(str(exc))
                return
            self._after_delete(ids, row, deleted, errors, stopped=False)
            return
        self._delete_in_background(ids, row)

    def _delete_in_background(self, ids: list[int], row: int) -> None:
        """A thread deletes in chunks; a window-modal dialog shows how far and offers Stop
        (the chunk being deleted finishes: files and rows always go together)."""
        stop = threading.Event()
        dialog = QProgressDialog(
            f"Deleting {len(ids)} pictures…", "Stop", 0, len(ids), cast(QWidget, self)
        )
        dialog.setWindowTitle("Delete pictures")
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(0)
        dialog.setAutoClose(False)
        dialog.setAutoReset(False)
        dialog.canceled.connect(stop.set)
        self.delete_stop, self.delete_dialog = stop, dialog  # tests and shutdown reach them

        def finish(deleted: int, errors: list[str]) -> None:
            stopped = stop.is_set()  # read first: closing the dialog emits its canceled
            dialog.close()
            relay.deleteLater()
            self.delete_thread = None
            self._after_delete(ids, row, deleted, errors, stopped=stopped)

        relay = _DeleteRelay(dialog.setValue, finish)

        def work() -> None:
            try:
                deleted, errors = self.gallery.delete_many(
                    ids, on_progress=relay.progressed.emit, cancel=stop
                )
            except EaselError as exc:
                deleted, errors = 0, [str(exc)]
            relay.finished.emit(deleted, errors)

        self.delete_thread = threading.Thread(target=work, name="easel-gallery-delete")
        dialog.show()
        self.delete_thread.start()

    def _after_delete(
        self,
        ids: list[int],
        row: int,
        deleted: int,
        errors: list[str],
        *,
        stopped: bool,
    ) -> None:
        gone = self.gallery.missing(ids)
        self.model.remove_ids(gone)
        self._update_count()
        if self.model.rowCount():
            self.select_row(min(row, self.model.rowCount() - 1))
        else:
            self._show(None)
        self.filters.set_models(self.gallery.models())
        if errors:
            self._say(errors[0] if len(errors) == 1 else f"{len(errors)} not deleted; {errors[0]}")
        elif stopped:
            self._say(f"Stopped: deleted {deleted} of {len(ids)} pictures; the rest are kept.")
        elif deleted > 1:
            self._say(f"Deleted {deleted} pictures.")

    def export_selected(self) -> None:
        items = self.selected_items()
        if not items:
            return
        folder = self.choose_folder(cast(QWidget, self), len(items))
        if folder is None:
            return
        try:
            written, errors = export_items(items, folder)
        except EaselError as exc:
            self._say(str(exc))
            return
        noun = "picture" if len(written) == 1 else "pictures"
        done = f"Exported {len(written)} {noun} to {folder}."
        self._say(f"{done} {errors[0]}" if errors else done)

    def toggle_favourite_selected(self) -> None:
        """Star the selection, or unstar it when every selected picture is starred."""
        items = self.selected_items()
        if items:
            self.set_favourite([item.id for item in items], not all(i.favourite for i in items))

    def set_favourite(self, ids: list[int], favourite: bool) -> None:
        try:
            self.gallery.set_favourite(ids, favourite)
        except EaselError as exc:
            self._say(str(exc))
            return
        for id_ in ids:
            item = self.gallery.get(id_)
            if item is not None:
                self.model.replace_item(item)
        if self.model.view.favourites and not favourite:
            self.refresh()
        self._update_actions()

    def check_unsaved(self) -> bool:
        """Show "Retry save" while pictures wait in memory; True when some do."""
        waiting = self.gallery.unsaved_count > 0
        self.retry_button.setVisible(waiting)
        return waiting

    def retry_save(self) -> bool:
        """Write the pictures kept after a failed save; True when all of them are saved."""
        try:
            saved = self.gallery.retry_unsaved()
        except UnsavedError as exc:
            saved = exc.saved
            self._say(str(exc))
        if saved:
            self.add_paths([str(item.path) for item in saved])
        if not self.check_unsaved():
            noun = "picture" if len(saved) == 1 else "pictures"
            self._say(f"Saved {len(saved)} {noun}.")
            return True
        return False
