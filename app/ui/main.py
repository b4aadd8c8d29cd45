"""``run_app()``: show the window first, then start the engine thread (torch loads there).

With ``EASEL_STARTUP_PROBE=1`` the app prints ``window-exposed <unix time>`` when the window
is first on screen and exits at once (``bench/startup.py`` measures launch-to-window).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication

PROBE_ENV = "EASEL_STARTUP_PROBE"


class _FirstExpose(QObject):
    """Calls back once, when the window is first exposed (painted on screen)."""

    def __init__(self, callback: object) -> None:
        super().__init__()
        self._callback = callback
        self._done = False

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if not self._done and event.type() == QEvent.Type.Expose and watched.isExposed():  # type: ignore[attr-defined]
            self._done = True
            QTimer.singleShot(0, self._callback)  # type: ignore[arg-type]
        return False


def _parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """Our options, and the rest for Qt (-style, -platform...)."""
    parser = argparse.ArgumentParser(prog="easel", add_help=True)
    parser.add_argument("--model", metavar="PATH", help="a diffusers model folder to open")
    return parser.parse_known_args(argv)


def create_application(argv: list[str] | None = None) -> QApplication:
    app = QApplication.instance()
    if app is None:
        app = QApplication([sys.argv[0], *(argv or [])])
    from app.ui.resources import icon, style_sheet

    app.setApplicationName("Easel")
    app.setOrganizationName("Easel")
    app.setApplicationDisplayName("Easel")
    app.setStyle("Fusion")  # the same widgets everywhere; the style sheet does the rest
    app.setStyleSheet(style_sheet())
    app.setWindowIcon(icon("easel"))
    from app.ui.imageio import release_clipboard

    app.aboutToQuit.connect(release_clipboard)
    return app  # type: ignore[return-value]


def run_app(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args, qt_args = _parse(argv)
    app = create_application(qt_args)
    from app.ui.main_window import MainWindow

    window = MainWindow(model_path=args.model)
    probe = os.environ.get(PROBE_ENV) == "1"
    if probe:

        def report() -> None:
            print(f"window-exposed {time.time():.6f}", flush=True)
            os._exit(0)  # the probe measures the window only; skip waiting for torch

        watcher = _FirstExpose(report)
        window.show()
        handle = window.windowHandle()
        if handle is not None:
            handle.installEventFilter(watcher)
        if handle is None or handle.isExposed():
            QTimer.singleShot(0, report)
    else:
        window.show()
    # The engine thread starts once the window is up, so torch never delays the first paint.
    QTimer.singleShot(0, window.start_engine)
    return app.exec()
