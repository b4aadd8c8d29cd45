"""The queue survives a crash: SIGKILL the real app with 3 jobs queued, start it again, and
the 3 come back paused ("Resume 3 jobs?"); resumed, they make 3 gallery pictures, and the job
running at the kill left no partial file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from app.library import paths
from app.library.gallery import Gallery
from app.library.jobstore import JobStore
from app.ui.main_window import MainWindow
from app.ui.queue_guard import close_question
from tests.dialogs import Answer

TIMEOUT = 120_000
ROOT = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("no_engine_thread_left")


def kill_mid_job(tiny_model_dir: Path, jobs: int) -> list[str]:
    """Run tests/queue_child.py until its first job is mid-step, then SIGKILL it."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "queue_child.py"), str(tiny_model_dir), str(jobs)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    watchdog = threading.Timer(TIMEOUT / 1000, proc.kill)  # never hang the suite
    watchdog.start()
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.strip())
            if line.startswith("running"):
                os.kill(proc.pid, signal.SIGKILL)
                break
    finally:
        watchdog.cancel()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, f"the app was not killed mid-job: {lines}"
    return lines


def test_kill_9_with_3_jobs_then_resume_makes_3_pictures(qtbot, tiny_model_dir: Path) -> None:
    lines = kill_mid_job(tiny_model_dir, 3)
    assert "queued 3" in lines and any(line.startswith("running 1 ") for line in lines)

    gallery_dir = paths.default_gallery_dir()
    assert sorted(os.listdir(gallery_dir)) == [], "the job killed mid-way left a file"
    with JobStore() as store:
        assert store.count() == 3  # the running one and the two waiting

    w = MainWindow(model_path=str(tiny_model_dir))
    qtbot.addWidget(w)
    w.show()
    try:
        banner = w.resume_banner
        assert banner.isVisible()
        assert "Resume 3 jobs?" in banner.label.text()
        assert banner.resume_button.text() == "Resume 3 jobs"
        assert w.worker.pending() == []  # paused: nothing runs before the user says so
        finished: list[list[str]] = []
        w.worker.jobFinished.connect(lambda _id, result: finished.append(result.paths))
        with qtbot.waitSignal(w.worker.engineReady, timeout=TIMEOUT):
            w.start_engine()
        qtbot.mouseClick(banner.resume_button, Qt.MouseButton.LeftButton)
        assert not banner.isVisible()
        assert len(w.jobs.active()) == 3
        qtbot.waitUntil(lambda: len(finished) == 3, timeout=TIMEOUT)
        with Gallery() as g:
            items = g.items()
        assert len(items) == 3
        assert sorted(p.name for p in gallery_dir.iterdir()) == sorted(i.path.name for i in items)
        assert {i.seed for i in items} == {7, 8, 9}
        with JobStore() as store:
            assert store.count() == 0  # done jobs are off the queue file
    finally:
        w.close()


def test_discard_forgets_the_stored_jobs(qtbot, tiny_model_dir: Path, tiny_components) -> None:
    from app.request import GenerationRequest

    with JobStore() as store:
        for seed in (1, 2):
            store.add(GenerationRequest(prompt="a cat", seed=seed), str(tiny_model_dir))
    w = MainWindow(model_path=str(tiny_model_dir))
    qtbot.addWidget(w)
    w.show()
    try:
        assert "Resume 2 jobs?" in w.resume_banner.label.text()
        with qtbot.waitSignal(w.resume_banner.discarded) as discarded:
            qtbot.mouseClick(w.resume_banner.discard_button, Qt.MouseButton.LeftButton)
        assert discarded.args == [2]
        assert not w.resume_banner.isVisible() and w.jobs.entries() == []
        with JobStore() as store:
            assert store.count() == 0
    finally:
        w.close()


def test_closing_with_jobs_pending_asks_and_keeps_them(qtbot, tiny_model_dir: Path) -> None:
    from app.request import GenerationRequest

    w = MainWindow(model_path=str(tiny_model_dir))  # engine not started: the jobs wait
    qtbot.addWidget(w)
    w.show()
    for seed in (1, 2):
        w.submit(GenerationRequest(prompt="a cat", seed=seed, width=64, height=64, steps=2))
    stay = Answer("Keep working")
    assert not w.close()
    assert stay.asked and stay.text == close_question(2, kept=True)[0]
    assert w.isVisible() and len(w.jobs.active()) == 2
    go = Answer("Quit")
    assert w.close()
    assert go.asked
    with JobStore() as store:
        assert store.count() == 2  # offered again at the next start
    again = MainWindow(model_path=str(tiny_model_dir))
    qtbot.addWidget(again)
    try:
        assert "Resume 2 jobs?" in again.resume_banner.label.text()
    finally:
        again.close()
