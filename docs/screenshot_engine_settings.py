"""Screenshots of Settings → Engine: ``docs/screenshot-settings-engine.png`` (an Easel server
chosen and tested) and ``docs/screenshot-settings-engine-share.png`` (this computer, shared).

    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/screenshot_engine_settings.py

Nothing is staged: a real Easel server (uvicorn, a tiny random model, a token) runs on a free
port, "Test connection" is pressed against it, and "Let other apps use Easel" really serves
a started engine worker (as the window's) on 127.0.0.1 before the page is grabbed. Needs the
``server`` extra.
"""

from __future__ import annotations

import os
import socket
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _wait(signal: object, timeout_ms: int = 120_000) -> list[object]:
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    got: list[object] = []

    def done(*args: object) -> None:
        got.extend(args)
        loop.quit()

    signal.connect(done)  # type: ignore[attr-defined]
    QTimer.singleShot(timeout_ms, loop.quit)
    loop.exec()
    return got


def shoot() -> int:
    os.environ["EASEL_HOME"] = tempfile.mkdtemp(prefix="easel-shot-")
    from app.server.api import ServerSettings, create_app
    from app.server.security import Credentials
    from app.ui.engine_settings import SettingsDialog
    from app.ui.main import create_application
    from app.ui.settings import UiSettings
    from app.workers.engine_worker import EngineWorker
    from app.workers.host_worker import HostWorker
    from tests.serverkit import LiveServer, make_runner, tiny_model_folders

    app = create_application([])
    models = tiny_model_folders(Path(os.environ["EASEL_HOME"]) / "models")
    runner = make_runner(models["tiny-a"])
    token = "4f9c2e7a1b"
    live = LiveServer(create_app(runner, ServerSettings(Credentials(tokens=(token,))))).start()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    settings = UiSettings(
        engine="server",
        server_url=live.url,
        server_token=token,
        share_port=port,
        share_token="r7Qx2mVfK0pLs9dZbE3nHw8uTy1cAo6j",
    )
    dialog = SettingsDialog(settings)
    dialog.show()
    page = dialog.engine_page
    page.test_connection()
    _wait(page.tester.finished)
    app.processEvents()
    out = ROOT / "docs" / "screenshot-settings-engine.png"
    dialog.grab().save(str(out))
    print(f"wrote {out}: {page.test_result.text()}")

    # This computer's engine, shared with other apps on 127.0.0.1.
    worker = EngineWorker(device="cpu")
    worker.start()
    worker.load_model(str(models["tiny-b"]))
    _wait(worker.modelReady)
    page.local_radio.setChecked(True)
    page.share_check.setChecked(True)
    host = HostWorker()
    host.failed.connect(lambda m: page.set_share_status(m, False))
    host.start(port, settings.share_token, worker, None, str(models["tiny-b"]))
    url = _wait(host.started)
    if url:
        page.set_share_status(
            f"Serving at {url[0]}; apps send the token as 'Authorization: Bearer <token>'.", True
        )
    app.processEvents()
    out = ROOT / "docs" / "screenshot-settings-engine-share.png"
    dialog.grab().save(str(out))
    print(f"wrote {out}: {page.share_status.text()}")
    host.stop()
    worker.shutdown()
    live.stop()
    runner.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(shoot())
