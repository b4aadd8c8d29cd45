"""Ray Serve scaling: the same burst of txt2img requests against `serve --ray` with 1 engine
replica and then with 2 (CPU replicas, one core each, a tiny random model, one local Ray
instance). Prints wall time per run and the throughput ratio of 2 replicas against 1.

    .venv/bin/python bench/serve_scale.py [--requests 16] [--steps 10] [--size 64] [--cpus 2]
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def burst(url: str, bodies: list[dict]) -> float:
    import httpx

    ok: dict[int, bool] = {}
    barrier = threading.Barrier(len(bodies))

    def one(i: int) -> None:
        barrier.wait()
        r = httpx.post(f"{url}/sdapi/v1/txt2img", json=bodies[i], timeout=600)
        ok[i] = r.status_code == 200 and len(r.json()["images"]) == 1

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(bodies))]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if sum(ok.values()) != len(bodies):
        raise SystemExit(f"only {sum(ok.values())}/{len(bodies)} requests were answered")
    return wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=16)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--cpus", type=int, default=2, help="CPUs given to the Ray instance")
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="easel-bench-ray-")
    os.environ["EASEL_HOME"] = home
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p
    )

    import ray
    from ray import serve

    from app.engine.tiny import save_model_folder
    from app.server.api import ServerSettings
    from app.server.ray_serve import build_cluster_app
    from app.server.runner import ModelChoice

    path = save_model_folder(Path(home) / "tiny-a", "tiny", seed=0)
    model = ModelChoice("tiny-a", "tiny-a", str(path))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    size = args.size
    bodies = [
        {"prompt": f"scale {i}", "steps": args.steps, "width": size, "height": size, "seed": i}
        for i in range(args.requests)
    ]
    ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
    walls: dict[int, float] = {}
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        for replicas in (1, 2):
            app = build_cluster_app(model, ServerSettings(), replicas, False, "cpu", False)
            serve.run(app, name="easel", route_prefix="/")
            burst(url, bodies[:2])  # warm-up: every replica has run once
            walls[replicas] = burst(url, bodies)
            serve.delete("easel")  # the next run starts clean (its own progress board)
            rate = args.requests / walls[replicas]
            print(
                f"{replicas} replica(s): {args.requests} requests in {walls[replicas]:.2f} s "
                f"({rate:.2f} req/s)"
            )
    finally:
        serve.shutdown()
        ray.shutdown()
    print(f"throughput ratio, 2 replicas / 1: {walls[1] / walls[2]:.2f}x (ideal 2.00x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
