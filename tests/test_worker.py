"""The engine worker and its job queue, driven through signals on the tiny model."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.library.gallery import Gallery
from app.library.pngio import read_parameters
from app.request import GenerationRequest
from app.workers.engine_worker import EngineWorker
from app.workers.jobs import Job, JobQueue, JobResult, LoadCommand

TIMEOUT = 60_000


def small(prompt: str = "a red fox", steps: int = 2, **kw: object) -> GenerationRequest:
    return GenerationRequest(prompt, steps=steps, width=64, height=64, seed=7, **kw)  # type: ignore[arg-type]


pytestmark = pytest.mark.usefixtures("no_engine_thread_left")


@pytest.fixture
def worker(qtbot: object) -> Iterator[EngineWorker]:
    w = EngineWorker(device="cpu")
    with qtbot.waitSignal(w.engineReady, timeout=TIMEOUT):  # type: ignore[attr-defined]
        w.start()
    yield w
    assert w.shutdown()


# -- the queue alone (no Qt, no engine) ------------------------------------------------------


def test_queue_is_fifo_and_cancels_queued_jobs() -> None:
    q = JobQueue()
    jobs = [Job(q.new_id(), small(str(i))) for i in range(3)]
    for job in jobs:
        q.put(job)
    assert q.pending() == [1, 2, 3]
    assert q.cancel(2) == "removed"
    assert jobs[1].cancel.is_set()
    assert q.take(0) is jobs[0]
    assert q.current is jobs[0]
    assert q.cancel(1) == "signalled" and jobs[0].cancel.is_set()
    assert q.cancel(99) == ""
    assert q.take(0) is jobs[2]
    assert q.take(0.01) is None


def test_queue_cancel_all_keeps_load_commands_and_close_wakes_taker() -> None:
    q = JobQueue()
    q.put(Job(q.new_id(), small()))
    q.put(LoadCommand(model_path="x"))
    q.put(Job(q.new_id(), small()))
    running = q.take(0)
    assert isinstance(running, Job)
    removed, current = q.cancel_all()
    assert removed == [2] and current == 1
    assert isinstance(q.take(0), LoadCommand)

    got: list[object] = ["unset"]
    t = threading.Thread(target=lambda: got.__setitem__(0, q.take()))
    t.start()
    q.close()
    t.join(5)
    assert not t.is_alive() and got[0] is None


# -- the worker in its thread ---------------------------------------------------------------


def test_job_runs_and_is_saved_to_the_gallery(
    qtbot, worker: EngineWorker, tiny_model_dir: Path
) -> None:
    steps: list[tuple[int, int]] = []
    previews = []
    worker.progress.connect(lambda _j, s, t, _e: steps.append((s, t)))
    worker.preview.connect(lambda _j, img: previews.append(img))
    with qtbot.waitSignal(worker.jobFinished, timeout=TIMEOUT) as done:
        job_id = worker.submit(small(batch_size=2), str(tiny_model_dir))
    got_id, result = done.args
    assert got_id == job_id
    assert isinstance(result, JobResult)
    assert steps[-1] == (2, 2)
    assert previews and not previews[-1].isNull()
    assert result.seeds == [7, 8]
    assert len(result.paths) == 2
    for path, info in zip(result.paths, result.infotexts, strict=True):
        assert Path(path).is_file()
        assert read_parameters(Path(path)) == info
        assert "a red fox" in info and "Steps: 2" in info
    with Gallery() as g:
        assert {str(i.path) for i in g.items()} == set(result.paths)


def test_cancel_running_job_stops_it(qtbot, worker: EngineWorker, tiny_model_dir: Path) -> None:
    worker.progress.connect(lambda job, step, _t, _e: worker.cancel(job) if step == 1 else None)
    finished: list[int] = []
    worker.jobFinished.connect(lambda j, _r: finished.append(j))
    with qtbot.waitSignal(worker.jobCancelled, timeout=TIMEOUT) as cancelled:
        job_id = worker.submit(small(steps=50), str(tiny_model_dir))
    assert cancelled.args == [job_id]
    assert finished == []
    with Gallery() as g:
        assert g.items() == []


def test_cancel_queued_job_removes_it(qtbot, worker: EngineWorker, tiny_model_dir: Path) -> None:
    order: list[tuple[str, int]] = []
    worker.jobStarted.connect(lambda j: order.append(("started", j)))
    worker.jobFinished.connect(lambda j, _r: order.append(("done", j)))
    worker.jobCancelled.connect(lambda j: order.append(("cancelled", j)))
    model = str(tiny_model_dir)
    a = worker.submit(small("a"), model)
    b = worker.submit(small("b"), model)
    c = worker.submit(small("c"), model)
    worker.cancel(b)
    assert ("cancelled", b) in order  # at once, from the caller's thread
    qtbot.waitUntil(lambda: ("done", c) in order, timeout=TIMEOUT)
    assert [e for e in order if e[0] != "cancelled"] == [
        ("started", a),
        ("done", a),
        ("started", c),
        ("done", c),
    ]


def test_bad_model_fails_with_one_sentence_and_worker_survives(
    qtbot, worker: EngineWorker, tiny_model_dir: Path, tmp_path: Path
) -> None:
    with qtbot.waitSignal(worker.jobFailed, timeout=TIMEOUT) as failed:
        worker.submit(small(), str(tmp_path / "nope"))
    message = failed.args[1]
    assert "does not exist" in message and "\n" not in message
    with qtbot.waitSignal(worker.jobFinished, timeout=TIMEOUT):
        worker.submit(small(), str(tiny_model_dir))


def test_invalid_request_fails_before_loading(
    qtbot, worker: EngineWorker, tiny_model_dir: Path
) -> None:
    with qtbot.waitSignal(worker.jobFailed, timeout=TIMEOUT) as failed:
        worker.submit(GenerationRequest("x", width=65, height=64, steps=2), str(tiny_model_dir))
    assert "multiple of 8" in failed.args[1]


def test_pipeline_factory_and_custom_save(qtbot) -> None:
    saved: list[int] = []

    def factory():  # runs in the engine thread
        from diffusers import StableDiffusionPipeline

        from app.engine.tiny import build_components

        return StableDiffusionPipeline(
            **build_components("tiny"), requires_safety_checker=False
        ), "tiny"

    def save(result) -> list[str]:
        saved.extend(result.seeds)
        return []

    w = EngineWorker(device="cpu", save=save)
    try:
        with qtbot.waitSignal(w.modelReady, timeout=TIMEOUT) as ready:
            w.start()
            w.load_pipeline_factory(factory)
        assert ready.args == ["tiny"]
        with qtbot.waitSignal(w.jobFinished, timeout=TIMEOUT):
            w.submit(small())
        assert saved == [7]
    finally:
        assert w.shutdown()


def test_shutdown_during_a_job_cancels_it(qtbot, tiny_model_dir: Path) -> None:
    w = EngineWorker(device="cpu", save=lambda r: [])
    w.start()
    with qtbot.waitSignal(w.progress, timeout=TIMEOUT):
        w.submit(small(steps=200), str(tiny_model_dir))
    assert w.shutdown(30_000)
    assert not w.qthread.isRunning()


def test_unexpected_errors_become_one_sentence(qtbot, tiny_model_dir: Path) -> None:
    calls: list[int] = []

    def save(result) -> list[str]:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("disk on fire\nwith a second line")
        return []

    w = EngineWorker(device="cpu", save=save)
    try:
        with qtbot.waitSignal(w.modelFailed, timeout=TIMEOUT) as bad_factory:
            w.start()
            w.load_pipeline_factory(lambda: (_ for _ in ()).throw(ValueError("no pipe")))
        assert "no pipe" in bad_factory.args[0] and "\n" not in bad_factory.args[0]
        with qtbot.waitSignal(w.jobFailed, timeout=TIMEOUT) as failed:
            w.submit(small(), str(tiny_model_dir))
        assert failed.args[1] == (
            "Generation failed unexpectedly (disk on fire); try again or pick another model."
        )
        with qtbot.waitSignal(w.jobFinished, timeout=TIMEOUT):
            w.submit(small(), str(tiny_model_dir))
    finally:
        assert w.shutdown()
