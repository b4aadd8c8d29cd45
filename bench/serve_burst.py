"""The server under a burst: N concurrent txt2img requests (threads, plain HTTP) against
uvicorn on a tiny random model; every one must be answered, in FIFO order. Prints wall
time, throughput and latency percentiles.

    .venv/bin/python bench/serve_burst.py [--requests 50] [--steps 2] [--size 64]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args()
    os.environ["EASEL_HOME"] = tempfile.mkdtemp(prefix="easel-bench-serve-")

    import httpx

    from app.server.api import create_app
    from tests.serverkit import LiveServer, make_runner, tiny_model_folders

    models = tiny_model_folders(Path(os.environ["EASEL_HOME"]) / "models-src")
    runner = make_runner(models["tiny-a"])
    n, size = args.requests, args.size
    bodies = [
        {"prompt": f"burst {i}", "steps": args.steps, "width": size, "height": size, "seed": i}
        for i in range(n)
    ]
    latencies: dict[int, float] = {}
    ok: dict[int, bool] = {}
    with LiveServer(create_app(runner)) as url:
        barrier = threading.Barrier(n)

        def one(i: int) -> None:
            barrier.wait()
            start = time.perf_counter()
            r = httpx.post(f"{url}/sdapi/v1/txt2img", json=bodies[i], timeout=600)
            latencies[i] = time.perf_counter() - start
            ok[i] = r.status_code == 200 and json.loads(r.json()["info"])["all_seeds"] == [i]

        before = len(runner.run_order)
        threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
    ran = list(runner.run_order)[before:]
    runner.stop()
    lat = sorted(latencies.values())
    print(f"requests: {n}, answered: {sum(ok.values())}/{n}, FIFO kept: {ran == sorted(ran)}")
    print(f"wall: {wall:.2f} s, throughput: {n / wall:.1f} req/s")
    print(
        f"latency: p50 {statistics.median(lat):.2f} s, "
        f"p95 {lat[int(0.95 * (n - 1))]:.2f} s, max {lat[-1]:.2f} s"
    )
    return 0 if all(ok.values()) and len(ok) == n else 1


if __name__ == "__main__":
    sys.exit(main())
