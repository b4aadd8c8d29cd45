"""``python -m app --selftest`` and ``--smoke-window``: what the frozen app runs, unfrozen."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_app(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    (home / "tmp").mkdir(exist_ok=True)
    env = dict(
        os.environ,
        QT_QPA_PLATFORM="offscreen",
        EASEL_HOME=str(home / "outer"),
        TMPDIR=str(home / "tmp"),
    )
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_selftest_passes_and_cleans_up(tmp_path: Path) -> None:
    out = run_app("--selftest", home=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "self-test passed via the worker" in out.stdout and "upscale " in out.stdout
    # It used its own temporary home, not the one it was given, and left nothing behind.
    assert not (tmp_path / "outer").exists()
    assert list((tmp_path / "tmp").glob("easel-selftest-*")) == []


def test_smoke_window_opens_and_closes(tmp_path: Path) -> None:
    out = run_app("--smoke-window", home=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "window smoke test passed" in out.stdout


def test_selftest_through_the_engine_path_without_qt(monkeypatch: pytest.MonkeyPatch) -> None:
    from app import selftest

    assert selftest.run_selftest(use_worker=False) == 0


def test_a_png_without_parameters_fails_the_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from PIL import Image

    from app.library.gallery import Gallery
    from app.selftest import SelftestError, check_output

    with Gallery(tmp_path / "pictures", tmp_path / "index.sqlite3", tmp_path / "thumbs") as g:
        item = g.add(Image.new("RGB", (64, 64)), "", seed=7)
        with pytest.raises(SelftestError, match="parameters chunk lacks"):
            check_output([str(item.path)], g)


def test_a_failure_is_one_sentence_and_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from app import selftest

    def broken() -> None:
        raise selftest.SelftestError("the engine stack does not import (ImportError: torch)")

    monkeypatch.setattr(selftest, "check_imports", broken)
    assert selftest.run_selftest() == 1
    err = capsys.readouterr().err.strip()
    assert err == "Easel self-test failed: the engine stack does not import (ImportError: torch)."
