"""Screenshot of the canvas tab in the real window at 1024x640: ``docs/screenshot-canvas.png``.

    .venv/bin/python docs/screenshot_canvas.py

A painted picture with a mask and a control drawing, the canvas's own prompt fields, and a
job mid-way (progress bar, live preview over the masked picture). The engine is not started:
the progress and the preview are put in place as the worker's signals would put them.
Nothing touches the user's folders: EASEL_HOME points at a temporary directory.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "docs"))
os.environ["EASEL_HOME"] = tempfile.mkdtemp(prefix="easel-shots-")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PIL import Image, ImageFilter  # noqa: E402
from PySide6.QtCore import QPointF  # noqa: E402
from PySide6.QtGui import QColor  # noqa: E402
from screenshot_gallery_canvas import painting, wait_until  # noqa: E402

from app.ui.canvas_tools import Tool  # noqa: E402
from app.ui.imageio import pil_to_qimage, qimage_to_pil  # noqa: E402
from app.ui.main import create_application  # noqa: E402
from app.ui.main_window import MainWindow  # noqa: E402


def main() -> None:
    app = create_application([])
    window = MainWindow()
    window.resize(1024, 640)
    window.show()
    window.prompt_panel.set_texts(
        "a lighthouse on a cliff at dusk, dramatic clouds, golden hour, highly detailed",
        "blurry, lowres, watermark, text",
    )
    model = "/models/stable-diffusion-v1-5"
    window.model_picker.set_models([model], model, {model: "Stable Diffusion 1.5"})
    window.engine_label.setText("CPU · 16 GB")
    window.engine_label.setProperty("state", "ready")
    window._restyle(window.engine_label)
    window.status_label.setText("Generating…")
    window.tabs.setCurrentWidget(window.canvas)
    canvas = window.canvas
    picture = painting(4, (512, 512))
    canvas.load_image(pil_to_qimage(picture))
    doc = canvas.doc
    w, h = doc.base.width(), doc.base.height()
    blob = [
        QPointF(w * (0.42 + r * math.cos(a / 5)), h * (0.7 + 0.6 * r * math.sin(a / 5)))
        for r, a in ((0.16 - i * 0.0016, i) for i in range(90))
    ]
    doc.stroke(Tool.MASK, blob, w / 8, QColor())
    ink = QColor("#f4f1e8")
    canvas.set_colour(ink)
    lighthouse = [  # a rough sketch of a lighthouse on the hill, in the masked part
        [(0.37, 0.86), (0.40, 0.54)],
        [(0.47, 0.86), (0.44, 0.54)],
        [(0.385, 0.54), (0.455, 0.54)],
        [(0.395, 0.54), (0.42, 0.47), (0.445, 0.54)],
        [(0.38, 0.70), (0.46, 0.70)],
        [(0.32, 0.87), (0.52, 0.87)],
    ]
    for line in lighthouse:
        doc.stroke(Tool.BRUSH, [QPointF(w * x, h * y) for x, y in line], 5, ink)
    canvas.set_models_listing(
        {
            "models": [
                {
                    "id": "controlnet-sd15-scribble",
                    "name": "ControlNet Scribble (SD 1.5)",
                    "kind": "controlnet",
                    "installed": True,
                    "path": "/models/controlnet-sd15-scribble",
                    "problem": "",
                }
            ]
        }
    )
    canvas.use_drawing_as_control()
    panel = canvas.panel
    panel.prompt.setPlainText("a stone lighthouse on the hill, warm light in the windows")
    panel.steps.setValue(25)
    panel.seed.setValue(1234567)
    canvas.set_tool(Tool.MASK)
    canvas.set_brush_size(48)
    wait_until(app, lambda: canvas.view.isVisible(), 2)
    canvas.view.fit()
    # A job mid-way: what the worker's jobStarted / progress / preview signals show.
    canvas.jobs._rects[7] = doc.image_rect()
    canvas.jobs._running = 7
    panel.set_running(True)
    panel.set_progress(11, 25, "Step 11/25  ·  6 s left")
    # Mid-denoise, the masked part is still soft and grainy: the picture, blurred and noised there.
    mask = qimage_to_pil(doc.mask_image(), "L").filter(ImageFilter.GaussianBlur(12))
    noise = Image.effect_noise((w, h), 48).convert("RGB")
    soft = Image.blend(picture.filter(ImageFilter.GaussianBlur(10)), noise, 0.25)
    preview = Image.composite(soft, picture, mask)
    canvas.view.set_preview(pil_to_qimage(preview), doc.image_rect())
    wait_until(app, lambda: False, 0.3)
    out = ROOT / "docs" / "screenshot-canvas.png"
    window.grab().save(str(out))
    print(out)
    window.canvas.jobs._rects.clear()
    window.close()


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    os._exit(0)
