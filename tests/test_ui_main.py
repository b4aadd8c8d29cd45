"""The real main window, end to end on the tiny model folder (offscreen)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from app.library.gallery import Gallery
from app.library.pngio import read_parameters
from app.ui.main_window import NO_MODEL, MainWindow
from app.ui.settings import load_settings
from app.ui.state import CANCELLED, DONE, FAILED

TIMEOUT = 60_000


pytestmark = pytest.mark.usefixtures("no_engine_thread_left")


@pytest.fixture
def make_window(qtbot, tiny_model_dir: Path) -> Iterator[Callable[..., MainWindow]]:
    windows: list[MainWindow] = []

    def make(model: str | None = str(tiny_model_dir), start: bool = True) -> MainWindow:
        w = MainWindow(model_path=model)
        qtbot.addWidget(w)
        w.show()
        if start:
            with qtbot.waitSignal(w.worker.engineReady, timeout=TIMEOUT):
                w.start_engine()
        windows.append(w)
        return w

    yield make
    for w in windows:
        w.close()


@pytest.fixture
def window(make_window: Callable[..., MainWindow]) -> MainWindow:
    return make_window()


def set_up(w: MainWindow, qtbot, prompt: str = "a red fox", steps: int = 2, batch: int = 1) -> None:
    w.prompt_panel.prompt.clear()
    qtbot.keyClicks(w.prompt_panel.prompt, prompt)
    panel = w.settings_panel
    panel.steps.setValue(steps)
    panel.width_spin.setValue(64)
    panel.height_spin.setValue(64)
    panel.seed.setValue(42)
    panel.batch_size.setValue(batch)
    panel.batch_count.setValue(1)


def test_generate_end_to_end(qtbot, window: MainWindow) -> None:
    set_up(window, qtbot, "a lighthouse at dusk", batch=2)
    previews = []
    window.worker.preview.connect(lambda _j, img: previews.append(img))
    with qtbot.waitSignal(window.worker.jobFinished, timeout=TIMEOUT) as done:
        qtbot.mouseClick(window.generate_button, Qt.MouseButton.LeftButton)
    job_id, result = done.args

    assert result.seeds == [42, 43]
    assert previews, "no live preview arrived"
    assert not window.preview_panel.preview.image().isNull()
    assert window.preview_panel.thumbs.count() == 2
    assert window.jobs.get(job_id).state == DONE
    assert window.preview_panel.progress_label.text().startswith("Done in")
    with Gallery() as g:
        rows = {str(item.path): item for item in g.items()}
    for path, seed in zip(result.paths, result.seeds, strict=True):
        params = read_parameters(Path(path))
        assert params is not None
        assert params.startswith("a lighthouse at dusk")
        assert f"Seed: {seed}" in params and "Steps: 2" in params and "Size: 64x64" in params
        assert rows[path].seed == seed
    # The gallery tab got the new pictures too.
    assert window.gallery_widget is not None
    assert window.gallery_widget.model.rowCount() == 2


def test_ctrl_enter_generates_and_escape_cancels(qtbot, window: MainWindow) -> None:
    set_up(window, qtbot, steps=200)
    with qtbot.waitSignal(window.worker.progress, timeout=TIMEOUT):
        qtbot.keyClick(
            window.prompt_panel.prompt, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier
        )
    assert "\n" not in window.prompt_panel.prompt_text()
    assert window.cancel_button.isEnabled()
    with qtbot.waitSignal(window.worker.jobCancelled, timeout=TIMEOUT) as cancelled:
        qtbot.keyClick(window.prompt_panel.prompt, Qt.Key.Key_Escape)
    assert window.jobs.get(cancelled.args[0]).state == CANCELLED
    assert not window.cancel_button.isEnabled()
    with Gallery() as g:
        assert g.items() == []


def test_cancel_button_stops_the_running_job(qtbot, window: MainWindow) -> None:
    set_up(window, qtbot, steps=200)
    window.worker.progress.connect(
        lambda _j, step, _t, _e: (
            qtbot.mouseClick(window.cancel_button, Qt.MouseButton.LeftButton) if step == 1 else None
        )
    )
    with qtbot.waitSignal(window.worker.jobCancelled, timeout=TIMEOUT):
        window.generate()
    assert window.preview_panel.progress_label.text() == "Cancelled"
    assert window.preview_panel.thumbs.count() == 0


def test_finish_now_keeps_the_picture_reached(qtbot, window: MainWindow) -> None:
    """The webui's Interrupt: the running step finishes, the picture it reached is saved like
    any other, and the status says at which step it stopped."""
    set_up(window, qtbot, steps=200)
    button = window.preview_panel.finish_button
    assert button.isHidden()
    window.worker.progress.connect(
        lambda _j, step, _t, _e: (
            qtbot.mouseClick(button, Qt.MouseButton.LeftButton) if step == 1 else None
        )
    )
    with qtbot.waitSignal(window.worker.jobFinished, timeout=TIMEOUT) as done:
        window.generate()
    _job_id, result = done.args
    assert len(result.paths) == 1 and Path(result.paths[0]).is_file()
    note = next(n for n in result.notes if n.startswith("Interrupted at step"))
    step = int(note.split()[3])
    assert 2 <= step < 200 and note.endswith("of 200: this is the picture it had reached.")
    assert "Interrupted at step" in window.preview_panel.progress_label.text()
    assert "Steps: 200" in (read_parameters(Path(result.paths[0])) or "")  # the request as asked
    assert button.isHidden()
    with Gallery() as g:
        assert [str(i.path) for i in g.items()] == result.paths


def test_queue_of_three_runs_in_order(qtbot, window: MainWindow) -> None:
    finished: list[int] = []
    window.worker.jobFinished.connect(lambda j, _r: finished.append(j))
    ids = []
    for prompt in ("first", "second", "third"):
        set_up(window, qtbot, prompt)
        ids += window.generate()
    assert len(ids) == 3
    assert window.queue_panel.list.count() == 3
    qtbot.waitUntil(lambda: len(finished) == 3, timeout=TIMEOUT)
    assert finished == ids
    assert [window.jobs.get(i).state for i in ids] == [DONE] * 3
    with Gallery() as g:
        prompts = sorted(item.prompt for item in g.items())
    assert prompts == ["first", "second", "third"]
    assert window.queue_panel.count_label.text() == "idle"
    # Clicking a finished job shows its picture.
    first = window.queue_panel.item_for(ids[0])
    rect = window.queue_panel.list.visualItemRect(first)
    qtbot.mouseClick(
        window.queue_panel.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center()
    )
    assert window.preview_panel.preview.image() == QImage(window.jobs.get(ids[0]).paths[0])


def test_cancel_one_queued_job_of_three(qtbot, window: MainWindow) -> None:
    finished: list[int] = []
    window.worker.jobFinished.connect(lambda j, _r: finished.append(j))
    set_up(window, qtbot, "keep one", steps=20)  # long enough that the others still wait
    ids = window.generate()
    window.settings_panel.steps.setValue(2)
    for prompt in ("drop me", "keep two"):
        window.prompt_panel.prompt.setPlainText(prompt)
        ids += window.generate()
    window.queue_panel.list.setCurrentItem(window.queue_panel.item_for(ids[1]))
    assert window.queue_panel.cancel_button.isEnabled()
    qtbot.mouseClick(window.queue_panel.cancel_button, Qt.MouseButton.LeftButton)
    assert window.jobs.get(ids[1]).state == CANCELLED  # removed at once, never started
    qtbot.waitUntil(lambda: len(finished) == 2, timeout=TIMEOUT)
    assert finished == [ids[0], ids[2]]
    with Gallery() as g:
        assert sorted(i.prompt for i in g.items()) == ["keep one", "keep two"]


def test_cancel_all(qtbot, window: MainWindow) -> None:
    set_up(window, qtbot, steps=200)
    with qtbot.waitSignal(window.worker.progress, timeout=TIMEOUT):
        ids = window.generate() + window.generate() + window.generate()
    cancelled: list[int] = []
    window.worker.jobCancelled.connect(cancelled.append)
    qtbot.mouseClick(window.queue_panel.cancel_all_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: sorted(cancelled) == ids, timeout=TIMEOUT)
    assert window.jobs.active() == []


def test_errors_show_one_sentence_and_the_app_keeps_working(
    qtbot, make_window: Callable[..., MainWindow], tiny_model_dir: Path, tmp_path: Path
) -> None:
    window = make_window(model=None)
    set_up(window, qtbot)
    assert window.generate() == []
    assert window.banner.message() == NO_MODEL

    bad = tmp_path / "not-a-model"
    bad.mkdir()
    window.set_model_path(str(bad))
    with qtbot.waitSignal(window.worker.jobFailed, timeout=TIMEOUT) as failed:
        window.generate()
    message = window.banner.message()
    assert message == failed.args[1]
    assert "model_index.json" in message and "\n" not in message and "Traceback" not in message
    assert window.jobs.get(failed.args[0]).state == FAILED

    window.set_model_path(str(tiny_model_dir))
    with qtbot.waitSignal(window.worker.jobFinished, timeout=TIMEOUT):
        window.generate()
    assert window.banner.message() == ""


def test_settings_and_geometry_persist(
    qtbot, make_window: Callable[..., MainWindow], tiny_model_dir: Path
) -> None:
    first = make_window(start=False)
    set_up(first, qtbot, "a castle in the clouds", steps=17, batch=3)
    first.prompt_panel.negative.setPlainText("fog")
    first.settings_panel.sampler.setCurrentText("Euler a")
    first.settings_panel.cfg.setValue(4.5)
    first.settings_panel.size_preset.setCurrentText("512 × 768")
    first.resize(780, 560)  # inside the offscreen screen (800x600), or restore clamps it
    expected = (first.width(), first.height())
    assert expected != (1440, 900)
    first.close()
    assert load_settings().prompt == "a castle in the clouds"

    second = make_window(model=None, start=False)
    s = second.current_settings()
    assert (s.prompt, s.negative_prompt, s.sampler, s.steps, s.cfg_scale) == (
        "a castle in the clouds",
        "fog",
        "Euler a",
        17,
        4.5,
    )
    assert (s.width, s.height, s.batch_size, s.seed) == (512, 768, 3, 42)
    assert s.model_path == str(tiny_model_dir)
    assert second.model_picker.current_path() == str(tiny_model_dir)
    assert (second.width(), second.height()) == expected


def test_reuse_last_seed(qtbot, window: MainWindow) -> None:
    set_up(window, qtbot)
    window.settings_panel.seed.setValue(-1)
    with qtbot.waitSignal(window.worker.jobFinished, timeout=TIMEOUT) as done:
        window.generate()
    qtbot.mouseClick(window.settings_panel.reuse_seed, Qt.MouseButton.LeftButton)
    assert window.settings_panel.seed.seed() == done.args[1].seeds[0]
    qtbot.mouseClick(window.settings_panel.random_seed, Qt.MouseButton.LeftButton)
    assert window.settings_panel.seed.seed() == -1


def test_canvas_generation_goes_back_to_the_canvas(qtbot, window: MainWindow, photo: Path) -> None:
    set_up(window, qtbot, "repaint this")
    assert window.canvas.load_image(str(photo))
    before = window.canvas.current_image()
    window.tabs.setCurrentWidget(window.canvas)
    with qtbot.waitSignal(window.worker.jobFinished, timeout=TIMEOUT) as done:
        qtbot.keyClick(window.canvas, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    result = done.args[1]
    assert result.tag == "canvas"
    params = read_parameters(Path(result.paths[0]))
    assert params is not None and "Denoising strength" in params and "Size: 64x64" in params
    after = window.canvas.current_image()
    assert after.size() == before.size() and after != before  # the result is on the canvas


def test_gallery_restore_fills_the_generate_tab(qtbot, window: MainWindow) -> None:
    from app.request import GenerationRequest

    window.restore_request(
        GenerationRequest(
            "restored",
            negative_prompt="neg",
            sampler="DDIM",
            steps=9,
            seed=5,
            width=512,
            height=768,
        )
    )
    s = window.current_settings()
    assert (s.prompt, s.negative_prompt, s.sampler, s.steps, s.seed, s.width, s.height) == (
        "restored",
        "neg",
        "DDIM",
        9,
        5,
        512,
        768,
    )
    assert window.tabs.currentIndex() == 0


def test_jobs_queued_before_the_engine_is_ready_run_once_it_is(
    qtbot, make_window: Callable[..., MainWindow]
) -> None:
    window = make_window(start=False)
    set_up(window, qtbot, "early bird")
    ids = window.generate()
    assert window.jobs.get(ids[0]).state == "queued"
    with qtbot.waitSignal(window.worker.jobFinished, timeout=TIMEOUT) as done:
        window.start_engine()
    assert done.args[0] == ids[0]
    assert window.engine_label.property("state") == "ready"


# -- the small pieces the window binds to --------------------------------------------------


def test_progress_text_and_excerpt() -> None:
    from app.ui.state import excerpt, progress_text

    assert progress_text(5, 20, 10.0) == "Step 5/20  ·  30 s left"
    assert progress_text(2, 20, 100.0) == "Step 2/20  ·  15 min 00 s left"
    assert progress_text(20, 20, 10.0) == "Step 20/20  ·  saving…"
    assert excerpt("  a   lighthouse\nat dusk ") == "a lighthouse at dusk"
    long = excerpt("word " * 40)
    assert len(long) <= 60 and long.endswith("…")
    assert excerpt("") == "(empty prompt)"


def test_settings_file_is_lenient(easel_home: Path) -> None:
    from app.ui.settings import UiSettings, save_settings, settings_path

    settings_path().write_text("{not json")
    assert load_settings() == UiSettings()
    settings_path().write_text(
        '{"steps": 99999, "width": 517, "sampler": "nope", "seed": "x", "extra": 1}'
    )
    s = load_settings()
    assert (s.steps, s.width, s.sampler, s.seed) == (1000, 512, UiSettings().sampler, -1)
    s.remember_model("/a")
    s.remember_model("/b")
    s.remember_model("/a")
    save_settings(s)
    assert load_settings().recent_models == ["/a", "/b"]


def test_paint_a_mask_and_inpaint(qtbot, window: MainWindow, photo: Path) -> None:
    """Mask painted with the mouse on the canvas -> inpaint job -> only the masked area changes."""
    import numpy as np
    from PIL import Image
    from PySide6.QtCore import QPointF
    from PySide6.QtTest import QTest

    from app.ui.canvas_tools import Tool

    set_up(window, qtbot, "a blue door")
    window.tabs.setCurrentWidget(window.canvas)
    qtbot.waitExposed(window.canvas)
    assert window.canvas.load_image(str(photo))
    window.canvas.set_tool(Tool.MASK)
    window.canvas.set_brush_size(16)
    view = window.canvas.view
    start, end = (
        view.to_widget(QPointF(20, 32)).toPoint(),
        view.to_widget(QPointF(44, 32)).toPoint(),
    )
    QTest.mousePress(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    QTest.mouseMove(view, end)
    QTest.mouseRelease(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, end)
    assert window.canvas.current_mask() is not None
    with qtbot.waitSignal(window.worker.jobFinished, timeout=TIMEOUT) as done:
        window.canvas.generate_button.click()
    result = done.args[1]
    params = read_parameters(Path(result.paths[0])) or ""
    assert "Mask blur" in params and "Denoising strength" in params
    out = np.asarray(Image.open(result.paths[0]).convert("RGB"), dtype=int)
    original = np.asarray(Image.open(photo).convert("RGB"), dtype=int)
    assert out.shape == original.shape
    assert (out[0:8] == original[0:8]).all()  # far from the mask: untouched, bit for bit
    assert np.abs(out[28:36, 26:38] - original[28:36, 26:38]).max() > 0  # inside: repainted
