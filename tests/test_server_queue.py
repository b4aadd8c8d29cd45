"""The server's queue under load: a burst of 50 concurrent requests all answered in order,
and clients that leave mid-job (running or still queued) do not break it."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from app.server.api import create_app
from tests.serverkit import LiveServer, module_home_fixture, tiny_runner_fixture

TIMEOUT = 60.0
BURST = 50


easel_home = module_home_fixture()


runner = tiny_runner_fixture()


@pytest.fixture(scope="module")
def url(runner: Any) -> Iterator[str]:
    with LiveServer(create_app(runner)) as u:
        yield u


def test_a_burst_of_50_is_answered_in_order(url: str, runner: Any) -> None:
    before = len(runner.run_order)
    results: dict[int, httpx.Response] = {}
    barrier = threading.Barrier(BURST)

    def one(i: int) -> None:
        body = {"prompt": f"burst {i}", "steps": 2, "width": 64, "height": 64, "seed": i}
        barrier.wait()  # all 50 leave together
        results[i] = httpx.post(f"{url}/sdapi/v1/txt2img", json=body, timeout=TIMEOUT)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(BURST)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    assert sorted(results) == list(range(BURST))  # none lost
    for i, r in results.items():
        assert r.status_code == 200, r.text
        info = json.loads(r.json()["info"])
        assert info["prompt"] == f"burst {i}" and info["all_seeds"] == [i]  # each its own
        assert len(r.json()["images"]) == 1
    ran = list(runner.run_order)[before:]
    assert len(ran) == BURST and ran == sorted(ran)  # first in, first run


def _send_raw(url: str, body: dict[str, Any]) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    data = json.dumps(body).encode()
    s = socket.create_connection((host, int(port)), timeout=10)
    s.sendall(
        b"POST /sdapi/v1/txt2img HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(data)}\r\n\r\n".encode()
        + data
    )
    return s


def _wait(predicate: Any, timeout: float = TIMEOUT) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_clients_leaving_mid_job_do_not_break_the_queue(url: str, runner: Any) -> None:
    long = {"prompt": "long", "steps": 1000, "width": 64, "height": 64}
    running = _send_raw(url, long)
    assert runner.wait_for(lambda s: s.sampling_step >= 1, TIMEOUT)
    running_id = runner.snapshot()[0].job_id
    queued = _send_raw(url, {**long, "prompt": "queued"})
    assert _wait(lambda: runner.queue.pending() == [running_id + 1])
    queued.close()  # leaves while waiting in the queue: dropped, never run
    assert _wait(lambda: runner.outcomes.get(running_id + 1) == "dropped")
    running.close()  # leaves while its job runs: stopped within a step
    assert _wait(lambda: runner.outcomes.get(running_id) == "interrupted")
    assert runner.last_steps[running_id] < 1000
    # The queue carries on.
    body = {"prompt": "after", "steps": 2, "width": 64, "height": 64, "seed": 3}
    r = httpx.post(f"{url}/sdapi/v1/txt2img", json=body, timeout=TIMEOUT)
    assert r.status_code == 200 and json.loads(r.json()["info"])["all_seeds"] == [3]
    assert running_id + 1 not in runner.run_order
