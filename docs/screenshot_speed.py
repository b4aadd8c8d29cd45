"""Screenshot of the settings panel with Speed at Fast, its recipe, Precision and "Compile the
model": ``docs/screenshot-speed.png``.

    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/screenshot_speed.py

The panel is the window's own ``SettingsPanel``; the Models tab's list it reads is SD 1.5 with
the catalog's LCM-LoRA and TAESD installed, so the recipe is the one such a user sees.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def shoot(out: Path) -> int:
    os.environ["EASEL_HOME"] = tempfile.mkdtemp(prefix="easel-shot-")
    from PySide6.QtWidgets import QMainWindow

    from app.ui.main import create_application
    from app.ui.settings import UiSettings
    from app.ui.settings_panel import SettingsPanel

    app = create_application([])
    panel = SettingsPanel()
    settings = UiSettings()
    settings.speed = "fast"
    settings.compile_model = True
    panel.apply(settings)
    model = "/models/stable-diffusion-v1-5"
    panel.speed.set_models(
        [
            {
                "kind": "checkpoint",
                "id": "sd15",
                "name": "stable-diffusion-v1-5",
                "path": model,
                "family": "sd1",
                "installed": True,
                "source": "catalog",
            },
            {
                "kind": "lora",
                "id": "lcm-lora-sd15",
                "name": "lcm-lora-sdv1-5",
                "installed": True,
                "source": "catalog",
            },
            {
                "kind": "vae-preview",
                "id": "taesd",
                "name": "taesd",
                "installed": True,
                "source": "catalog",
            },
        ],
        model,
    )
    window = QMainWindow()  # the theme's background, as in the window
    window.setCentralWidget(panel)
    window.resize(420, panel.sizeHint().height() + 16)
    panel.setContentsMargins(8, 8, 8, 8)
    window.show()
    app.processEvents()
    ok = window.grab().save(str(out))
    print(out if ok else "grab failed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(shoot(ROOT / "docs" / "screenshot-speed.png"))
