"""First run in the real window: no model -> one click downloads SD 1.5 (from the local hub
stand-in) -> the picker selects it -> Generate makes a picture."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from app.ui.main_window import MainWindow
from app.workers.engine_worker import live_engine_threads
from tests.hubserver import HubServer, running_hub
from tests.test_model_manager import sd15_twin

TIMEOUT = 60_000


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubServer]:
    with running_hub(monkeypatch, tmp_path / "hf") as server:
        yield server


def test_first_run_download_and_generate(
    qtbot, hub: HubServer, tiny_model_dir: Path, monkeypatch
) -> None:
    monkeypatch.delenv("EASEL_MODEL", raising=False)
    hub.add_repo(sd15_twin(tiny_model_dir))
    hub.add_repo(sd15_twin(tiny_model_dir, "sd-turbo"))
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    try:
        with qtbot.waitSignal(window.worker.engineReady, timeout=TIMEOUT):
            window.start_engine()
        qtbot.waitUntil(window.first_run.isVisible, timeout=TIMEOUT)
        assert window.model_picker.current_path() == ""

        # No GPU here: the banner recommends the fast path, SD-Turbo, and sets Speed to Fast.
        assert window.first_run.download_button.text() == "Download SD-Turbo"
        with qtbot.waitSignal(window.worker.modelReady, timeout=TIMEOUT) as ready:
            qtbot.mouseClick(window.first_run.download_button, Qt.MouseButton.LeftButton)
        assert ready.args[0] == "sd-turbo"
        assert window.settings_panel.speed.speed() == "fast"
        assert window.tabs.currentWidget() is window.model_manager
        assert not window.first_run.isVisible()
        assert window.model_picker.combo.currentText() == "SD-Turbo"
        assert "/snapshots/" in window.model_picker.current_path()

        window.tabs.setCurrentIndex(0)
        window.prompt_panel.prompt.setPlainText("first light")
        window.settings_panel.steps.setValue(2)
        window.settings_panel.width_spin.setValue(64)
        window.settings_panel.height_spin.setValue(64)
        with qtbot.waitSignal(window.worker.jobFinished, timeout=TIMEOUT) as done:
            qtbot.mouseClick(window.generate_button, Qt.MouseButton.LeftButton)
        result = done.args[1]
        assert len(result.paths) == 1 and Path(result.paths[0]).is_file()
        assert "Model: sd-turbo" in result.infotexts[0]
        assert "Speed: Fast" in result.infotexts[0]
    finally:
        window.close()
    assert live_engine_threads() == []
    assert not window.models_worker.qthread.isRunning()
