"""Screenshots of the first run and the Models tab mid-download:
``docs/screenshot-first-run.png`` and ``docs/screenshot-models.png``.

    xvfb-run -s "-screen 0 1440x900x24" .venv/bin/python docs/screenshot_models.py

A local stand-in for the Hugging Face Hub (tests/hubserver.py) serves a tiny random model under
SD 1.5's repo id, slowly, so the download is caught in progress. Everything lives in temp dirs.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    home = Path(tempfile.mkdtemp(prefix="easel-shot-"))
    os.environ["EASEL_HOME"] = str(home)
    os.environ["HF_HOME"] = str(home / "hf")
    os.environ["HF_HUB_DISABLE_XET"] = "1"
    os.environ.pop("EASEL_MODEL", None)
    if not os.environ.get("DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from app.engine.tiny import save_model_folder
    from tests.hubserver import HubServer
    from tests.test_model_manager import sd15_twin

    tiny = save_model_folder(home / "tiny", "tiny")
    # SD 1.5 and SD-Turbo (what the first run on a CPU recommends) as the hub stand-in serves them
    server = HubServer([sd15_twin(tiny), sd15_twin(tiny, "sd-turbo")]).start()
    server.slow_delay = 0.08
    os.environ["HF_ENDPOINT"] = server.url
    from huggingface_hub import constants

    constants.ENDPOINT = server.url

    from PySide6.QtCore import QTimer

    from app.ui.main import create_application
    from app.ui.main_window import MainWindow

    app = create_application([])
    window = MainWindow()
    window.resize(1440, 900)
    window.show()
    window.start_engine()

    def grab(name: str) -> None:
        window.grab().save(str(ROOT / "docs" / name))
        print("saved", name)

    def first_run() -> None:
        if not window.first_run.isVisible():
            QTimer.singleShot(200, first_run)
            return
        grab("screenshot-first-run.png")
        window.download_default_model()
        QTimer.singleShot(3500, mid_download)

    def mid_download() -> None:
        grab("screenshot-models.png")
        window.models_worker.cancel_download()
        QTimer.singleShot(500, window.close)
        QTimer.singleShot(1500, app.quit)

    QTimer.singleShot(1500, first_run)
    app.exec()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
