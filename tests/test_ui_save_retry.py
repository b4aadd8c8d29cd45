"""The real window on the tiny model: a full disk while saving a generated picture is one
sentence in the banner with "Retry save", and the picture is saved once space is back;
a rebuilt gallery index is announced in the window."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import Qt

from app.library.gallery import Gallery
from app.ui.main_window import MainWindow

TIMEOUT = 60_000


pytestmark = pytest.mark.usefixtures("no_engine_thread_left")


def test_full_disk_during_save_offers_retry(qtbot, tiny_model_dir: Path, monkeypatch) -> None:
    w = MainWindow(model_path=str(tiny_model_dir))
    qtbot.addWidget(w)
    w.show()
    try:
        with qtbot.waitSignal(w.worker.engineReady, timeout=TIMEOUT):
            w.start_engine()
        panel = w.settings_panel
        panel.steps.setValue(2)
        panel.width_spin.setValue(64)
        panel.height_spin.setValue(64)
        panel.seed.setValue(7)
        panel.batch_size.setValue(2)
        qtbot.keyClicks(w.prompt_panel.prompt, "a lighthouse")
        before = w.gallery.count()

        def disk_full(_fd: int) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(os, "fsync", disk_full)
        with qtbot.waitSignal(w.worker.jobFailed, timeout=TIMEOUT):
            qtbot.mouseClick(w.generate_button, Qt.MouseButton.LeftButton)
        message = w.banner.message()
        assert message.startswith("2 pictures could not be saved because the disk holding")
        assert message.endswith(
            "then press Retry save (they are kept in memory until Easel closes)."
        )
        assert w.banner.action_button.isVisible() and w.banner.action_button.text() == "Retry save"
        assert w.gallery.count() == before

        w.banner.action_button.click()  # still full: the banner stays
        assert w.banner.isVisible() and w.gallery.unsaved_count == 2

        monkeypatch.undo()
        w.banner.action_button.click()
        assert not w.banner.isVisible()
        assert w.gallery.count() == before + 2 and w.gallery.unsaved_count == 0
        seeds = sorted(item.seed for item in w.gallery.items(limit=2))
        assert seeds == [7, 8]
        assert w.gallery_widget is not None and w.gallery_widget.model.item(0).seed in (7, 8)
    finally:
        w.close()


def test_rebuilt_index_message_in_the_window(qtbot) -> None:
    with Gallery() as g:
        for i in range(3):
            g.add(Image.new("RGB", (16, 16)), f"p {i}\nSeed: {i}", seed=i)
        index = g.index_path
    index.write_bytes(b"garbage" * 1000)
    for suffix in ("-wal", "-shm"):
        Path(f"{index}{suffix}").unlink(missing_ok=True)
    w = MainWindow(model_path=None)
    qtbot.addWidget(w)
    w.show()
    try:
        assert w.gallery_widget is not None
        qtbot.waitUntil(lambda: w.banner.isVisible(), timeout=10_000)
        text = "The gallery index was damaged and has been rebuilt from 3 pictures."
        assert w.banner.message() == text
    finally:
        w.close()
