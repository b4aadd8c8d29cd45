"""The container's entry point, run outside a container (no Docker engine here): the exact
command the image runs starts with no model installed and answers /internal/ping."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "docker" / "Dockerfile"


def entrypoint() -> list[str]:
    match = re.search(r"^ENTRYPOINT (\[.*\])$", DOCKERFILE.read_text(), re.MULTILINE)
    assert match, "the Dockerfile has no exec-form ENTRYPOINT"
    return json.loads(match.group(1))


def test_dockerfile_runs_serve_as_a_non_root_user_without_weights() -> None:
    text = DOCKERFILE.read_text()
    assert entrypoint()[:4] == ["python", "-m", "app", "serve"]
    assert re.search(r"^USER easel$", text, re.MULTILINE)
    assert "/internal/ping" in text and "HEALTHCHECK" in text
    assert not re.search(r"\.(safetensors|ckpt|bin|pth)\b", text)
    compose = (ROOT / "docker" / "compose.yaml").read_text()
    assert "/internal/ping" in compose and "hf-cache:" in compose and "pictures:" in compose


def test_the_entry_point_starts_and_answers_ping(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = entrypoint()
    cmd[cmd.index("--port") + 1] = str(port)
    cmd = [sys.executable, *cmd[1:], "--token", "secret-token", "--no-gallery", "--device", "cpu"]
    env = {**os.environ, "EASEL_HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:  # the server process has no signal to wait on but its port
            assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/internal/ping", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the server did not answer within 60 s"
                time.sleep(0.1)
        assert r.status_code == 200 and r.json() == {}
        url = f"http://127.0.0.1:{port}/sdapi/v1/options"
        assert httpx.get(url).status_code == 401
        ok = httpx.get(url, headers={"Authorization": "Bearer secret-token"})
        assert ok.status_code == 200 and ok.json()["sd_model_checkpoint"] is None
        body = {"prompt": "x", "steps": 2, "width": 64, "height": 64}
        r = httpx.post(
            url.replace("options", "txt2img"),
            json=body,
            headers={"Authorization": "Bearer secret-token"},
        )
        assert r.status_code == 422 and "No model is loaded" in r.json()["detail"]
    finally:
        proc.terminate()
        proc.wait(30)
