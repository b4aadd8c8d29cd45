"""Upscaling a gallery picture from the window: the dialog, the worker thread, tile progress,
cancel, and the new PNG in the gallery with the webui's Postprocess parameters."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from app.engine.upscale_job import upscale_to_gallery
from app.library.gallery import Gallery
from app.library.pngio import read_parameters
from app.ui.gallery_view import GalleryWidget
from app.ui.upscale_dialog import NO_MODELS_HINT, UpscaleFlow, installed_upscalers
from tests.test_upscale import picture, state, tiny_net

TIMEOUT = 60_000
PARAMS = "a lighthouse\nSteps: 2, Sampler: Euler a, CFG scale: 7, Seed: 5, Size: 40x24"


def saved_picture() -> Path:
    with Gallery() as g:
        return Path(g.add(picture(), PARAMS, seed=5).path)


def esrgan_file(tmp_path: Path) -> Path:
    from safetensors.torch import save_file

    path = tmp_path / "4x-tiny.safetensors"
    save_file(state(tiny_net()), path)
    return path


def test_lanczos_upscale_lands_in_the_gallery_with_its_parameters() -> None:
    src = saved_picture()
    out = upscale_to_gallery(src, "Lanczos", 2.0)
    with Image.open(out) as im:
        assert im.size == (80, 48)
    params = read_parameters(out)
    assert params is not None and params.startswith("a lighthouse\n")
    assert "Seed: 5" in params
    assert "Postprocess upscale by: 2, Postprocess upscaler: Lanczos" in params
    with Gallery() as g:
        assert {Path(i.path) for i in g.items()} == {src, out}


def test_model_upscale_reports_every_tile(tmp_path: Path) -> None:
    src = saved_picture()
    tiles: list[tuple[int, int]] = []
    out = upscale_to_gallery(
        src, str(esrgan_file(tmp_path)), 4.0, lambda d, t: tiles.append((d, t))
    )
    assert tiles and tiles[-1][0] == tiles[-1][1]
    assert "Postprocess upscaler: 4x-tiny" in (read_parameters(out) or "")
    with Image.open(out) as im:
        assert im.size == (160, 96)


def test_only_installed_upscalers_are_offered() -> None:
    listing = {"models": [
        {"kind": "upscaler", "installed": True, "name": "4x-UltraSharp", "path": "/m/4x.pth"},
        {"kind": "upscaler", "installed": False, "name": "RealESRGAN_x4plus", "path": None},
        {"kind": "upscaler", "installed": True, "name": "broken", "path": "/b", "problem": "x"},
        {"kind": "checkpoint", "installed": True, "name": "sd15", "path": "/c"},
    ]}  # fmt: skip
    assert installed_upscalers(listing) == [("/m/4x.pth", "4x-UltraSharp")]


def test_gallery_upscale_through_the_dialog(qtbot, tmp_path: Path) -> None:
    src = saved_picture()
    with Gallery() as gallery:
        widget = GalleryWidget(gallery)
        qtbot.addWidget(widget)
        with qtbot.waitSignal(widget.reconciled, timeout=TIMEOUT):
            widget.show()
        flow = UpscaleFlow(widget)
        flow.pictureAdded.connect(lambda p: widget.add_paths([p]))
        widget.upscaleRequested.connect(flow.open)
        flow.set_listing({"models": [{"kind": "upscaler", "installed": True,
                                      "name": "4x-tiny", "path": str(esrgan_file(tmp_path))}]})  # fmt: skip
        widget.view.setCurrentIndex(widget.model.index(0, 0))
        widget.upscale_action.trigger()
        dialog = flow.dialog
        assert dialog is not None and dialog.isVisible()
        assert dialog.upscaler.currentText() == "4x-tiny"  # a model before Lanczos
        assert dialog.result_label.text().startswith("80 × 48")
        dialog.scale.setCurrentIndex(1)
        assert dialog.result_label.text().startswith("160 × 96")
        with qtbot.waitSignal(flow.pictureAdded, timeout=TIMEOUT) as done:
            dialog.start_button.click()
        assert dialog.status.text().startswith("Saved in the gallery as ")
        assert widget.model.rowCount() == 2
        new = Path(done.args[0])
        assert new != src and new.parent == src.parent
        with Image.open(new) as im:
            assert im.size == (160, 96)
        flow.shutdown()


def test_cancel_stops_between_tiles_and_saves_nothing(qtbot, tmp_path: Path) -> None:
    from PySide6.QtWidgets import QWidget

    with Gallery() as g:
        src = Path(g.add(picture(520, 300), PARAMS, seed=5).path)  # 3 x 2 tiles of 256
    parent = QWidget()
    qtbot.addWidget(parent)
    flow = UpscaleFlow(parent)
    flow.set_listing({"models": [{"kind": "upscaler", "installed": True,
                                  "name": "4x-tiny", "path": str(esrgan_file(tmp_path))}]})  # fmt: skip
    dialog = flow.open(str(src))
    assert dialog is not None and not dialog.hint.isVisibleTo(dialog)
    worker = flow._worker_()
    worker.progress.connect(lambda done, _total: worker.cancel())  # after the first tile
    with qtbot.waitSignal(worker.cancelled, timeout=TIMEOUT):
        dialog.start_button.click()
    assert dialog.status.text() == "Cancelled; nothing was saved."
    assert dialog.close_button.text() == "Close" and dialog.start_button.isEnabled()
    with Gallery() as g:
        assert [Path(i.path) for i in g.items()] == [src]
    flow.shutdown()


def test_without_upscaler_models_lanczos_is_offered_with_a_hint(qtbot) -> None:
    from PySide6.QtWidgets import QWidget

    parent = QWidget()
    qtbot.addWidget(parent)
    flow = UpscaleFlow(parent)
    dialog = flow.open(str(saved_picture()))
    assert dialog is not None and dialog.hint.text() == NO_MODELS_HINT
    assert [dialog.upscaler.itemData(i) for i in range(dialog.upscaler.count())] == ["Lanczos"]
    with qtbot.waitSignal(flow.pictureAdded, timeout=TIMEOUT):
        dialog.start_button.click()
    assert dialog.status.text().startswith("Saved in the gallery as ")
    flow.shutdown()


def test_canvas_upscale_saves_to_the_gallery_and_comes_back(qtbot, tmp_path: Path) -> None:
    from app.ui.canvas import CanvasWidget

    canvas = CanvasWidget()
    qtbot.addWidget(canvas)
    src = tmp_path / "start.png"
    picture(40, 24).save(src)
    assert canvas.load_image(str(src), ask=False)
    flow = UpscaleFlow(canvas)
    canvas.upscaleRequested.connect(
        lambda p: flow.open(p, then=lambda new: canvas.load_image(new, ask=False))
    )
    canvas.upscale_action.trigger()
    dialog = flow.dialog
    assert dialog is not None and dialog.upscaler.currentData() == "Lanczos"
    with qtbot.waitSignal(flow.pictureAdded, timeout=TIMEOUT) as done:
        dialog.start_button.click()
    assert canvas.current_image().width() == 80 and canvas.current_image().height() == 48
    assert "Postprocess upscale by: 2" in (read_parameters(Path(done.args[0])) or "")
    flow.shutdown()
