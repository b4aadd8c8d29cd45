"""Start-up: the window appears before torch is imported (DESIGN.md, start-up speed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(QT_QPA_PLATFORM="offscreen", EASEL_HOME=str(home))
    env.pop("EASEL_MODEL", None)
    return env


def test_window_builds_without_torch(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from app.ui.main import create_application\n"
        "from app.ui.main_window import MainWindow\n"
        "app = create_application([])\n"
        "w = MainWindow()\n"
        "w.show()\n"
        "app.processEvents()\n"
        "heavy = [m for m in ('torch', 'diffusers', 'transformers', 'app.engine') if m in sys.modules]\n"
        "print('heavy:', ','.join(heavy))\n"
        "w.close()\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "heavy: \n" in out.stdout, out.stdout


def test_python_m_app_shows_the_window(tmp_path: Path) -> None:
    env = _env(tmp_path)
    env["EASEL_STARTUP_PROBE"] = "1"
    out = subprocess.run(
        [sys.executable, "-m", "app"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("window-exposed "), out.stdout + out.stderr
