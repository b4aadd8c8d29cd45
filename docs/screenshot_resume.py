"""Screenshot of the resume offer after a crash: ``docs/screenshot-resume.png``.

    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/screenshot_resume.py

Five jobs (txt2img, an inpaint and an outpaint on a picture) are written to the queue file
of a temporary EASEL_HOME, as a crash leaves them; the window starts and offers them back,
paused, while one new job is queued and waits behind them.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _picture() -> object:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (512, 512), "#20324f")
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 330, 512, 512), fill="#2f5d3a")
    draw.ellipse((300, 60, 420, 180), fill="#f1c453")
    draw.polygon([(60, 330), (180, 150), (300, 330)], fill="#6b7a8f")
    return image


def main() -> int:
    home = Path(tempfile.mkdtemp(prefix="easel-shot-"))
    os.environ["EASEL_HOME"] = str(home)
    if not os.environ.get("DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PIL import Image

    from app.engine.tiny import save_model_folder
    from app.library.jobstore import JobStore
    from app.request import GenerationRequest
    from app.ui.main import create_application
    from app.ui.main_window import MainWindow

    model = save_model_folder(home / "models" / "tiny-sd", "tiny")
    picture = _picture()
    mask = Image.new("L", (512, 512), 0)
    with JobStore() as store:
        for seed, prompt in enumerate(
            ["a lighthouse in a storm, oil painting", "a lighthouse at dawn, watercolour"]
        ):
            store.add(GenerationRequest(prompt=prompt, seed=100 + seed, batch_size=2), str(model))
        store.add(
            GenerationRequest(
                prompt="a red sailboat", mode="inpaint", init_image=picture, mask=mask
            ),
            str(model),
            tag="canvas",
        )
        store.add(
            GenerationRequest(
                prompt="mountains beyond",
                mode="outpaint",
                init_image=picture,
                outpaint=(0, 128, 0, 0),
            ),
            str(model),
            tag="canvas",
        )
        store.add(
            GenerationRequest(prompt="the same hills at night", mode="img2img", init_image=picture),
            str(model),
        )
    app = create_application([])
    window = MainWindow(model_path=str(model))
    window.resize(1280, 800)
    window.show()
    window.prompt_panel.prompt.setPlainText("a lighthouse in a storm, oil painting")
    window.settings_panel.seed.setValue(7)
    window.generate()  # a new job, queued (the engine is not started: it waits)
    for _ in range(5):
        app.processEvents()
    out = ROOT / "docs" / "screenshot-resume.png"
    window.grab().save(str(out))
    print(out, window.resume_banner.label.text())
    window.cancel_all()
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
