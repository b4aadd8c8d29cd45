"""Screenshots of the gallery and canvas tabs, on a throw-away gallery of painted pictures.

    xvfb-run -s "-screen 0 1440x900x24" .venv/bin/python docs/screenshot_gallery_canvas.py

Writes docs/screenshot-gallery.png (a filtered, multi-selected grid), docs/screenshot-viewer.png
(the full-size viewer) and docs/screenshot-canvas.png. Nothing touches the
user's folders: EASEL_HOME points at a temporary directory.
"""

from __future__ import annotations

import math
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["EASEL_HOME"] = tempfile.mkdtemp(prefix="easel-shots-")
if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
from PIL import Image, ImageDraw, ImageFilter  # noqa: E402
from PySide6.QtCore import QPointF  # noqa: E402
from PySide6.QtGui import QColor, QPalette  # noqa: E402
from PySide6.QtWidgets import QApplication, QStyleFactory  # noqa: E402

from app.library.gallery import Gallery  # noqa: E402
from app.ui.canvas import CanvasWidget  # noqa: E402
from app.ui.canvas_tools import Tool  # noqa: E402
from app.ui.gallery_view import GalleryWidget  # noqa: E402

PROMPTS = [
    "a lighthouse on a cliff at dusk, dramatic clouds, golden hour, highly detailed",
    "cyberpunk street at night, neon signs, rain reflections, cinematic lighting",
    "a cozy cabin in a snowy forest, warm windows, aurora borealis",
    "portrait of an astronaut in a sunflower field, soft light, 85mm",
    "vast desert dunes under a purple sky, two moons, matte painting",
    "underwater coral reef, sun rays, tropical fish, vibrant colours",
    "a japanese garden in autumn, red maple trees, koi pond, misty morning",
    "floating islands with waterfalls, fantasy landscape, studio ghibli style",
    "an old library with tall bookshelves, dust in the light, oil painting",
    "a red fox in the snow, wildlife photography, shallow depth of field",
    "sunset over a calm ocean, pastel sky, minimalism",
    "a steampunk airship above the clouds, brass and copper, concept art",
    "alpine lake reflecting mountains, crisp morning, ultra wide",
    "a bowl of ramen, food photography, steam, dark background",
    "a glowing mushroom forest at night, bioluminescent, magical",
    "retro synthwave grid, palm trees, pink and cyan sunset",
]
NEGATIVE = "blurry, lowres, bad anatomy, watermark, text, jpeg artifacts"
SAMPLERS = [("DPM++ 2M", "Karras"), ("Euler a", ""), ("DPM++ 2M SDE", "Karras"), ("UniPC", "")]
PALETTES = [
    [(20, 24, 64), (220, 90, 60), (255, 200, 120)],
    [(10, 10, 30), (120, 20, 160), (20, 220, 230)],
    [(12, 40, 60), (40, 120, 110), (240, 220, 160)],
    [(60, 20, 40), (230, 110, 80), (255, 230, 170)],
    [(20, 50, 90), (90, 170, 220), (240, 250, 255)],
    [(30, 60, 20), (140, 180, 60), (250, 240, 170)],
    [(40, 20, 70), (200, 80, 160), (255, 190, 90)],
]


def painting(seed: int, size: tuple[int, int] = (512, 512)) -> Image.Image:
    """A smooth, colourful scene: sky gradient, a glowing sun, layered hills, some sparkle."""
    rng = random.Random(seed)
    w, h = size
    low, mid, high = rng.choice(PALETTES)
    t = np.linspace(0, 1, h)[:, None, None]
    top, bottom = np.array(low, float), np.array(mid, float)
    sky = (top * (1 - t) + bottom * t) * np.ones((1, w, 1))
    image = Image.fromarray(sky.astype(np.uint8), "RGB")
    glow = Image.new("RGB", size, (0, 0, 0))
    gd = ImageDraw.Draw(glow)
    cx, cy, r = rng.randint(w // 5, 4 * w // 5), rng.randint(h // 6, h // 2), rng.randint(40, 90)
    gd.ellipse((cx - 2 * r, cy - 2 * r, cx + 2 * r, cy + 2 * r), fill=tuple(c // 3 for c in high))
    glow = glow.filter(ImageFilter.GaussianBlur(r))
    image = Image.fromarray(
        np.clip(np.asarray(image, int) + np.asarray(glow, int), 0, 255).astype(np.uint8)
    )
    draw = ImageDraw.Draw(image)
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=high)
    for layer in range(4):
        base_y = h * (0.55 + 0.12 * layer)
        amp, freq, phase = rng.uniform(20, 60), rng.uniform(1.5, 4), rng.uniform(0, 6)
        shade = 0.75 - 0.18 * layer
        colour = tuple(int(c * shade) for c in low)
        points = [
            (x, base_y + amp * math.sin(freq * x / w * math.pi + phase)) for x in range(0, w + 8, 8)
        ]
        draw.polygon([(0, h), *points, (w, h)], fill=colour)
    for _ in range(rng.randint(10, 40)):
        x, y, s = rng.randint(0, w), rng.randint(0, h // 2), rng.uniform(0.8, 2.2)
        draw.ellipse((x - s, y - s, x + s, y + s), fill=(255, 255, 240))
    return image.filter(ImageFilter.SMOOTH_MORE)


def fill_gallery(gallery: Gallery, count: int = 24) -> None:
    rng = random.Random(7)
    for i in range(count):
        seed = rng.randint(10_000, 4_000_000_000)
        w, h = rng.choice([(512, 512), (512, 512), (512, 768), (768, 512)])
        sampler, schedule = rng.choice(SAMPLERS)
        params = [
            f"Steps: {rng.choice([20, 25, 30])}",
            f"Sampler: {sampler}",
            *([f"Schedule type: {schedule}"] if schedule else []),
            f"CFG scale: {rng.choice([6, 7, 7.5])}",
            f"Seed: {seed}",
            f"Size: {w}x{h}",
            "Model hash: 6ce0161689",
            f"Model: {'dreamshaper_8' if i % 5 == 3 else 'v1-5-pruned-emaonly'}",
            "Version: Easel 0.1.0",
        ]
        text = f"{PROMPTS[i % len(PROMPTS)]}\nNegative prompt: {NEGATIVE}\n" + ", ".join(params)
        gallery.add(painting(seed, (w, h)), text, seed=seed)


def apply_style(app: QApplication) -> None:
    qss = ROOT / "resources" / "style.qss"
    app.setStyle(QStyleFactory.create("Fusion"))
    palette = QPalette()
    for role, colour in (
        (QPalette.ColorRole.Window, "#202024"),
        (QPalette.ColorRole.WindowText, "#e6e6ea"),
        (QPalette.ColorRole.Base, "#18181b"),
        (QPalette.ColorRole.AlternateBase, "#1f1f23"),
        (QPalette.ColorRole.Text, "#e6e6ea"),
        (QPalette.ColorRole.Button, "#2c2c31"),
        (QPalette.ColorRole.ButtonText, "#e6e6ea"),
        (QPalette.ColorRole.Highlight, "#4f7cff"),
        (QPalette.ColorRole.HighlightedText, "#ffffff"),
        (QPalette.ColorRole.ToolTipBase, "#2c2c31"),
        (QPalette.ColorRole.ToolTipText, "#e6e6ea"),
        (QPalette.ColorRole.PlaceholderText, "#808088"),
        (QPalette.ColorRole.Mid, "#9a9aa4"),
    ):
        palette.setColor(role, QColor(colour))
    app.setPalette(palette)
    if qss.exists():
        # The app's loader expands @ICONS@; the raw text does not parse, and Qt then drops
        # the whole sheet (these shots were unstyled before).
        from app.ui.resources import style_sheet  # noqa: PLC0415

        app.setStyleSheet(style_sheet())


def wait_until(app: QApplication, done, timeout: float = 20.0) -> None:  # noqa: ANN001
    end = time.monotonic() + timeout
    while not done() and time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)
    for _ in range(5):
        app.processEvents()


# PySide6 6.12.0 on CPython 3.11 drops a reference to None on every void call (and to True
# on every emit); extra references keep them alive while the script runs, and it leaves with
# os._exit so the interpreter's final clean-up cannot trip over the missing references.
_BALLAST = [None, True, False] * 200_000


def main() -> None:
    app = QApplication(sys.argv)
    apply_style(app)
    out = ROOT / "docs"
    with Gallery() as gallery:
        fill_gallery(gallery)
        widget = GalleryWidget(gallery)
        widget.setWindowTitle("Easel — Gallery")
        widget.resize(1440, 900)
        widget.show()
        wait_until(app, lambda: widget.model.rowCount() == 24)
        gallery.set_favourite([widget.model.item(r).id for r in (0, 2, 7, 11)])
        widget.refresh()
        # Filters in use: one model, the last 30 days, with a search word.
        bar = widget.filters
        bar.model.setCurrentIndex(bar.model.findData("v1-5-pruned-emaonly"))
        bar.dates.setCurrentIndex(bar.dates.findText("Last 30 days"))
        bar.search.setText("a")
        wait_until(app, lambda: widget.model.view.query == "a")
        # Several pictures selected (Ctrl-clicks), the last one current.
        selection = widget.view.selectionModel()
        from PySide6.QtCore import QItemSelectionModel  # noqa: PLC0415

        for row in (1, 2, 5, 6, 9):
            selection.setCurrentIndex(
                widget.model.index(row), QItemSelectionModel.SelectionFlag.Select
            )
        widget.view.scrollToTop()
        ids = [widget.model.item(r).id for r in range(widget.model.rowCount())]
        wait_until(
            app,
            lambda: (
                sum(widget.loader.cached(i) is not None for i in ids) >= 20
                and not widget.detail.image_view.image().isNull()
            ),
        )
        wait_until(app, lambda: False, 0.5)  # let the grid finish its batched layout
        widget.grab().save(str(out / "screenshot-gallery.png"))
        print(out / "screenshot-gallery.png")
        viewer = widget.open_viewer(2)
        assert viewer is not None
        viewer.resize(1440, 900)
        wait_until(app, lambda: viewer.isVisible())
        wait_until(app, lambda: False, 0.3)
        viewer.grab().save(str(out / "screenshot-viewer.png"))
        print(out / "screenshot-viewer.png")
        viewer.close()
        picture = widget.model.item(1).path
        widget.shutdown()
        widget.close()

        canvas = CanvasWidget()
        canvas.setWindowTitle("Easel — Canvas")
        canvas.resize(1440, 900)
        canvas.show()
        wait_until(app, lambda: canvas.isVisible())
        canvas.load_image(str(picture))
        doc = canvas.doc
        w, h = doc.base.width(), doc.base.height()
        canvas.set_colour(QColor("#ffd24a"))
        wave = [
            QPointF(w * (0.1 + 0.02 * i), h * (0.25 + 0.05 * math.sin(i / 2))) for i in range(20)
        ]
        doc.stroke(Tool.BRUSH, wave, max(4, w / 60), QColor("#ffd24a"))
        doc.stroke(
            Tool.BRUSH,
            [QPointF(w * 0.7, h * 0.2), QPointF(w * 0.85, h * 0.3)],
            w / 40,
            QColor("#ff7ab6"),
        )
        # A filled blob: a spiral of mask strokes over the hills.
        blob = [
            QPointF(w * (0.4 + r * math.cos(a / 5)), h * (0.72 + 0.6 * r * math.sin(a / 5)))
            for r, a in ((0.16 - i * 0.0016, i) for i in range(90))
        ]
        doc.stroke(Tool.MASK, blob, w / 8, QColor())
        canvas.extend_canvas(0, 0, 128, 0)
        canvas.set_tool(Tool.MASK)
        canvas.set_brush_size(int(w / 9))
        canvas.view.fit()
        wait_until(app, lambda: True, 0.2)
        # The brush outline where a mouse would hover.
        canvas.view._mouse = canvas.view.to_widget(QPointF(w * 0.62, h * 0.55))
        canvas.view.update()
        canvas._cursor_moved(canvas.view.to_canvas(canvas.view._mouse).toPoint())
        wait_until(app, lambda: True, 0.2)
        canvas.grab().save(str(out / "screenshot-canvas.png"))
        print(out / "screenshot-canvas.png")
        canvas.close()


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    os._exit(0)
