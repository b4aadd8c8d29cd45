"""The window's Hires fix group, SDXL size presets and SD 2.x prediction row (offscreen),
end to end on the tiny model folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import Qt

from app.library.infotext import parse_infotext, restore_request
from app.library.pngio import read_parameters
from app.models.prediction import prediction_override
from app.ui.hires_panel import SDXL_PRESETS, HiresPanel
from app.ui.main_window import MainWindow
from tests import test_ui_main
from tests.test_ui_main import TIMEOUT, set_up

# The main window's fixtures, shared with its own tests.
make_window = test_ui_main.make_window
window = test_ui_main.window
pytestmark = pytest.mark.usefixtures("no_engine_thread_left")


def test_hires_fix_from_the_window(qtbot, window: MainWindow) -> None:
    set_up(window, qtbot, "a lighthouse", steps=2)
    panel = window.hires_panel
    assert not panel.body.isVisible()  # folded until switched on
    panel.setChecked(True)
    assert panel.body.isVisible()
    panel.upscaler.setCurrentText("Latent")
    panel.scale.setValue(1.5)
    panel.steps.setValue(2)
    panel.denoise.setValue(0.5)
    assert panel.target.text() == "64×64 → 96×96"
    totals: list[int] = []
    window.worker.progress.connect(lambda _j, step, total, _e: totals.append(total))
    with qtbot.waitSignal(window.worker.jobFinished, timeout=TIMEOUT) as done:
        qtbot.mouseClick(window.generate_button, Qt.MouseButton.LeftButton)
    _, result = done.args
    path = Path(result.paths[0])
    assert Image.open(path).size == (96, 96)
    assert set(totals) == {4}  # 2 base + 2 hires steps in one progress bar
    text = read_parameters(path) or ""
    assert "Hires upscale: 1.5, Hires steps: 2, Hires upscaler: Latent" in text
    # Restoring a picture without hires fix switches the group off; with it, back on.
    window.restore_request(restore_request(parse_infotext("x\nSteps: 3, Seed: 1, Size: 64x64"))[0])
    assert not panel.isChecked()
    window.restore_request(restore_request(parse_infotext(text))[0])
    assert panel.isChecked() and panel.scale.value() == 1.5 and panel.denoise.value() == 0.5


def test_sdxl_model_gets_sdxl_presets_and_sd2_file_the_prediction_row(
    qtbot, window: MainWindow, tmp_path: Path
) -> None:
    sdxl = str(tmp_path / "xl-model")
    sd2 = str(tmp_path / "sd2-base.safetensors")
    Path(sd2).write_bytes(b"x")
    from app.models.registry import ModelInfo

    def info(name: str, path: str, kind: str, family: str | None) -> dict:
        m = ModelInfo(name, name, kind, family, "imported", path, 1, True, False)
        return m.to_dict()

    payload = {
        "models": [
            info("xl-model", sdxl, "checkpoint", "sdxl"),
            info("sd2-base", sd2, "checkpoint", "sd2-v"),
            info("4x-UltraSharp", "u.pth", "upscaler", None),
        ],
        "disk": 0,
        "locations": {},
    }
    window.models_worker.modelsListed.emit(payload)
    assert window.hires_panel.upscaler.findText("4x-UltraSharp") >= 0
    combo = window.settings_panel.size_preset
    window.hires_panel.model_shown(sdxl)
    sizes = [combo.itemData(i) for i in range(combo.count() - 1)]
    assert sizes == [f"{w}x{h}" for w, h in SDXL_PRESETS]
    assert not window.hires_panel.prediction_row.isVisibleTo(window)
    window.hires_panel.model_shown(sd2)
    assert "1152x896" not in [combo.itemData(i) for i in range(combo.count())]
    assert window.hires_panel.prediction_row.isVisibleTo(window)
    window.settings.model_path = sd2
    window.hires_panel.prediction.setCurrentIndex(1)
    window.hires_panel.prediction.activated.emit(1)
    assert prediction_override(sd2) == "epsilon"


def test_panel_folds_to_its_title(qtbot, tmp_path: Path) -> None:
    panel = HiresPanel()
    qtbot.addWidget(panel)
    panel.show()
    folded = panel.sizeHint().height()
    panel.setChecked(True)
    assert panel.sizeHint().height() > folded + 60
    assert panel.changes()["hires_upscaler"] == "Latent"
    panel.setChecked(False)
    assert panel.changes() == {"hires": False}
    assert panel.grab().save(str(tmp_path / "hires.png"))


def test_only_installed_usable_upscalers_are_offered(qtbot) -> None:
    from app.hires_request import BUILTIN_UPSCALERS

    panel = HiresPanel()
    qtbot.addWidget(panel)
    listing = {
        "models": [
            {"kind": "upscaler", "name": "4x-UltraSharp", "installed": True, "problem": ""},
            {"kind": "upscaler", "name": "broken-x4", "installed": True, "problem": "damaged"},
            {"kind": "upscaler", "name": "RealESRGAN_x4plus", "installed": False},
            {"kind": "lora", "name": "detail", "installed": True},
        ]
    }
    panel.set_upscalers(listing)
    offered = [panel.upscaler.itemText(i) for i in range(panel.upscaler.count())]
    assert offered == [*BUILTIN_UPSCALERS, "4x-UltraSharp"]
