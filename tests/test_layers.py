"""The one direction of imports (DESIGN.md), enforced by import-linter and in a fresh process."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_import_linter_contracts_hold() -> None:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.fail("lint-imports is not installed; run make test to set up the dev tools")
    out = subprocess.run([exe], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def _modules_after_import(module: str) -> set[str]:
    code = f"import sys, {module}; print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return set(out.stdout.split())


def test_engine_never_imports_qt() -> None:
    mods = _modules_after_import("app.engine.engine, app.engine.device, app.cli")
    assert "torch" in mods  # the engine itself is loaded
    assert not {m for m in mods if m.startswith(("PySide6", "shiboken6"))}


def test_engine_sources_have_no_qt_import() -> None:
    offenders = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "app" / "engine").rglob("*.py")
        if "PySide6" in p.read_text() or "shiboken6" in p.read_text()
    ]
    assert offenders == []


def test_cli_help_does_not_load_torch() -> None:
    code = "import sys; from app.__main__ import build_parser; build_parser(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip() == "False", out.stderr
