"""The speed setting in the window, the CLI and the server's request conversion."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from app.errors import InvalidRequest
from app.library.infotext import parse_infotext
from app.library.pngio import read_parameters
from app.ui.main_window import MainWindow
from app.ui.settings import UiSettings
from app.ui.speed_widget import SpeedWidget

TIMEOUT = 180_000  # the engine thread imports torch: slow on a busy 2-core machine
MODELS = [
    {"id": "sd-turbo", "name": "SD-Turbo", "kind": "checkpoint", "family": "sd2",
     "path": "/m/turbo", "installed": True, "source": "catalog"},
    {"id": "file:/m/dream.safetensors", "name": "dreamshaper", "kind": "checkpoint",
     "family": "sd1", "path": "/m/dream.safetensors", "installed": True, "source": "imported"},
    {"id": "lcm-lora-sd15", "name": "LCM-LoRA for SD 1.5", "kind": "lora", "family": "lora-sd1",
     "path": "/m/lcm", "installed": True, "source": "catalog"},
    {"id": "taesd", "name": "TAESD", "kind": "vae-preview", "family": "taesd", "path": "/m/t",
     "installed": True, "source": "catalog"},
]  # fmt: skip


pytestmark = pytest.mark.usefixtures("no_engine_thread_left")


def test_speed_widget_shows_the_recipe_for_the_model(qtbot) -> None:
    w = SpeedWidget()
    qtbot.addWidget(w)
    assert w.speed() == "quality"
    assert w.recipe.text() == "Quality: your sampler, steps and CFG as set; full VAE."
    w.set_models(MODELS, "/m/dream.safetensors")
    with qtbot.waitSignal(w.speedChanged) as changed:
        qtbot.mouseClick(w.buttons["fast"], Qt.MouseButton.LeftButton)
    assert changed.args == ["fast"]
    assert w.recipe.text() == (
        "Fast: LCM-LoRA lcm-lora-sd15 on this model: 4 steps, LCM sampler, CFG 1, TAESD decode."
    )
    w.set_models(MODELS, "/m/turbo")
    assert w.recipe.text() == "Fast: Turbo model: 1 step, Euler a, CFG 0, TAESD decode."
    w.set_speed("balanced")
    assert w.recipe.text() == "Balanced: Turbo model: 4 steps, Euler a, CFG 0, full VAE."
    w.set_models([m for m in MODELS if m["kind"] == "checkpoint"], "/m/dream.safetensors")
    w.set_speed("fast")
    assert "download lcm-lora-sd15 in Models" in w.recipe.text()
    assert "TAESD is not installed" in w.recipe.text()


def test_fast_from_the_window_runs_the_fast_recipe(qtbot, tiny_model_dir: Path) -> None:
    w = MainWindow(model_path=str(tiny_model_dir))
    qtbot.addWidget(w)
    w.show()
    try:
        with qtbot.waitSignal(w.worker.engineReady, timeout=TIMEOUT):
            w.start_engine()
        panel = w.settings_panel
        w.prompt_panel.prompt.clear()
        qtbot.keyClicks(w.prompt_panel.prompt, "a red fox")
        panel.width_spin.setValue(64)
        panel.height_spin.setValue(64)
        panel.steps.setValue(2)  # the fallback recipe takes min(steps, 12): quick on a busy CPU
        qtbot.mouseClick(panel.speed.buttons["fast"], Qt.MouseButton.LeftButton)
        assert not panel.steps.isEnabled() and not panel.cfg.isEnabled()
        assert not panel.sampling.schedule.isEnabled()  # the recipe sets its own
        assert w.current_settings().to_request().speed == "fast"
        with qtbot.waitSignal(w.worker.jobFinished, timeout=TIMEOUT) as done:
            qtbot.mouseClick(w.generate_button, Qt.MouseButton.LeftButton)
        result = done.args[1]
        info = parse_infotext(read_parameters(Path(result.paths[0])) or "")
        # no LCM-LoRA in this home: DPM++ 2M Karras, and the note says what to get
        assert info.params["Steps"] == "2" and info.params["Speed"] == "Fast"
        assert info.params["Sampler"] == "DPM++ 2M"
        assert any("download lcm-lora-sd15" in n for n in result.notes)
        qtbot.mouseClick(panel.speed.buttons["quality"], Qt.MouseButton.LeftButton)
        assert panel.steps.isEnabled() and panel.sampling.schedule.isEnabled()
        # Settings' precision override: the engine switches, the header chip says so
        with qtbot.waitSignal(w.worker.engineReady, timeout=TIMEOUT) as chip:
            panel.precision.setCurrentIndex(panel.precision.findData("bf16"))
        assert chip.args[0].startswith("CPU · bf16") and w.engine_label.text() == chip.args[0]
        assert w.current_settings().precision == "bf16"
    finally:
        w.close()


def test_settings_keep_the_speed() -> None:
    s = UiSettings(speed="balanced")
    assert s.to_request().speed == "balanced"


def test_server_accepts_a_speed_field() -> None:
    from app.server.convert import base_request
    from app.server.schemas import Txt2ImgRequest

    assert base_request(Txt2ImgRequest(prompt="x", speed="Fast")).speed == "fast"
    assert base_request(Txt2ImgRequest(prompt="x")).speed == "quality"
    with pytest.raises(InvalidRequest, match="Unknown speed 'warp'"):
        base_request(Txt2ImgRequest(prompt="x", speed="warp"))


def test_cli_speed_fast(tiny_model_dir: Path, tmp_path: Path, easel_home: Path) -> None:
    env = {**os.environ, "EASEL_HOME": str(easel_home), "HF_HUB_OFFLINE": "1"}
    args = ["generate", "--model", str(tiny_model_dir), "--prompt", "a barn", "--size", "64x64"]
    args += ["--steps", "2", "--sampler", "Euler"]
    res = subprocess.run(
        [sys.executable, "-m", "app", *args, "--speed", "fast", "--out", str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "Fast: 2 steps, DPM++ 2M Karras, CFG 7, full VAE." in res.stderr
    info = parse_infotext(read_parameters(Path(res.stdout.splitlines()[0])) or "")
    assert info.params["Speed"] == "Fast" and info.params["Steps"] == "2"


def test_first_run_on_a_cpu_recommends_the_fast_path(qtbot) -> None:
    from app.ui.first_run_fast import advise_fast_path, fast_path_advice
    from app.ui.model_manager import FirstRunBanner

    assert fast_path_advice("NVIDIA GeForce RTX 4090 · bf16") is None
    advice = fast_path_advice("CPU · bf16 · 2 threads")
    assert advice is not None and advice.model_id == "sd-turbo"
    assert "SD-Turbo</b> (2.6 GB), about 1.9 s per 512x512 picture here, estimated" in advice.text
    assert "SD 1.5 + LCM-LoRA + TAESD (2.3 GB), about 4.1 s per picture, estimated" in advice.text
    assert "(Quality, 25 full steps: about 44 s)" in advice.text
    slow = fast_path_advice("CPU · fp32 · 4 threads")
    assert slow is not None and "about 2.1 s per 512x512" in slow.text
    assert "25 full steps: about 99 s" in slow.text  # fp32 198 s on 2 cores, halved

    banner = FirstRunBanner()
    qtbot.addWidget(banner)
    chosen: list[str] = []
    advise_fast_path(banner, "CPU · bf16 · 2 threads", chosen.append)
    advise_fast_path(banner, "CPU · bf16 · 2 threads", chosen.append)  # hooked once only
    assert banner.model_id == "sd-turbo" and banner.download_button.text() == "Download SD-Turbo"
    banner.downloadRequested.emit()
    assert chosen == ["fast"]


def test_first_run_window_on_this_cpu(qtbot, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EASEL_MODEL", raising=False)
    monkeypatch.setenv("EASEL_DEVICE", "cpu")
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    try:
        with qtbot.waitSignal(w.worker.engineReady, timeout=TIMEOUT):
            w.start_engine()
        qtbot.waitUntil(w.first_run.isVisible, timeout=TIMEOUT)
        assert w.first_run.model_id == "sd-turbo"
        assert "estimated" in w.first_run.findChild(QLabel).text()
    finally:
        w.close()
