"""The Generate tab's ControlNet units, on the real window: a picture and a tiny random
ControlNet folder go into the job, the job runs, and its PNG says what it followed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from app.library.pngio import read_parameters
from app.request import ControlUnit
from app.ui.control_panel import MAX_UNITS, NO_NETS, ControlPanel
from app.ui.main_window import MainWindow
from app.workers.engine_worker import live_engine_threads
from tests.test_controlnet import tiny_controlnet

TIMEOUT = 60_000


def listing(*nets: tuple[str, str]) -> dict:
    """The models worker's payload shape (registry.ModelInfo.to_dict) for installed ControlNets."""
    models = [
        {"id": mid, "name": name, "kind": "controlnet", "installed": True, "problem": None,
         "path": mid, "family": "controlnet-sd1"}
        for mid, name in nets
    ]  # fmt: skip
    models.append({"id": "sd15", "name": "SD 1.5", "kind": "checkpoint", "installed": True})
    models.append({"id": "cn-x", "name": "Not here", "kind": "controlnet", "installed": False})
    return {"models": models}


def test_units_are_off_until_ticked_and_need_a_picture(qtbot, photo: Path) -> None:
    panel = ControlPanel()
    qtbot.addWidget(panel)
    panel.show()
    assert not panel.notice.isHidden() and panel.notice.text() == NO_NETS
    panel.set_models(listing(("controlnet-sd15-canny", "ControlNet Canny"),
                             ("controlnet-sd15-scribble", "ControlNet Scribble")))  # fmt: skip
    assert panel.notice.isHidden()
    editor = panel.editors[0]
    assert editor.model.count() == 2  # installed ControlNets only
    assert editor.model.currentData() == "controlnet-sd15-scribble"  # matches "scribble"
    editor.image.set_path(str(photo))
    assert panel.units() == ()  # not ticked
    panel.setChecked(True)
    editor.preprocessor.setCurrentIndex(editor.preprocessor.findData("canny"))
    assert editor.model.currentData() == "controlnet-sd15-canny"  # follows the preprocessor
    editor.weight.setValue(0.7)
    (unit,) = panel.units()
    assert unit == ControlUnit("controlnet-sd15-canny", str(photo), "canny", weight=0.7)
    second = panel.add_unit()
    assert second is not None and panel.units() == (unit,)  # no picture yet: skipped
    while panel.add_unit():
        pass
    assert len(panel.editors) == MAX_UNITS and not panel.add_button.isEnabled()


def test_restore_brings_back_the_units_settings(qtbot) -> None:
    panel = ControlPanel()
    qtbot.addWidget(panel)
    panel.set_models(listing(("controlnet-sd15-depth", "ControlNet Depth")))
    saved = ControlUnit("control_v11f1p_sd15_depth", None, "depth", 0.5, 0.1, 0.8,
                        "My prompt is more important")  # fmt: skip
    panel.apply_units((saved, saved.replace(weight=1.2)))
    assert panel.isChecked() and len(panel.editors) == 2
    e = panel.editors[0]
    assert e.preprocessor.currentData() == "depth" and e.weight.value() == 0.5
    assert (e.start.value(), e.end.value()) == (0.1, 0.8)
    assert e.mode.currentText() == "My prompt is more important"
    assert panel.editors[1].weight.value() == 1.2


@pytest.fixture
def window(qtbot, tiny_model_dir: Path) -> Iterator[MainWindow]:
    w = MainWindow(model_path=str(tiny_model_dir))
    qtbot.addWidget(w)
    w.show()
    with qtbot.waitSignal(w.worker.engineReady, timeout=TIMEOUT):
        w.start_engine()
    yield w
    w.close()
    assert live_engine_threads() == []


@pytest.fixture
def controlnet_folder(tiny_components: dict, tmp_path: Path) -> Path:
    """Made before the window: a model loading on the engine thread creates its modules on
    the meta device (diffusers' empty-weights loading patches torch for the whole process)."""
    folder = tmp_path / "tiny-controlnet"
    tiny_controlnet(tiny_components, 5).save_pretrained(folder)
    return folder


def test_a_job_follows_the_units_picture(
    qtbot, controlnet_folder: Path, window: MainWindow, photo: Path
) -> None:
    folder = controlnet_folder
    window.control_panel.set_models(listing((str(folder), "tiny-controlnet")))
    window.control_panel.setChecked(True)
    editor = window.control_panel.editors[0]
    editor.image.set_path(str(photo))
    editor.preprocessor.setCurrentIndex(editor.preprocessor.findData("invert"))
    window.prompt_panel.prompt.setPlainText("a house")
    s = window.settings_panel
    s.steps.setValue(2)
    s.width_spin.setValue(64)
    s.height_spin.setValue(64)
    s.seed.setValue(9)
    with qtbot.waitSignal(window.worker.jobFinished, timeout=TIMEOUT) as done:
        qtbot.mouseClick(window.generate_button, Qt.MouseButton.LeftButton)
    _job, result = done.args
    params = read_parameters(Path(result.paths[0]))
    assert params is not None and 'ControlNet 0: "Module: invert, Model: tiny-controlnet' in params
