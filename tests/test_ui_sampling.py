"""The webui's Schedule type beside the sampler, variation seed and strength: window and CLI."""

from __future__ import annotations

import argparse

from app.cli import add_generate_parser, build_request
from app.ui.settings import UiSettings
from app.ui.settings_panel import SettingsPanel


def _items(panel: SettingsPanel) -> list[str]:
    combo = panel.sampling.schedule
    return [combo.itemData(i) for i in range(combo.count())]


def test_schedule_combo_follows_the_sampler(qtbot) -> None:
    panel = SettingsPanel()
    qtbot.addWidget(panel)
    panel.apply(UiSettings(sampler="DPM++ 2M"))
    assert _items(panel)[:5] == ["Automatic", "Uniform", "Karras", "Exponential", "SGM Uniform"]
    assert panel.sampling.schedule.currentText() == "Automatic (Karras)"
    panel.sampling.schedule.setCurrentIndex(_items(panel).index("Exponential"))
    panel.sampler.setCurrentText("Euler")  # a schedule both can run stays chosen
    assert panel.sampling.schedule.currentData() == "Exponential"
    panel.sampler.setCurrentText("DDIM")  # DDIM runs its own timesteps only
    assert _items(panel) == ["Automatic", "Uniform"]
    assert panel.sampling.schedule.currentData() == "Automatic"


def test_schedule_and_variation_reach_the_request(qtbot) -> None:
    panel = SettingsPanel()
    qtbot.addWidget(panel)
    panel.apply(UiSettings(sampler="Euler a"))
    assert not panel.sampling.subseed.isEnabled()  # no variation at strength 0
    panel.sampling.schedule.setCurrentIndex(_items(panel).index("Karras"))
    panel.sampling.strength.setValue(0.35)
    assert panel.sampling.subseed.isEnabled()
    panel.sampling.subseed.setValue(4242)
    req = panel.read_into(UiSettings(prompt="a fox")).to_request()
    assert (req.sampler, req.schedule, req.subseed, req.subseed_strength) == (
        "Euler a",
        "Karras",
        4242,
        0.35,
    )
    again = SettingsPanel()
    qtbot.addWidget(again)
    again.apply(panel.read_into(UiSettings()))
    assert again.sampling.schedule.currentData() == "Karras"
    assert again.sampling.subseed.seed() == 4242 and again.sampling.strength.value() == 0.35


def test_cli_schedule_and_variation_seed() -> None:
    ap = argparse.ArgumentParser()
    add_generate_parser(ap.add_subparsers())
    args = ap.parse_args(
        "generate --prompt fox --sampler Euler --schedule Karras --subseed 7 "
        "--subseed-strength 0.25".split()
    )
    req = build_request(args)
    assert (req.schedule, req.subseed, req.subseed_strength) == ("Karras", 7, 0.25)
    plain = build_request(ap.parse_args(["generate", "--prompt", "fox"]))
    assert (plain.schedule, plain.subseed, plain.subseed_strength) == ("Automatic", -1, 0.0)
