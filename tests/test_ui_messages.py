"""Messages: the newest state shows; offline is said once; "Loading…" only while loading;
the preview clears on "Starting…" and "Failed"; import errors in the error banner; "Show in
folder" says so when there is no file manager."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtGui import QImage

from app.library.gallery import Gallery
from app.request import GenerationRequest
from app.ui.gallery_view import GalleryWidget, no_file_manager_text
from app.ui.main_window import MainWindow
from tests.windowkit import closing_window_fixture

TIMEOUT = 90_000


pytestmark = pytest.mark.usefixtures("no_engine_thread_left")


window = closing_window_fixture()


def _texts_saying(w: MainWindow, word: str) -> list[str]:
    from PySide6.QtWidgets import QLabel

    return [
        label.text()
        for label in w.findChildren(QLabel)
        if label.isVisibleTo(w) and word in label.text()
    ] + ([w.statusBar().currentMessage()] if word in w.statusBar().currentMessage() else [])


def test_states_replace_old_notes_and_previews(qtbot, window: MainWindow, tiny_model_dir) -> None:
    bar = window.statusBar()
    with qtbot.waitSignal(window.worker.engineReady, timeout=TIMEOUT):
        window.start_engine()
    qtbot.waitUntil(lambda: window.model_label.text() == "tiny-sd", timeout=TIMEOUT)
    assert "Loading" not in window.model_label.text()

    window.model_manager.message.emit("The computer seems to be offline.")  # a note from Models
    assert bar.currentMessage()
    old = QImage(32, 32, QImage.Format.Format_RGB888)
    old.fill(0x336699)
    window.preview_panel.preview.set_image(old, "old")
    request = GenerationRequest(prompt="a fox", width=64, height=64, steps=2, seed=3)
    starts: list[tuple[str, bool, str]] = []
    window.worker.jobStarted.connect(
        lambda _id: starts.append(
            (
                window.status_label.text(),
                window.preview_panel.preview.image().isNull(),
                bar.currentMessage(),
            )
        )
    )
    with qtbot.waitSignal(window.worker.jobFinished, timeout=TIMEOUT):
        window.submit(request)
    status, preview_cleared, note = starts[0]
    assert status == "Generating…" and note == ""  # the old note does not hide it
    assert preview_cleared
    assert "Loading" not in window.preview_panel.progress_label.text()
    assert window.status_label.isVisible() and window.status_label.text() == "Ready."

    # A job that fails (its model folder is gone) clears the preview and says why, once.
    with qtbot.waitSignal(window.worker.jobFailed, timeout=TIMEOUT):
        window.worker.submit(request, str(tiny_model_dir.parent / "gone"))
    assert window.preview_panel.preview.image().isNull()
    assert window.preview_panel.progress_label.text() == "Failed"
    assert window.banner.message()
    assert "Loading" not in window.status_label.text()


def test_offline_is_said_in_one_place(qtbot, window: MainWindow, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with qtbot.waitSignal(window.model_manager.error, timeout=TIMEOUT):
        window.model_manager.download("sd15")
    qtbot.waitUntil(lambda: window.model_manager.downloading is None)
    assert "offline" in window.banner.message()
    assert len(_texts_saying(window, "offline")) == 1, _texts_saying(window, "offline")


def test_import_errors_in_the_error_banner(qtbot, window: MainWindow, tmp_path: Path) -> None:
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00not json")
    with qtbot.waitSignal(window.models_worker.operationFailed, timeout=TIMEOUT) as failed:
        window.models_worker.import_path(str(broken))
    assert window.banner.message() == failed.args[0]
    assert "Traceback" not in failed.args[0]
    assert window.statusBar().currentMessage() == ""


def test_show_in_folder_says_when_no_file_manager(qtbot) -> None:
    # The offscreen platform has no way to open a folder: exactly the "none found" case.
    with Gallery() as g:
        item = g.add(Image.new("RGB", (64, 64), (9, 9, 9)), "a cat\nSteps: 2, Seed: 1", seed=1)
        w = GalleryWidget(g)
        qtbot.addWidget(w)
        w.show()
        with qtbot.waitSignal(w.reconciled, timeout=5000):
            pass
        w.select_row(0)
        w.reveal_selected()
        assert w.message.isVisible()
        assert w.message.text() == no_file_manager_text(item.path)
        w.shutdown()
