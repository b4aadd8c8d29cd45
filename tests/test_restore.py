"""Pasting a webui infotext into the prompt box: "Apply these settings?" restores everything
(the real window, offscreen; the texts come out of real PNG files)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo
from PySide6.QtWidgets import QApplication

from app.library.pngio import read_parameters
from app.models.store import model_hash
from app.ui.main_window import MainWindow

WEBUI = (
    "masterpiece, a castle on a hill <lora:detail_tweaker:0.8>, (oil painting:1.2)   \n"
    "  golden hour  \n"
    "Negative prompt: blurry, lowres   \n"
    "Steps: 31, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 5.5, Seed: 123456, "
    "Size: 576x640, Model hash: {hash}, Model: {model}, Variation seed: 99, "
    "Variation seed strength: 0.3, Clip skip: 2, "
    'Lora hashes: "detail_tweaker: 0123456789ab", Version: v1.10.1'
)


def webui_png(path: Path, text: str) -> Path:
    info = PngInfo()
    info.add_text("parameters", text)
    Image.new("RGB", (64, 64), (90, 120, 200)).save(path, pnginfo=info)
    return path


@pytest.fixture
def make_window(qtbot, tiny_model_dir: Path) -> Iterator[Callable[[], MainWindow]]:
    windows: list[MainWindow] = []

    def make() -> MainWindow:
        w = MainWindow(model_path=str(tiny_model_dir))
        qtbot.addWidget(w)
        w.show()
        windows.append(w)
        return w

    yield make
    for w in windows:
        w.close()


def paste(w: MainWindow, text: str) -> None:
    QApplication.clipboard().setText(text)
    w.prompt_panel.prompt.clear()
    w.prompt_panel.prompt.setFocus()
    w.prompt_panel.prompt.paste()


def test_pasted_infotext_applies_every_setting_and_switches_model(
    make_window: Callable[[], MainWindow], tmp_path: Path
) -> None:
    w = make_window()
    other = tmp_path / "dreamy-v2.safetensors"
    other.write_bytes(b"not really weights, but a file with a hash" * 100)
    digest = model_hash(other)  # as the engine leaves it after loading the model once
    w._installed = {str(other): "Dreamy v2"}
    text = read_parameters(webui_png(tmp_path / "a.png", WEBUI.format(hash=digest, model="x")))
    assert text is not None
    paste(w, text)
    assert w.paste_offer.isVisible()
    assert w.paste_offer.apply() == []  # nothing substituted, the model is installed
    assert not w.paste_offer.isVisible()
    # The webui strips every line: trailing and leading spaces go, the line break stays.
    assert w.prompt_panel.prompt_text() == (
        "masterpiece, a castle on a hill <lora:detail_tweaker:0.8>, (oil painting:1.2)\ngolden hour"
    )
    assert w.prompt_panel.negative_text() == "blurry, lowres"
    s = w.current_settings()
    # the table's spelling of DPM++ 2M on Karras (the sampler combo offers both spellings)
    assert (s.sampler, s.schedule, s.steps, s.cfg_scale, s.seed) == (
        "DPM++ 2M Karras",
        "Karras",
        31,
        5.5,
        123456,
    )
    assert (s.width, s.height, s.clip_skip, s.subseed, s.subseed_strength) == (
        576,
        640,
        2,
        99,
        0.3,
    )
    assert w.settings.model_path == str(other)  # found by its hash, not its name
    assert w.model_picker.current_path() == str(other)
    req = s.to_request()
    assert "<lora:detail_tweaker:0.8>" in req.prompt  # LoRA tags stay, so they apply again


def test_model_found_by_name_when_the_hash_is_unknown(
    make_window: Callable[[], MainWindow], tmp_path: Path
) -> None:
    w = make_window()
    other = tmp_path / "dreamy-v2.safetensors"
    other.write_bytes(b"weights")
    w._installed = {str(other): "Dreamy v2"}
    paste(w, WEBUI.format(hash="deadbeef00", model="dreamy-v2"))
    assert w.paste_offer.apply() == []
    assert w.settings.model_path == str(other)


def test_unrunnable_sampler_and_missing_model_are_named(
    make_window: Callable[[], MainWindow], tmp_path: Path
) -> None:
    w = make_window()
    before = w.settings.model_path
    text = WEBUI.format(hash="0123abcd45", model="juggernautXL_v9").replace(
        "Sampler: DPM++ 2M, Schedule type: Karras", "Sampler: Restart, Schedule type: Karras"
    )
    text = read_parameters(webui_png(tmp_path / "b.png", text)) or ""
    paste(w, text)
    messages = w.paste_offer.apply()
    said = " ".join(messages)
    assert "Restart is not available in Easel; Heun is used" in said
    assert "juggernautXL_v9, which is not installed" in said
    assert w.banner.message() == said
    assert w.current_settings().sampler == "Heun"
    assert w.settings.model_path == before


def test_a_prompt_is_not_taken_for_an_infotext_and_keep_as_text(
    make_window: Callable[[], MainWindow],
) -> None:
    w = make_window()
    paste(w, "a cat, style: anime, mood: calm, light: soft")
    assert not w.paste_offer.isVisible()
    paste(w, WEBUI.format(hash="0123abcd45", model="m"))
    assert w.paste_offer.isVisible()
    w.paste_offer.dismiss_button.click()
    assert not w.paste_offer.isVisible()
    assert w.prompt_panel.prompt_text().startswith("masterpiece")  # the paste stays as text
    assert w.current_settings().seed != 123456  # nothing applied
