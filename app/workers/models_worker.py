"""The model manager's thread: listing, downloads (progress, cancel), imports and removal.

Cheap to import: the engine's model modules load inside the thread. One download at a time;
``cancel_download()`` may be called from any thread (it only sets an Event).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from app.errors import Cancelled, EaselError

log = logging.getLogger(__name__)


class _ModelsLoop(QObject):
    # {"models": [ModelInfo dicts], "disk": bytes Easel's models use, "locations": {label: path}}
    modelsListed = Signal(object)
    downloadProgress = Signal(str, object)  # model id, {done, total, speed, eta, file, phase}
    downloadFinished = Signal(str, str)  # model id, snapshot path
    downloadFailed = Signal(str, str)  # model id, sentence
    downloadCancelled = Signal(str, str)
    operationDone = Signal(str)  # a sentence for the status line
    operationFailed = Signal(str)
    networksListed = Signal(object)  # [{name, kind, family, size_bytes, path, preview, ...}]

    def __init__(self) -> None:
        super().__init__()
        self.cancel = threading.Event()

    @Slot()
    def refresh_networks(self) -> None:
        try:
            from app.models.networks import list_networks

            self.networksListed.emit(list_networks())
        except Exception as exc:  # a broken file must not take the window down
            log.exception("listing LoRAs and embeddings failed")
            self.operationFailed.emit(f"Could not list the LoRAs and embeddings ({exc}).")

    @Slot()
    def refresh(self) -> None:
        try:
            from app.models import hubcache
            from app.models import registry as models

            items = models.list_models()
            self.modelsListed.emit(
                {
                    "models": [m.to_dict() for m in items],
                    "disk": models.disk_usage(items),
                    # The models folders the user added (Delete… forgets them, never deletes).
                    "folders": list(models._load_state().folders),
                    "files": list(models._load_state().files),  # single files used in place
                    "locations": {
                        "Downloads": str(hubcache.hub_cache_dir()),
                        "Imports": str(models.models_dir()),
                    },
                }
            )
        except Exception as exc:  # a broken registry file must not take the window down
            log.exception("listing models failed")
            self.operationFailed.emit(f"Could not list the models ({exc}).")

    @Slot(str)
    def download(self, model_id: str) -> None:
        from app.models import catalog, download

        self.cancel.clear()

        def progress(p: Any) -> None:
            self.downloadProgress.emit(
                model_id,
                {
                    "done": p.done_bytes,
                    "total": p.total_bytes,
                    "speed": p.speed_bps,
                    "eta": p.eta_s,
                    "file": p.current_file,
                    "phase": p.phase,
                },
            )

        try:
            entry = catalog.get(model_id)
            path = download.download_model(entry, on_progress=progress, cancel=self.cancel)
            try:
                # Small config files so later single-file imports work offline.
                download.fetch_family_configs(cancel=self.cancel)
            except EaselError as exc:
                log.warning("family configs not fetched: %s", exc)
            self.downloadFinished.emit(model_id, str(path))
        except Cancelled as exc:
            self.downloadCancelled.emit(model_id, str(exc))
        except KeyError:
            self.downloadFailed.emit(model_id, f"No model {model_id!r} in the catalog.")
        except EaselError as exc:
            self.downloadFailed.emit(model_id, str(exc))
        except Exception as exc:
            log.exception("download failed")
            self.downloadFailed.emit(
                model_id, f"The download failed unexpectedly ({exc}); try again."
            )
        self.refresh()

    @Slot(str)
    def import_path(self, path: str) -> None:
        self._operation(lambda m: m.import_path(path), "Imported {name} ({kind}, {family}).")

    @Slot(str)
    def open_path(self, path: str) -> None:
        """A model opened from the window's picker: listed in place (a folder or one file)."""

        def add(m: Any) -> Any:
            from pathlib import Path

            return m.import_path(path) if Path(path).is_dir() else m.add_file(path)

        self._operation(add, "{name} is in your models now.")

    @Slot(str)
    def remove(self, model_id: str) -> None:
        self._operation(lambda m: m.remove(model_id), "{text}")

    @Slot(str)
    def set_default(self, model_id: str) -> None:
        self._operation(lambda m: m.set_default(model_id), "{name} is now the default model.")

    def _operation(self, fn: Any, template: str) -> None:
        try:
            from app.models import registry as models

            out = fn(models)
            if isinstance(out, str):
                self.operationDone.emit(template.format(text=out))
            else:
                self.operationDone.emit(
                    template.format(name=out.name, kind=out.kind, family=out.family or "unknown")
                )
        except EaselError as exc:
            self.operationFailed.emit(str(exc))
        except Exception as exc:
            log.exception("model operation failed")
            self.operationFailed.emit(f"That did not work ({exc}); nothing was changed.")
        self.refresh()


class ModelsWorker(QObject):
    """Main-thread face of the models thread; connect to its signals from the UI."""

    modelsListed = Signal(object)
    downloadProgress = Signal(str, object)
    downloadFinished = Signal(str, str)
    downloadFailed = Signal(str, str)
    downloadCancelled = Signal(str, str)
    operationDone = Signal(str)
    operationFailed = Signal(str)
    networksListed = Signal(object)
    # Requests, delivered to the loop in its thread (queued connections).
    _refresh = Signal()
    _refresh_networks = Signal()
    _download = Signal(str)
    _import = Signal(str)
    _open = Signal(str)
    _remove = Signal(str)
    _default = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread = QThread()
        self._thread.setObjectName("easel-models")
        self._loop = _ModelsLoop()
        self._loop.moveToThread(self._thread)
        for name in (
            "modelsListed", "downloadProgress", "downloadFinished", "downloadFailed",
            "downloadCancelled", "operationDone", "operationFailed", "networksListed",
        ):  # fmt: skip
            getattr(self._loop, name).connect(getattr(self, name))
        self._refresh.connect(self._loop.refresh)
        self._refresh_networks.connect(self._loop.refresh_networks)
        self._download.connect(self._loop.download)
        self._import.connect(self._loop.import_path)
        self._open.connect(self._loop.open_path)
        self._remove.connect(self._loop.remove)
        self._default.connect(self._loop.set_default)
        self._thread.start()

    def refresh(self) -> None:
        self._refresh.emit()

    def refresh_networks(self) -> None:
        self._refresh_networks.emit()

    def download(self, model_id: str) -> None:
        self._download.emit(model_id)

    def cancel_download(self) -> None:
        self._loop.cancel.set()

    def import_path(self, path: str) -> None:
        self._import.emit(path)

    def open_path(self, path: str) -> None:
        """List a model the user opened (file or folder) where it is, without copying."""
        self._open.emit(path)

    def remove(self, model_id: str) -> None:
        self._remove.emit(model_id)

    def set_default(self, model_id: str) -> None:
        self._default.emit(model_id)

    @property
    def qthread(self) -> QThread:
        return self._thread

    def shutdown(self, timeout_ms: int = 10000) -> None:
        self._loop.cancel.set()
        self._thread.quit()
        self._thread.wait(timeout_ms)
