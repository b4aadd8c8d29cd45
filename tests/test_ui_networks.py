"""The LoRA and embedding browser in the real window: listed by the models worker, searched,
and a click puts the tag (or the embedding's word) into the prompt."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from app.ui.main_window import MainWindow

TIMEOUT = 30_000


@pytest.fixture
def window(qtbot, tmp_path: Path) -> Iterator[MainWindow]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "docs"))
    from screenshot_networks import make_library

    from app.models import registry

    registry.import_path(make_library(tmp_path / "webui" / "models"))
    w = MainWindow(model_path=None)
    qtbot.addWidget(w)
    w.show()
    yield w
    w.close()


def test_browser_lists_searches_and_inserts(window: MainWindow, qtbot) -> None:
    window.prompt_panel.set_texts("a lighthouse", "")
    browser = window.network_browser
    assert not browser.isVisible()
    with qtbot.waitSignal(window.models_worker.networksListed, timeout=TIMEOUT):
        window.splitter.networks_button.setChecked(True)  # showing it asks for the list
    qtbot.waitUntil(lambda: browser.list.count() == 9, timeout=TIMEOUT)
    names = browser.visible_names()
    assert names[:6] == sorted(names[:6], key=str.lower)  # LoRAs first, then embeddings
    assert "easynegative" in names and "pixel-art-xl" in names
    qtbot.keyClicks(browser.search, "sdxl")
    assert browser.visible_names() == ["film_grain_sdxl", "pixel-art-xl", "negativeXL_D"]
    item = browser.list.item(1)
    assert "SDXL" in item.text() and not item.icon().isNull()
    rect = browser.list.visualItemRect(item)
    qtbot.mouseClick(browser.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert window.prompt_panel.prompt_text() == "a lighthouse <lora:pixel-art-xl:1>"
    browser.search.clear()
    browser.kind.setCurrentIndex(2)  # embeddings
    assert browser.visible_names() == ["bad_hands_5", "easynegative", "negativeXL_D"]
    browser._clicked(browser.list.item(1))
    assert window.prompt_panel.prompt_text() == "a lighthouse <lora:pixel-art-xl:1>, easynegative"


def test_browser_module_does_not_import_torch() -> None:
    code = "import sys; import app.ui.network_browser; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
