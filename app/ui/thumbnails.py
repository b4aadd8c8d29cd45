"""Background work for the gallery: thumbnails, full-size previews and start-up reconcile.

Everything that touches the disk runs on a small private QThreadPool so the grid scrolls
while files are read. Results come back as QImage (safe to build off the UI thread) through a
thread-safe queue that a UI-thread timer drains about 60 times a second, so a screenful of
thumbnails lands in one repaint rather than one signal each. (It also keeps Python-side
signal emits off this hot path: PySide6 6.12.0's `SignalInstance.emit` drops a reference to
`True` on every call, which aborts the interpreter after a few thousand emits.) Pixmaps
are made on the UI thread; a bounded LRU cache keeps the recently seen ones.
"""

from __future__ import annotations

import queue
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QSize, Qt, QThreadPool, QTimer, Signal
from PySide6.QtGui import QImage, QImageReader, QPixmap

from app.errors import EaselError
from app.library.gallery import Gallery, GalleryItem

THUMB_SIZE = 256
CACHE_LIMIT = 800  # pixmaps: ~800 x 256 KiB at most


class _Job(QRunnable):
    def __init__(self, fn: Callable[[], None]) -> None:
        super().__init__()
        self._fn = fn

    def run(self) -> None:
        try:
            self._fn()
        except RuntimeError:
            pass  # a Qt object went away while this job ran (window closing): drop it


def _read_scaled(path: str, bound: QSize | None) -> QImage:
    reader = QImageReader(path)
    reader.setAutoTransform(True)
    if bound is not None and bound.isValid():
        size = reader.size()
        if size.isValid() and (size.width() > bound.width() or size.height() > bound.height()):
            reader.setScaledSize(size.scaled(bound, Qt.AspectRatioMode.KeepAspectRatio))
    image = reader.read()
    if image.isNull():
        raise OSError(reader.errorString())
    return image


class ThumbnailLoader(QObject):
    """Asks `Gallery.thumbnail()` off the UI thread and caches the results as pixmaps.

    Listeners added with `add_listener` get the ids whose thumbnails arrived (or failed),
    a batch at a time, on the UI thread.
    """

    previewLoaded = Signal(int, QImage)  # once per selection: a signal is fine here

    def __init__(self, gallery: Gallery, size: int = THUMB_SIZE, parent: QObject | None = None):
        super().__init__(parent)
        self._gallery = gallery
        self._size = size
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(2)
        self._pool.setExpiryTimeout(2000)
        self._results: queue.SimpleQueue[tuple[str, int, Any]] = queue.SimpleQueue()
        self._outstanding = 0  # jobs started whose results were not drained yet
        self._timer = QTimer(self)
        self._timer.setInterval(16)
        self._timer.timeout.connect(self._drain)
        self._listeners: list[Callable[[list[int]], None]] = []
        self._cache: OrderedDict[int, QPixmap] = OrderedDict()
        self._pending: set[int] = set()
        self._broken: set[int] = set()

    def add_listener(self, listener: Callable[[list[int]], None]) -> None:
        self._listeners.append(listener)

    # --- thumbnails ------------------------------------------------------------------

    def cached(self, item_id: int) -> QPixmap | None:
        pixmap = self._cache.get(item_id)
        if pixmap is not None:
            self._cache.move_to_end(item_id)
        return pixmap

    def is_broken(self, item_id: int) -> bool:
        return item_id in self._broken

    def request(self, item: GalleryItem) -> None:
        """Queue a thumbnail unless it is cached, on its way, or known to fail."""
        if item.id in self._cache or item.id in self._pending or item.id in self._broken:
            return
        self._pending.add(item.id)
        gallery, size, results = self._gallery, self._size, self._results

        def work() -> None:
            try:
                path = gallery.thumbnail(item, size)
                image = _read_scaled(str(path), QSize(size, size))
            except (EaselError, OSError) as exc:
                results.put(("failed", item.id, str(exc)))
                return
            results.put(("thumbnail", item.id, image))

        self._start(work)

    def forget(self, item_id: int) -> None:
        self._cache.pop(item_id, None)
        self._broken.discard(item_id)

    # --- large previews and other jobs -------------------------------------------------

    def request_preview(self, item: GalleryItem, bound: QSize) -> None:
        """The picture itself, scaled to fit `bound`, for the detail pane."""
        results = self._results

        def work() -> None:
            try:
                image = _read_scaled(str(item.path), bound)
            except OSError:
                image = QImage()
            results.put(("preview", item.id, image))

        self._start(work, priority=1)

    def run_task(self, fn: Callable[[], Any], callback: Callable[[Any], None]) -> None:
        """Run `fn` on the pool; `callback(result or exception)` runs on the UI thread."""
        results = self._results

        def work() -> None:
            try:
                result: Any = fn()
            except Exception as exc:  # handed to the callback, which shows a sentence
                result = exc
            results.put(("task", 0, (callback, result)))

        self._start(work)

    def wait(self, msecs: int = -1) -> bool:
        """Block until queued work is done and the pool's threads have exited."""
        return self._pool.waitForDone(msecs)

    def shutdown(self) -> None:
        self._timer.stop()
        self._pool.clear()
        self._pool.waitForDone()

    # --- internals -------------------------------------------------------------------

    def _start(self, work: Callable[[], None], priority: int = 0) -> None:
        self._outstanding += 1
        if not self._timer.isActive():
            self._timer.start()
        self._pool.start(_Job(work), priority)

    def _drain(self) -> None:
        arrived: list[int] = []
        while True:
            try:
                kind, item_id, payload = self._results.get_nowait()
            except queue.Empty:
                break
            self._outstanding -= 1
            if kind == "thumbnail":
                self._pending.discard(item_id)
                self._cache[item_id] = QPixmap.fromImage(payload)
                arrived.append(item_id)
            elif kind == "failed":
                self._pending.discard(item_id)
                self._broken.add(item_id)
                arrived.append(item_id)
            elif kind == "preview":
                self.previewLoaded.emit(item_id, payload)
            else:
                callback, result = payload
                callback(result)
        while len(self._cache) > CACHE_LIMIT:
            self._cache.popitem(last=False)
        if arrived:
            for listener in list(self._listeners):
                listener(arrived)
        if self._outstanding <= 0:
            self._outstanding = 0
            self._timer.stop()
