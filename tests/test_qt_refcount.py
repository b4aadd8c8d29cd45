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
