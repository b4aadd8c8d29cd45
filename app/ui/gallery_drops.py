"""Pictures coming into the gallery from elsewhere: dropped files, dropped pixels, imports.

A mixin of GalleryWidget (it uses the widget's gallery, grid and message line).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QImage
from PySide6.QtWidgets import QApplication, QListView

from app.errors import EaselError
from app.library.gallery import Gallery, GalleryItem
from app.ui.imageio import image_paths_from_mime, qimage_to_pil

if TYPE_CHECKING:
    from app.ui.gallery_model import GalleryModel


class GalleryDrops:
    gallery: Gallery
    model: GalleryModel
    view: QListView

    if TYPE_CHECKING:

        def select_row(self, row: int) -> None: ...
        def add_paths(self, paths: list[str]) -> None: ...
        def _say(self, text: str) -> None: ...

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
