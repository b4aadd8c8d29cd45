"""Guard against the Qt binding bug that crashed the app: PySide6 6.12.0 on Python 3.11 drops a
reference to None on every void call and to True on every signal emit, until CPython aborts
with "none_dealloc". pyproject.toml pins a release without it; this test keeps it that way."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QPainterPath


class _Emitter(QObject):
    fired = Signal(int)


def test_void_calls_keep_none_alive() -> None:
    path = QPainterPath()
    before = sys.getrefcount(None)
    for _ in range(1000):
        path.moveTo(1, 1)
    assert sys.getrefcount(None) - before > -50


def test_emits_keep_true_alive() -> None:
    emitter = _Emitter()
    before = sys.getrefcount(True)
    for _ in range(1000):
        emitter.fired.emit(1)
    assert sys.getrefcount(True) - before > -50


def test_quitting_after_copying_an_image_does_not_crash() -> None:
    """Qt frees the clipboard's QMimeData after Python has shut down; one made in Python then
    crashed the process on exit (SIGSEGV). The app swaps it for a Qt-made copy on quit."""
    import os
    import subprocess

    code = (
        "from PySide6.QtCore import QTimer\n"
        "from PySide6.QtGui import QImage\n"
        "from app.ui.main import create_application\n"
        "from app.ui.imageio import copy_image_to_clipboard\n"
        "app = create_application([])\n"
        "img = QImage(8, 8, QImage.Format.Format_RGB32); img.fill(0)\n"
        "copy_image_to_clipboard(img, 'picture.png')\n"
        "QTimer.singleShot(0, app.quit)\n"
        "app.exec()\n"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=60)
    assert out.returncode == 0, (out.returncode, out.stderr[-500:])
