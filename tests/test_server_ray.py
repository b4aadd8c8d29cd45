"""``serve --ray``: the same API on a local Ray Serve instance with 2 CPU engine replicas of a
tiny model. Eight requests at once are all answered, spread over both replicas, and each image
equals the engine's own for the same request; progress, interrupt and the credentials work
through the cluster too."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'easel[cluster]')")
serve = pytest.importorskip("ray.serve", reason="Ray Serve is not installed (easel[cluster])")
httpx = pytest.importorskip("httpx")

from app.server.api import ServerSettings  # noqa: E402
from app.server.convert import base_request, decode_image  # noqa: E402
from app.server.ray_serve import BOARD_NAME, BOARD_NAMESPACE, build_cluster_app  # noqa: E402
from app.server.runner import ModelChoice  # noqa: E402
from app.server.schemas import Txt2ImgRequest  # noqa: E402
from app.server.security import Credentials  # noqa: E402

TOKEN = "ray-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TIMEOUT = 60.0
ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from app.engine.tiny import save_model_folder

    return save_model_folder(tmp_path_factory.mktemp("ray-models") / "tiny-a", "tiny", seed=0)


@pytest.fixture(scope="module")
def url(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    mp = pytest.MonkeyPatch()
    mp.setenv("EASEL_HOME", str(tmp_path_factory.mktemp("ray-home")))
    path = os.environ.get("PYTHONPATH", "")
    mp.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(ROOT), path) if p))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    port = _free_port()
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        model = ModelChoice("tiny-a", "tiny-a", str(model_path))
        settings = ServerSettings(Credentials(tokens=(TOKEN,)))
        app = build_cluster_app(
            model, settings, replicas=2, gpus=False, device="cpu", gallery=False
        )
        serve.run(app, name="easel", route_prefix="/")
        yield f"http://127.0.0.1:{port}"
    finally:
        serve.shutdown()
        ray.shutdown()
        mp.undo()


@ray.remote(num_cpus=0)
def _engine_images(path: str, bodies: list[dict[str, Any]]) -> list[np.ndarray]:
    import torch

    from app.engine.device import detect_device
    from app.engine.engine import Engine

    torch.set_num_threads(1)  # as a replica given one CPU, on the device it picks for "cpu"
    engine = Engine(detect_device("cpu"))
    engine.load(path)
    out = []
    for body in bodies:
        image = engine.generate(base_request(Txt2ImgRequest(**body))).images[0]
        out.append(np.asarray(image.convert("RGB")))
    return out


def _body(i: int, steps: int = 3) -> dict[str, Any]:
    return {"prompt": f"cluster {i}", "steps": steps, "width": 64, "height": 64, "seed": 100 + i}


def test_eight_at_once_are_all_answered_by_both_replicas_and_equal_the_engine(
    url: str, model_path: Path
) -> None:
    results: dict[int, httpx.Response] = {}
    barrier = threading.Barrier(8)

    def one(i: int) -> None:
        barrier.wait()
        results[i] = httpx.post(
            f"{url}/sdapi/v1/txt2img", json=_body(i), headers=AUTH, timeout=TIMEOUT
        )

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    assert sorted(results) == list(range(8))
    assert all(r.status_code == 200 for r in results.values()), [
        r.text[:200] for r in results.values()
    ]

    # The reference: one plain engine (no server, no Serve) in a Ray worker, a process like
    # a replica's (one torch thread): CPU float results differ in the last bit with the
    # thread count, so the engine is compared where it runs the same way.
    wants = ray.get(_engine_images.remote(str(model_path), [_body(i) for i in range(8)]))
    for i, r in results.items():
        images = r.json()["images"]
        assert len(images) == 1
        got = np.asarray(decode_image(images[0]).convert("RGB"))
        assert np.array_equal(got, wants[i])

    board = ray.get_actor(BOARD_NAME, namespace=BOARD_NAMESPACE)
    served = ray.get(board.replicas.remote())
    assert len(set(served.values())) == 2, served  # both replicas took jobs


def test_credentials_are_checked_on_the_cluster_too(url: str) -> None:
    assert httpx.get(f"{url}/internal/ping", timeout=TIMEOUT).status_code == 200
    r = httpx.post(f"{url}/sdapi/v1/txt2img", json=_body(0), timeout=TIMEOUT)
    assert r.status_code == 401
    bad = {"Authorization": "Bearer wrong"}
    assert httpx.get(f"{url}/sdapi/v1/options", headers=bad, timeout=TIMEOUT).status_code == 401
    ok = httpx.get(f"{url}/sdapi/v1/options", headers=AUTH, timeout=TIMEOUT)
    assert ok.status_code == 200 and ok.json()["sd_model_checkpoint"] == "tiny-a"


def test_progress_shows_the_running_job_and_interrupt_stops_it(url: str) -> None:
    answer: dict[str, httpx.Response] = {}

    def long() -> None:
        answer["r"] = httpx.post(
            f"{url}/sdapi/v1/txt2img", json=_body(9, steps=1000), headers=AUTH, timeout=TIMEOUT
        )

    t = threading.Thread(target=long)
    t.start()
    deadline = time.monotonic() + 30
    seen: dict[str, Any] = {}
    while time.monotonic() < deadline:  # bounded polling of the API, as a client would
        p = httpx.get(f"{url}/sdapi/v1/progress", headers=AUTH, timeout=TIMEOUT).json()
        if p["state"]["job_count"] == 1 and p["state"]["sampling_step"] > 0:
            seen = p
            break
    assert seen, "the running job never showed in /progress"
    assert seen["state"]["sampling_steps"] == 1000 and 0 < seen["progress"] < 1
    assert seen["current_image"]  # the live preview comes from the replica
    r = httpx.post(f"{url}/sdapi/v1/interrupt", headers=AUTH, timeout=TIMEOUT)
    assert r.status_code == 200
    t.join(TIMEOUT)
    assert answer["r"].status_code == 200
    body = answer["r"].json()
    # stopped long before step 1000: the picture as far as it got, as the webui answers
    assert len(body["images"]) == 1 and json.loads(body["info"])["interrupted"] is True
    idle = httpx.get(f"{url}/sdapi/v1/progress", headers=AUTH, timeout=TIMEOUT).json()
    assert idle["state"]["job_count"] == 0
