"""Screenshot of the running window after a generation: ``docs/screenshot-main.png``.

    xvfb-run -s "-screen 0 1440x900x24" .venv/bin/python docs/screenshot.py [--model PATH]
    .venv/bin/python docs/screenshot.py --hires 2 --size 256x256 --out docs/screenshot-hires.png

Without ``--model`` a tiny random-weight model is written to a temporary folder (its pictures
are noise, as expected). Everything (settings, gallery) lives in a temporary EASEL_HOME.
Falls back to Qt's offscreen platform when there is no display.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a diffusers model folder (default: a tiny random one)")
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshot-main.png"))
    parser.add_argument(
        "--prompt", default="a lighthouse on a cliff at dusk, oil painting, warm light"
    )
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--size", default="512x512")
    parser.add_argument("--tab", default="Generate", help="tab to show: Generate, Gallery, Canvas")
    parser.add_argument(
        "--hires",
        type=float,
        default=0,
        help="hires fix by this scale, its group scrolled into view",
    )
    args = parser.parse_args()

    home = tempfile.mkdtemp(prefix="easel-shot-")
    os.environ["EASEL_HOME"] = home
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    model = args.model
    if not model:
        from app.engine.tiny import save_model_folder

        model = str(save_model_folder(Path(home) / "models" / "tiny-sd", "tiny"))

    from PySide6.QtCore import QTimer

    from app.ui.main import create_application
    from app.ui.main_window import MainWindow

    app = create_application([])
    window = MainWindow(model_path=model)
    window.resize(1440, 900)
    window.move(0, 0)
    width, height = (int(v) for v in args.size.split("x"))
    window.prompt_panel.set_texts(args.prompt, "blurry, low quality, watermark")
    panel = window.settings_panel
    panel.steps.setValue(args.steps)
    panel.width_spin.setValue(width)
    panel.height_spin.setValue(height)
    panel.seed.setValue(1234)
    panel.batch_size.setValue(2)
    if args.hires:
        window.hires_panel.setChecked(True)
        window.hires_panel.upscaler.setCurrentText("Latent")
        window.hires_panel.scale.setValue(args.hires)
        window.hires_panel.steps.setValue(max(1, args.steps // 2))
        window.hires_panel.denoise.setValue(0.5)
        panel.batch_size.setValue(1)
    window.show()
    window.start_engine()
    state = {"jobs": 0}

    def queued_more() -> None:
        # A second and third job, so the queue shows done / running / queued rows.
        window.prompt_panel.set_texts("a misty pine forest at sunrise, volumetric light", "")
        window.generate()
        window.prompt_panel.set_texts("portrait of a red fox, studio lighting, 85mm", "")
        window.generate()

    def on_finished(*_args: object) -> None:
        state["jobs"] += 1
        if state["jobs"] == 2:
            QTimer.singleShot(400, shoot)

    def shoot() -> None:
        for i in range(window.tabs.count()):
            if window.tabs.tabText(i) == args.tab:
                window.tabs.setCurrentIndex(i)
        if args.hires:
            from PySide6.QtWidgets import QScrollArea

            area = window.hires_panel.parentWidget()
            while area is not None and not isinstance(area, QScrollArea):
                area = area.parentWidget()
            if area is not None:
                area.ensureWidgetVisible(window.hires_panel)
        app.processEvents()
        screen = window.screen()
        shot = screen.grabWindow(window.winId()) if os.environ.get("DISPLAY") else window.grab()
        if shot.isNull():
            shot = window.grab()
        shot.save(args.out)
        print(args.out)
        window.close()
        app.quit()

    window.worker.jobFinished.connect(on_finished)
    window.worker.engineReady.connect(lambda _d: (window.generate(), queued_more()))
    QTimer.singleShot(180_000, app.quit)  # never hang
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
