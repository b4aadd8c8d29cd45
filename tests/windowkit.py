"""The real main window for tests that leave jobs queued."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any


def closing_window_fixture() -> Any:
    """A ``window`` fixture on the tiny model that cancels its jobs before closing. Not
    qtbot.addWidget: pytest-qt would close it, with jobs pending, before the fixture cancels
    them, and closing with jobs pending asks. Use: ``window = closing_window_fixture()``."""
    import pytest

    from app.ui.main_window import MainWindow

    @pytest.fixture
    def window(qtbot: Any, tiny_model_dir: Path) -> Iterator[MainWindow]:
        w = MainWindow(model_path=str(tiny_model_dir))
        w.show()
        yield w
        w.cancel_all()
        assert w.close()
        w.deleteLater()

    return window
