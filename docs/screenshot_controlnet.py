"""Screenshot of the Generate tab's ControlNet unit with a sketch to follow:
``docs/screenshot-controlnet.png``.

    xvfb-run -s "-screen 0 1440x900x24" .venv/bin/python docs/screenshot_controlnet.py

A tiny random model in a temporary EASEL_HOME; the two catalog ControlNets are listed as the
models worker lists installed ones (nothing is downloaded).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    os.environ["EASEL_HOME"] = tempfile.mkdtemp(prefix="easel-shot-")
    from PIL import Image, ImageDraw
    from PySide6.QtWidgets import QApplication

    from app.engine.tiny import save_model_folder
    from app.ui.main_window import MainWindow
    from app.ui.resources import style_sheet

    app = QApplication(sys.argv)
    app.setStyleSheet(style_sheet())
    home = Path(os.environ["EASEL_HOME"])
    model = save_model_folder(home / "tiny", "tiny")
    sketch = home / "sketch.png"
    im = Image.new("RGB", (512, 512), "white")
    d = ImageDraw.Draw(im)
    d.polygon([(80, 400), (256, 120), (432, 400)], outline="black", width=10)
    d.ellipse((200, 250, 312, 362), outline="black", width=8)
    im.save(sketch)
    w = MainWindow(model_path=str(model))
    w.resize(1440, 900)
    w.show()
    w.prompt_panel.prompt.setPlainText("a glass pyramid in the desert at sunset, golden light")
    nets = [("controlnet-sd15-scribble", "ControlNet Scribble (SD 1.5)"),
            ("controlnet-sd15-canny", "ControlNet Canny (SD 1.5)")]  # fmt: skip
    w.control_panel.set_models(
        {"models": [{"id": i, "name": n, "kind": "controlnet", "installed": True} for i, n in nets]}
    )
    w.control_panel.setChecked(True)
    w.control_panel.editors[0].image.set_path(str(sketch))
    w.control_panel.editors[0].weight.setValue(0.85)
    for _ in range(20):
        app.processEvents()
    w.splitter.side_scroll.verticalScrollBar().setValue(10_000)
    for _ in range(5):
        app.processEvents()
    w.grab().save(str(ROOT / "docs" / "screenshot-controlnet.png"))
    w.close()


if __name__ == "__main__":
    main()
