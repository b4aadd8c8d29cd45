"""Queue entries say their mode and show a thumbnail; Esc cancels only from the prompt,
preview or queue (never to close a popup); more than 50 images at once ask first; the window
and the CLI share one limit for images per job."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication

from app.__main__ import build_parser
from app.cli import build_request
from app.errors import InvalidRequest
from app.request import MAX_BATCH, GenerationRequest, validate
from app.ui.main_window import MainWindow
from app.ui.queue_guard import ASK_ABOVE_IMAGES, many_images_question
from app.ui.queue_panel import DETAIL_ROLE, THUMB_ROLE
from tests.dialogs import Answer
from tests.windowkit import closing_window_fixture

TIMEOUT = 60_000


pytestmark = pytest.mark.usefixtures("no_engine_thread_left")


window = closing_window_fixture()


def small(**changes: object) -> GenerationRequest:
    return GenerationRequest(prompt="a boat", width=64, height=64, steps=2, seed=1).replace(
        **changes
    )


def test_queue_entries_show_mode_and_thumbnail(qtbot, window: MainWindow, photo: Path) -> None:
    picture = Image.open(photo).convert("RGB")
    mask = Image.new("L", picture.size, 255)
    ids = [
        window.submit(small()),
        window.submit(small(mode="img2img", init_image=picture, strength=0.5)),
        window.submit(small(mode="inpaint", init_image=str(photo), mask=mask)),
        window.submit(small(mode="outpaint", init_image=picture, outpaint=(0, 32, 0, 0))),
    ]
    assert all(i is not None for i in ids)
    items = [window.queue_panel.item_for(i) for i in ids]  # type: ignore[arg-type]
    details = [item.data(DETAIL_ROLE) for item in items]  # type: ignore[union-attr]
    assert [d.split("  ·  ")[0] for d in details] == ["Txt2img", "Img2img", "Inpaint", "Outpaint"]
    thumbs = [item.data(THUMB_ROLE) for item in items]  # type: ignore[union-attr]
    assert thumbs[0] is None  # nothing to show until the picture exists
    for thumb in thumbs[1:]:
        assert isinstance(thumb, QImage) and not thumb.isNull()
        assert max(thumb.width(), thumb.height()) == 40
    window.queue_panel.list.viewport().grab()  # the delegate paints thumbnails without error


def test_a_finished_job_shows_its_result(qtbot, window: MainWindow) -> None:
    with qtbot.waitSignal(window.worker.engineReady, timeout=TIMEOUT):
        window.start_engine()
    with qtbot.waitSignal(window.worker.jobFinished, timeout=TIMEOUT) as done:
        job = window.submit(small())
    assert done.args[0] == job
    item = window.queue_panel.item_for(job)  # type: ignore[arg-type]
    thumb = item.data(THUMB_ROLE)  # type: ignore[union-attr]
    assert isinstance(thumb, QImage) and thumb.width() == 40
    assert item.data(DETAIL_ROLE).startswith("Txt2img  ·  done")  # type: ignore[union-attr]


def test_more_than_50_images_ask_first(qtbot, window: MainWindow) -> None:
    panel = window.settings_panel
    window.prompt_panel.prompt.setPlainText("a boat")
    panel.width_spin.setValue(64)
    panel.height_spin.setValue(64)
    panel.batch_size.setValue(10)
    panel.batch_count.setValue(6)
    no = Answer("Cancel")
    assert window.generate() == []
    assert no.asked and no.text == many_images_question(60, 6)
    assert window.jobs.entries() == []
    yes = Answer("Queue 60 images")
    assert len(window.generate()) == 6
    assert yes.asked
    panel.batch_size.setValue(ASK_ABOVE_IMAGES)
    panel.batch_count.setValue(1)
    quiet = Answer("Cancel")
    assert len(window.generate()) == 1  # 50 exactly: no question
    assert not quiet.asked


def test_escape_cancels_only_from_prompt_preview_or_queue(qtbot, window: MainWindow) -> None:
    cancels: list[bool] = []
    window.cancel_current = lambda: cancels.append(True)  # type: ignore[method-assign]
    window.activateWindow()
    for target in (window.prompt_panel.prompt, window.preview_panel, window.queue_panel.list):
        target.setFocus()
        qtbot.waitUntil(lambda t=target: QApplication.focusWidget() is t)  # noqa: B023
        window.escape_pressed()
    assert len(cancels) == 3
    window.settings_panel.steps.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is window.settings_panel.steps)
    window.escape_pressed()
    assert len(cancels) == 3  # a settings field: Esc does not cancel
    combo = window.settings_panel.findChild(type(window.model_picker.combo))
    window.prompt_panel.prompt.setFocus()
    combo.showPopup()  # a menu is open: Esc closes it, and nothing else
    qtbot.waitUntil(lambda: QApplication.activePopupWidget() is not None)
    window.escape_pressed()
    assert len(cancels) == 3
    combo.hidePopup()


def test_window_and_cli_share_one_images_per_job_limit(window: MainWindow) -> None:
    assert window.settings_panel.batch_size.maximum() == MAX_BATCH
    args = build_parser().parse_args(["generate", "--prompt", "x", "--batch", str(MAX_BATCH + 1)])
    with pytest.raises(InvalidRequest) as from_cli:
        build_request(args)
    with pytest.raises(InvalidRequest) as from_window:
        validate(small(batch_size=MAX_BATCH + 1))
    assert str(from_cli.value) == str(from_window.value)
    assert f"between 1 and {MAX_BATCH}" in str(from_cli.value)
