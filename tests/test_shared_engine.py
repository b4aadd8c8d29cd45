""" "Let other apps use Easel" at the worker level: the API server on the window's own engine
thread and queue (real uvicorn, real EngineWorker, the tiny model). The window's cancel-all
leaves other apps' jobs alone; stopping the server answers its waiting requests."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.library.gallery import Gallery
from app.request import GenerationRequest
from app.workers.engine_worker import EngineWorker, live_engine_threads
from app.workers.host_worker import HostWorker
from app.workers.remote_client import RemoteClient, RemoteError

pytest.importorskip("fastapi")
TIMEOUT = 60_000
TOKEN = "shared-token"


def small(prompt: str, seed: int = 1) -> GenerationRequest:
    return GenerationRequest(prompt, steps=2, width=64, height=64, seed=seed, sampler="Euler a")


@pytest.fixture
def shared(qtbot: Any, tiny_model_dir: Path, tmp_path: Path) -> Iterator[tuple[Any, ...]]:
    gallery = Gallery(tmp_path / "pictures", tmp_path / "index.sqlite", tmp_path / "thumbs")
    worker = EngineWorker(gallery=gallery, device="cpu")
    with qtbot.waitSignal(worker.modelReady, timeout=TIMEOUT):
        worker.start()
        worker.load_model(str(tiny_model_dir))
    host = HostWorker()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    with qtbot.waitSignal(host.started, timeout=TIMEOUT) as started:
        host.start(port, TOKEN, worker, gallery, str(tiny_model_dir))
    release = threading.Event()
    runner = host._runner
    original = runner._progress

    def held(job: Any, p: Any) -> None:  # other apps' jobs wait after step 1 until released
        original(job, p)
        if p.step == 1:
            release.wait(120)

    runner._progress = held
    yield worker, host, runner, RemoteClient(started.args[0], TOKEN), release, gallery
    release.set()
    host.stop()
    assert worker.shutdown()
    gallery.close()
    assert live_engine_threads() == []


def _in_thread(fn: Any) -> tuple[threading.Thread, dict[str, Any]]:
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["result"] = fn()
        except Exception as exc:  # noqa: BLE001 - the test reads it
            box["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, box


def test_the_window_cancel_all_leaves_other_apps_jobs_alone(
    qtbot: Any, shared: tuple[Any, ...]
) -> None:
    worker, _host, runner, client, release, gallery = shared
    t, box = _in_thread(lambda: client.generate(small("from another app")))
    qtbot.waitUntil(lambda: runner.snapshot()[0].sampling_step >= 1, timeout=TIMEOUT)
    cancelled: list[int] = []
    worker.jobCancelled.connect(cancelled.append)
    mine = worker.submit(small("mine"))  # waits behind the other app's job, in one queue
    assert worker.pending() == [mine]
    worker.cancel_all()
    assert cancelled == [mine]
    release.set()
    t.join(60)
    result = box["result"]
    assert len(result.images) == 1 and not result.interrupted
    assert gallery.count() == 1  # the other app's picture, in the window's gallery


def test_stopping_answers_waiting_requests_and_interrupts_the_running_one(
    qtbot: Any, shared: tuple[Any, ...]
) -> None:
    worker, _host, runner, client, release, _gallery = shared
    first, first_box = _in_thread(lambda: client.generate(small("first")))
    qtbot.waitUntil(lambda: runner.snapshot()[0].sampling_step >= 1, timeout=TIMEOUT)
    second, second_box = _in_thread(lambda: client.generate(small("second", seed=2)))
    qtbot.waitUntil(lambda: len(worker.queue.pending_jobs()) == 1, timeout=TIMEOUT)
    runner.drop_waiting()  # what stopping the server does first
    release.set()
    first.join(60)
    second.join(60)
    # interrupted as the webui answers: the picture as far as it got
    assert first_box["result"].interrupted and len(first_box["result"].images) == 1
    error = second_box["error"]
    assert isinstance(error, RemoteError)
    assert str(error) == (
        "The Easel server could not run the job: The server is stopping; the job was dropped."
    )
    # The window's engine goes on with the window's jobs.
    with qtbot.waitSignal(worker.jobFinished, timeout=TIMEOUT):
        worker.submit(small("after"))
