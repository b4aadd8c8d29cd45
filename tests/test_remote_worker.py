"""The window's remote engine against a real Easel server: uvicorn on a free port, the real
API and engine runner on two tiny random models, a token. The worker generates, shows live
previews, cancels, and puts the server's pictures in the local gallery with their parameters.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from app.library.gallery import Gallery
from app.library.pngio import read_parameters
from app.request import GenerationRequest
from app.workers.jobs import JobResult
from app.workers.remote_client import RemoteClient, RemoteError, payload_for
from app.workers.remote_worker import RemoteWorker, live_remote_threads
from tests.serverkit import (
    LiveServer,
    cpu_engine,
    make_runner,
    module_home_fixture,
    tiny_model_folders,
)

pytest.importorskip("fastapi")
TIMEOUT = 60_000
TOKEN = "s3cret-token"


def small(prompt: str = "a red fox", **kw: Any) -> GenerationRequest:
    fields: dict[str, Any] = {
        "steps": 2,
        "width": 64,
        "height": 64,
        "seed": 7,
        "sampler": "Euler a",
    }
    fields.update(kw)
    return GenerationRequest(prompt, **fields)


easel_home = module_home_fixture()


@pytest.fixture(scope="module")
def models(easel_home: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return tiny_model_folders(tmp_path_factory.mktemp("remote-models"))


class Gate:
    """Holds the server's engine after step 1 until the test lets it go (no sleeps)."""

    def __init__(self) -> None:
        self.hold = False
        self.release = threading.Event()

    def wrap(self, runner: Any) -> None:
        original = runner._progress

        def progress(job: Any, p: Any) -> None:
            original(job, p)
            if self.hold and p.step == 1:
                self.release.wait(120)

        runner._progress = progress


@pytest.fixture(scope="module")
def gate() -> Gate:
    return Gate()


@pytest.fixture(scope="module")
def runner(models: dict[str, Path], gate: Gate) -> Iterator[Any]:
    r = make_runner(models["tiny-a"])
    gate.wrap(r)
    yield r
    gate.release.set()
    assert r.stop()


@pytest.fixture(scope="module")
def server(runner: Any) -> Iterator[LiveServer]:
    from app.server.api import ServerSettings, create_app
    from app.server.security import Credentials

    settings = ServerSettings(Credentials(tokens=(TOKEN,)))
    live = LiveServer(create_app(runner, settings)).start()
    yield live
    live.stop()


@pytest.fixture(autouse=True)
def open_gate(gate: Gate) -> Iterator[None]:
    yield
    gate.hold = False
    gate.release.set()
    assert live_remote_threads() == [], "a test left a remote worker running"


@pytest.fixture
def gallery(tmp_path: Path) -> Iterator[Gallery]:
    g = Gallery(tmp_path / "pictures", tmp_path / "index.sqlite", tmp_path / "thumbs")
    yield g
    g.close()


@pytest.fixture
def worker(qtbot: Any, server: LiveServer, gallery: Gallery) -> Iterator[RemoteWorker]:
    w = RemoteWorker(server.url, TOKEN, gallery=gallery, poll_interval=0.02)
    with qtbot.waitSignal(w.engineReady, timeout=TIMEOUT) as ready:
        w.start()
    assert ready.args[0] == f"Server 127.0.0.1:{server.port}"
    yield w
    assert w.shutdown()


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"))


def test_generates_on_the_server_into_the_local_gallery(
    qtbot: Any, worker: RemoteWorker, gallery: Gallery, models: dict[str, Path]
) -> None:
    with qtbot.waitSignal(worker.jobFinished, timeout=TIMEOUT) as done:
        job_id = worker.submit(small(batch_size=2))
    got_id, result = done.args
    assert got_id == job_id and isinstance(result, JobResult)
    assert result.seeds == [7, 8] and len(result.paths) == 2
    want = cpu_engine(models["tiny-a"]).generate(small(batch_size=2))
    for path, image, text in zip(result.paths, want.images, want.infotexts, strict=True):
        assert Path(path).parent == gallery.root
        with Image.open(path) as saved:
            assert np.array_equal(pixels(saved), pixels(image))  # the server's image, exactly
        assert read_parameters(Path(path)) == text  # the parameters the server wrote
    assert "Steps: 2" in result.infotexts[0] and "Seed: 7" in result.infotexts[0]
    assert gallery.count() == 2


def test_the_window_model_is_picked_on_the_server_by_name(
    qtbot: Any, worker: RemoteWorker, models: dict[str, Path]
) -> None:
    with qtbot.waitSignal(worker.modelReady, timeout=TIMEOUT) as ready:
        worker.load_model(str(models["tiny-b"]))
    assert ready.args[0] == "tiny-b (on the server)"
    with qtbot.waitSignal(worker.jobFinished, timeout=TIMEOUT) as done:
        worker.submit(small("a blue bird", seed=3))
    want = cpu_engine(models["tiny-b"]).generate(small("a blue bird", seed=3))
    with Image.open(done.args[1].paths[0]) as saved:
        assert np.array_equal(pixels(saved), pixels(want.images[0]))


def test_live_previews_come_from_progress(qtbot: Any, worker: RemoteWorker, gate: Gate) -> None:
    gate.hold, gate.release = True, threading.Event()
    steps: list[tuple[int, int]] = []
    worker.progress.connect(lambda _j, step, total, _e: steps.append((step, total)))
    with qtbot.waitSignal(worker.preview, timeout=TIMEOUT) as shown:
        job_id = worker.submit(small())
    assert shown.args[0] == job_id
    assert shown.args[1].width() > 0 and not shown.args[1].isNull()
    assert (1, 2) in steps
    with qtbot.waitSignal(worker.jobFinished, timeout=TIMEOUT):
        gate.release.set()


def test_cancel_interrupts_the_running_job_and_drops_a_queued_one(
    qtbot: Any, worker: RemoteWorker, gate: Gate, runner: Any, gallery: Gallery
) -> None:
    gate.hold, gate.release = True, threading.Event()
    cancelled: list[int] = []
    worker.jobCancelled.connect(cancelled.append)
    with qtbot.waitSignal(worker.progress, timeout=TIMEOUT):
        first = worker.submit(small("first"))
    second = worker.submit(small("second"))
    worker.cancel(second)  # still in the window's queue: gone at once
    assert cancelled == [second]
    server_job = runner.snapshot()[0].job_id
    with qtbot.waitSignal(worker.jobCancelled, timeout=TIMEOUT) as over:
        worker.cancel(first)
        # /sdapi/v1/interrupt arrived (the runner sets the flag without notifying waiters)
        qtbot.waitUntil(lambda: runner.snapshot()[0].interrupted, timeout=TIMEOUT)
        gate.release.set()
    assert over.args[0] == first
    assert runner.outcomes[server_job] == "interrupted"
    assert gallery.count() == 0


def test_finish_now_keeps_the_servers_picture_in_the_local_gallery(
    qtbot: Any, worker: RemoteWorker, gate: Gate, runner: Any, gallery: Gallery
) -> None:
    """Finish now on a remote job: the server's Interrupt answers with the picture reached,
    which lands in this computer's gallery like any other (Cancel would drop it)."""
    gate.hold, gate.release = True, threading.Event()
    with qtbot.waitSignal(worker.progress, timeout=TIMEOUT):
        job = worker.submit(small("keep it", steps=50))
    server_job = runner.snapshot()[0].job_id
    with qtbot.waitSignal(worker.jobFinished, timeout=TIMEOUT) as done:
        assert worker.finish_now(job)
        qtbot.waitUntil(lambda: runner.snapshot()[0].interrupted, timeout=TIMEOUT)
        gate.release.set()
    assert done.args[0] == job and len(done.args[1].paths) == 1
    assert runner.outcomes[server_job] == "interrupted"
    assert gallery.count() == 1


def test_a_wrong_token_is_one_sentence(qtbot: Any, server: LiveServer) -> None:
    w = RemoteWorker(server.url, "not-the-token")
    with qtbot.waitSignal(w.engineFailed, timeout=TIMEOUT) as failed:
        w.start()
    message = failed.args[0]
    assert message == (
        f"The Easel server at {server.url} refused the connection because the token is "
        "wrong; enter the token shown on the server in Settings → Engine."
    )
    with qtbot.waitSignal(w.jobFailed, timeout=TIMEOUT) as job_failed:
        w.submit(small())
    assert job_failed.args[1] == message
    assert w.shutdown()
    with pytest.raises(RemoteError, match="because it needs a token"):
        RemoteClient(server.url).check()


def test_server_down_and_timeout_are_one_sentence() -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    with pytest.raises(RemoteError) as down:
        RemoteClient(f"127.0.0.1:{port}").check()
    assert str(down.value) == (
        f"Could not reach the Easel server at http://127.0.0.1:{port} (nothing is listening "
        "there); check that it is running and that the address is right."
    )
    silent = socket.socket()  # listens, never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    try:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(RemoteError) as slow:
            RemoteClient(url, timeout=0.3).check()
        assert str(slow.value) == (
            f"The Easel server at {url} did not answer within 0.3 seconds; "
            "check that it is running and reachable."
        )
    finally:
        silent.close()
    with pytest.raises(RemoteError, match="is not a server address"):
        RemoteClient("ftp://example.org")


def test_requests_the_server_cannot_run_are_refused_before_sending() -> None:
    with pytest.raises(RemoteError, match="Outpainting runs on this computer only"):
        payload_for(small(mode="outpaint"))
    path, body = payload_for(small(clip_skip=2), model="tiny-b")
    assert path == "/sdapi/v1/txt2img"
    assert body["override_settings"] == {
        "CLIP_stop_at_last_layers": 2,
        "sd_model_checkpoint": "tiny-b",
    }
