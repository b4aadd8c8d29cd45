"""The canvas as a full place to work: its own prompt and settings reaching the engine,
progress, live preview and cancel, the drawing as a ControlNet control image (a real tiny
ControlNet job), work kept across restarts, and the view at a small window."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QImage, QWheelEvent
from PySide6.QtWidgets import QToolButton

from app.library.pngio import read_parameters
from app.models.registry import ModelInfo
from app.request import ControlUnit, GenerationRequest
from app.ui.canvas import CanvasWidget
from app.ui.canvas_store import MANIFEST, canvas_dir
from app.ui.canvas_tools import Tool
from app.ui.main_window import MainWindow

TIMEOUT = 90_000
RED = QColor(255, 0, 0)


pytestmark = pytest.mark.usefixtures("no_engine_thread_left")


@pytest.fixture
def make_window(qtbot, tiny_model_dir: Path) -> Iterator[Callable[..., MainWindow]]:
    windows: list[MainWindow] = []

    def make(start: bool = True) -> MainWindow:
        w = MainWindow(model_path=str(tiny_model_dir))
        qtbot.addWidget(w)
        w.resize(1024, 640)
        w.show()
        if start:
            # The model listing too, so it cannot arrive later over what a test sets.
            with qtbot.waitSignals(
                [w.worker.engineReady, w.models_worker.modelsListed], timeout=TIMEOUT
            ):
                w.start_engine()
        windows.append(w)
        return w

    yield make
    for w in windows:
        w.close()


def _picture(w: int = 64, h: int = 64, colour: QColor | None = None) -> QImage:
    image = QImage(w, h, QImage.Format.Format_RGB32)
    image.fill(colour or QColor(30, 90, 160))
    return image


def _queued_requests(window: MainWindow) -> list[GenerationRequest]:
    requests: list[GenerationRequest] = []
    window.worker.jobQueued.connect(lambda _job, request: requests.append(request))
    return requests


def test_canvas_generates_with_its_own_prompt_progress_and_preview(
    qtbot, make_window: Callable[..., MainWindow]
) -> None:
    w = make_window()
    w.prompt_panel.set_texts("a prompt from the generate tab", "ugly")
    w.settings_panel.batch_size.setValue(3)  # the canvas makes one picture unless asked
    w.tabs.setCurrentWidget(w.canvas)
    canvas, panel = w.canvas, w.canvas.panel
    assert panel.prompt_text() == "a prompt from the generate tab"  # prefilled
    assert panel.negative_text() == "ugly"
    panel.prompt.clear()
    qtbot.keyClicks(panel.prompt, "a canvas prompt")
    panel.steps.setValue(4)
    panel.seed.setValue(1234)
    w.tabs.setCurrentIndex(0)
    w.prompt_panel.set_texts("changed on the generate tab", "ugly")
    w.tabs.setCurrentWidget(w.canvas)
    assert panel.prompt_text() == "a canvas prompt"  # edited here: kept
    canvas.load_image(_picture())
    requests = _queued_requests(w)
    previews_on_canvas: list[bool] = []
    progress_texts: list[str] = []
    w.worker.preview.connect(lambda *_: previews_on_canvas.append(canvas.view.has_preview()))
    w.worker.progress.connect(lambda *_: progress_texts.append(panel.progress.format()))
    with qtbot.waitSignal(w.worker.jobFinished, timeout=TIMEOUT) as done:
        qtbot.mouseClick(panel.generate_button, Qt.MouseButton.LeftButton)
    request = requests[0]
    assert (request.prompt, request.negative_prompt) == ("a canvas prompt", "ugly")
    assert (request.mode, request.steps, request.seed, request.batch_size) == (
        "img2img",
        4,
        1234,
        1,
    )
    assert request.strength == pytest.approx(panel.strength())
    result = done.args[1]
    assert len(result.paths) == 1
    params = read_parameters(Path(result.paths[0]))
    assert params is not None and params.startswith("a canvas prompt")
    assert "Seed: 1234" in params
    assert previews_on_canvas and all(previews_on_canvas), "no live preview on the canvas"
    assert any(t.startswith("Step ") for t in progress_texts)
    assert panel.progress.format().startswith("Done in")
    assert not panel.cancel_button.isEnabled()
    assert not canvas.view.has_preview()
    assert canvas.doc.undo_stack.count() == 2  # the result came back, undoable


def test_canvas_cancel_stops_its_job(qtbot, make_window: Callable[..., MainWindow]) -> None:
    w = make_window()
    w.tabs.setCurrentWidget(w.canvas)
    canvas, panel = w.canvas, w.canvas.panel
    canvas.load_image(_picture())
    panel.steps.setValue(400)
    panel.strength_slider.setValue(100)
    w.worker.progress.connect(
        lambda _j, step, _t, _e: (
            qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton) if step == 1 else None
        )
    )
    with qtbot.waitSignal(w.worker.jobCancelled, timeout=TIMEOUT):
        canvas.generate()
    assert panel.progress.format() == "Cancelled"
    assert not panel.cancel_button.isEnabled()
    assert not canvas.view.has_preview()
    assert canvas.current_image().pixelColor(5, 5) == QColor(30, 90, 160)  # nothing came back


def _tiny_controlnet_folder(components: dict[str, Any], folder: Path) -> Path:
    import diffusers
    import torch

    shape = diffusers.ControlNetModel.from_unet(
        components["unet"], conditioning_embedding_out_channels=(8, 8, 16, 16)
    ).config
    torch.manual_seed(3)
    # From the config, so every weight is a real tensor (from_unet leaves some on "meta").
    net = diffusers.ControlNetModel.from_config(shape)
    with torch.no_grad():  # random zero convolutions, so the control changes the picture
        for block in [*net.controlnet_down_blocks, net.controlnet_mid_block]:
            block.weight.normal_(0, 0.3)
            block.bias.normal_(0, 0.1)
    net.save_pretrained(folder)
    return folder


def _draw_lines(canvas: CanvasWidget) -> None:
    canvas.doc.stroke(Tool.BRUSH, [QPointF(8, 8), QPointF(56, 56)], 4, QColor("#ffd24a"))
    canvas.doc.stroke(Tool.BRUSH, [QPointF(8, 56), QPointF(56, 8)], 4, QColor("#ffd24a"))


def test_my_drawing_as_the_control_image_runs_a_controlnet_job(
    qtbot, make_window: Callable[..., MainWindow], tiny_components: dict, tmp_path: Path
) -> None:
    # Built before the engine thread starts: diffusers' loading there puts new modules'
    # weights on the "meta" device process-wide while it runs (accelerate's empty init).
    folder = _tiny_controlnet_folder(tiny_components, tmp_path / "tiny-controlnet")
    w = make_window()
    w.tabs.setCurrentWidget(w.canvas)
    canvas, panel = w.canvas, w.canvas.panel
    canvas.new_blank(64, 64)
    _draw_lines(canvas)
    canvas.use_drawing_as_control()
    assert canvas.doc.has_control() and not canvas.doc.has_drawing()  # shown as its own layer
    # No ControlNet installed: one sentence naming the one to download, and no job.
    with qtbot.assertNotEmitted(canvas.generateRequested):
        canvas.generate()
    assert "ControlNet Scribble (SD 1.5)" in panel.message.text()
    assert "Models tab" in panel.message.text()

    info = ModelInfo(
        id=f"folder:{folder}",
        name="tiny-controlnet",
        kind="controlnet",
        family="sd1",
        source="folder",
        path=str(folder),
        size_bytes=1,
        installed=True,
    )
    listing = {"models": [info.to_dict()], "disk": 1, "locations": {}}
    w.models_worker.modelsListed.emit(listing)
    assert panel.controlnet() == str(folder)
    assert panel.message.text() == ""
    panel.steps.setValue(3)
    panel.seed.setValue(9)
    requests = _queued_requests(w)
    failures: list[str] = []
    w.worker.jobFailed.connect(lambda _j, message: failures.append(message))
    with qtbot.waitSignal(w.worker.jobFinished, timeout=TIMEOUT) as done:
        canvas.generate()
    assert failures == []
    request = requests[0]
    assert request.mode == "txt2img"  # a drawing on a blank picture makes a new one
    assert (request.width, request.height) == (64, 64)
    (unit,) = request.controlnets
    assert isinstance(unit, ControlUnit)
    assert (unit.model, unit.preprocessor) == (str(folder), "scribble")
    control = unit.image.convert("L")
    assert control.size == (64, 64)
    assert control.getpixel((32, 32)) < 60 and control.getpixel((32, 4)) == 255  # lines dark
    params = read_parameters(Path(done.args[1].paths[0]))
    assert params is not None and "ControlNet 0:" in params and "scribble" in params
    # The result is on the canvas; the control layer stays for the next try.
    assert canvas.doc.has_control()
    assert canvas.mode() == "img2img"


def test_canvas_work_is_kept_across_restarts_until_cleared(qtbot) -> None:
    first = CanvasWidget()
    qtbot.addWidget(first)
    first.load_image(_picture(96, 64))
    first.doc.stroke(Tool.BRUSH, [QPointF(20, 20), QPointF(60, 20)], 6, RED)
    first.doc.stroke(Tool.MASK, [QPointF(30, 40), QPointF(50, 40)], 10, RED)
    first.extend_canvas(0, 0, 32, 0)
    first.doc.stroke(Tool.BRUSH, [QPointF(10, 50), QPointF(40, 50)], 4, RED)
    first.use_drawing_as_control()
    first.panel.prompt.setPlainText("kept prompt")
    first.panel.steps.setValue(17)
    manifest = canvas_dir() / MANIFEST
    qtbot.waitUntil(manifest.is_file, timeout=5000)  # the autosave timer wrote it
    first.save_now()
    image, mask = first.current_image(), first.current_mask()
    control = first.doc.control_drawing()
    first.close()
    assert not list(canvas_dir().glob(".*.tmp"))  # atomic writes leave no temporary file

    second = CanvasWidget()  # a restart: a new widget on the same home folder
    qtbot.addWidget(second)
    assert second.current_image() == image
    assert second.current_mask() == mask
    assert second.doc.control_drawing() == control
    assert second.extension() == (0, 0, 32, 0)
    assert second.panel.prompt_text() == "kept prompt" and second.panel.steps.value() == 17
    second.prefill("from the generate tab", "", 30)
    assert second.panel.prompt_text() == "kept prompt"  # edited before the restart: kept
    assert second.doc.undo_stack.count() == 0

    second.clear_canvas()
    assert second.doc.is_empty()
    assert not list(canvas_dir().glob("*.png"))
    second.save_now()
    third = CanvasWidget()
    qtbot.addWidget(third)
    assert third.doc.is_empty()
    second.doc.undo_stack.undo()  # clearing can be undone, and is kept again
    second.save_now()
    fourth = CanvasWidget()
    qtbot.addWidget(fourth)
    assert fourth.current_image() == image


def test_a_broken_saved_canvas_starts_empty_with_a_sentence(qtbot) -> None:
    folder = canvas_dir()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MANIFEST).write_text(json.dumps({"layers": {"base": "base-x.png"}}))
    canvas = CanvasWidget()
    qtbot.addWidget(canvas)
    assert canvas.doc.is_empty()
    assert "could not be read" in canvas.panel.message.text()


@pytest.fixture
def small_window(make_window: Callable[..., MainWindow], qtbot) -> MainWindow:
    w = make_window(start=False)
    w.tabs.setCurrentWidget(w.canvas)
    qtbot.waitExposed(w)
    return w


# The canvas tab's size in a 1024x640 window (header, tab bar and status bar take the rest).
TAB_AT_1024x640 = (1024, 529)


def test_toolbar_is_reachable_at_1024x640(qtbot) -> None:
    canvas = CanvasWidget()
    qtbot.addWidget(canvas)
    canvas.resize(*TAB_AT_1024x640)
    canvas.show()
    qtbot.waitExposed(canvas)
    assert (canvas.width(), canvas.height()) == TAB_AT_1024x640  # the canvas fits in it
    bar = canvas.toolbar
    extension = bar.findChild(QToolButton, "qt_toolbar_ext_button")
    assert extension is not None and extension.isVisible()
    assert extension.geometry().right() <= bar.width()  # not cut off by the panel
    hidden = [
        a
        for a in bar.actions()
        if bar.widgetForAction(a) is not None and not bar.widgetForAction(a).isVisible()
    ]
    assert canvas.clear_canvas_action in bar.actions()
    assert hidden, "at 1024 px some actions go to the overflow menu"
    panel = canvas.panel
    for widget in (panel.prompt, panel.negative, panel.generate_button, panel.cancel_button):
        assert widget.isVisible()
        corner = widget.mapTo(canvas, QPoint(widget.width(), widget.height()))
        assert corner.x() <= TAB_AT_1024x640[0] and corner.y() <= TAB_AT_1024x640[1]


def test_wheel_zoom_keeps_the_point_under_the_cursor_and_scrollbars_pan(
    qtbot, small_window: MainWindow
) -> None:
    canvas = small_window.canvas
    canvas.load_image(_picture(400, 300))
    view = canvas.view
    cursor = QPointF(120, 90)
    under = view.to_canvas(cursor)
    event = QWheelEvent(
        cursor,
        view.mapToGlobal(cursor),
        QPoint(0, 0),
        QPoint(0, 240),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.ControlModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    before = view.zoom()
    view.wheelEvent(event)
    assert view.zoom() == pytest.approx(before * 1.25**2)
    after = view.to_canvas(cursor)
    assert (after.x(), after.y()) == (pytest.approx(under.x()), pytest.approx(under.y()))
    hbar = canvas.area.hbar
    assert hbar.maximum() > hbar.minimum()
    origin = view.to_widget(QPointF(0, 0))
    hbar.setValue(hbar.value() + 50)
    assert view.to_widget(QPointF(0, 0)).x() == pytest.approx(origin.x() - 50, abs=1)
    view.set_offset(view.offset() + QPointF(0, -30))  # a pan moves the bar
    assert canvas.area.vbar.value() == round(-view.offset().y())


def test_large_pictures_are_offered_a_scale_down(small_window: MainWindow) -> None:
    canvas = small_window.canvas
    asked: list[tuple[int, int]] = []
    canvas.ask_scale_down = lambda image: asked.append((image.width(), image.height())) or True
    assert canvas.load_image(_picture(5000, 1000))
    assert asked == [(5000, 1000)]
    assert (canvas.doc.base.width(), canvas.doc.base.height()) == (4096, 819)
    canvas.ask_scale_down = lambda image: False
    assert canvas.load_image(_picture(4200, 100))
    assert canvas.doc.base.width() == 4200  # kept as it is when the user says no
    asked.clear()
    canvas.load_image(_picture(4096, 64))
    assert asked == []


def test_send_to_canvas_centres_the_picture(
    qtbot, make_window: Callable[..., MainWindow], tmp_path: Path
) -> None:
    w = make_window(start=False)
    qtbot.waitExposed(w)
    assert w.tabs.currentIndex() == 0  # the canvas has not been shown yet
    path = tmp_path / "sent.png"
    _picture(300, 200).save(str(path))
    w.send_to_canvas(str(path))
    assert w.tabs.currentWidget() is w.canvas
    qtbot.waitUntil(lambda: w.canvas.view.isVisible())
    view = w.canvas.view
    centre = view.to_widget(QPointF(150, 100))
    assert centre.x() == pytest.approx(view.width() / 2, abs=1)
    assert centre.y() == pytest.approx(view.height() / 2, abs=1)


def test_ctrl_enter_in_the_canvas_prompt_generates(qtbot, small_window: MainWindow) -> None:
    canvas = small_window.canvas
    canvas.generateRequested.disconnect(small_window.generate_from_canvas)  # no engine here
    canvas.load_image(_picture())
    canvas.panel.prompt.setPlainText("typed on the canvas")
    canvas.panel.prompt.setFocus()
    with qtbot.waitSignal(canvas.generateRequested, timeout=5000) as blocker:
        qtbot.keyClick(canvas.panel.prompt, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert blocker.args[0]["prompt"] == "typed on the canvas"
    assert "\n" not in canvas.panel.prompt.toPlainText()


def test_the_control_drawing_is_shown_as_a_layer(qtbot, small_window: MainWindow) -> None:
    canvas = small_window.canvas
    canvas.load_image(_picture(64, 64, QColor(0, 0, 0)))
    canvas.doc.stroke(Tool.BRUSH, [QPointF(4, 32), QPointF(60, 32)], 6, QColor(255, 255, 255))
    canvas.use_drawing_as_control()
    view = canvas.view
    spot = view.to_widget(QPointF(32, 32)).toPoint()
    assert view.grab().toImage().pixelColor(spot).lightness() > 150  # the line shows
    canvas.panel.show_control.setChecked(False)
    assert view.grab().toImage().pixelColor(spot).lightness() < 30  # hidden: the picture
    assert canvas.current_image().pixelColor(32, 32) == QColor(0, 0, 0)  # not painted in
    canvas.panel.remove_control.click()
    assert not canvas.doc.has_control()
    canvas.doc.undo_stack.undo()
    assert canvas.doc.has_control()
