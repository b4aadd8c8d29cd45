"""A real uvicorn server in a thread, on a free port, for the server tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class LiveServer:
    """``with LiveServer(app) as url:`` serves an ASGI app on 127.0.0.1 until the block ends."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:  # uvicorn has no event to wait on; poll its flag
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()

    def __enter__(self) -> str:
        self.start()
        return self.url

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def tiny_model_folders(root: Any) -> dict[str, Any]:
    """Two tiny random models (different weights), registered as the window would."""
    from app.engine.tiny import save_model_folder
    from app.models import registry

    out = {}
    for name, seed in (("tiny-a", 0), ("tiny-b", 1)):
        path = save_model_folder(root / name, "tiny", seed=seed)
        registry.import_path(path)
        out[name] = path
    return out


def cpu_engine(path: Any = None) -> Any:
    from app.engine.device import DeviceInfo
    from app.engine.engine import Engine

    engine = Engine(DeviceInfo(kind="cpu", dtype="float32", name="CPU"))
    if path is not None:
        engine.load(path)
    return engine


def make_runner(path: Any, gallery: bool = False) -> Any:
    from app.engine.engine_model import display_name
    from app.library.gallery import Gallery
    from app.server.runner import EngineRunner, ModelChoice

    engine = cpu_engine(path)
    name = display_name(path)
    runner = EngineRunner(
        engine,
        gallery_factory=Gallery if gallery else None,
        current=ModelChoice(name, name, str(path)),
    )
    runner.start()
    return runner


def module_home_fixture() -> Any:
    """A module-scoped ``easel_home``: the server, its registry and its gallery outlive one
    test (it overrides conftest's per-test home). Use: ``easel_home = module_home_fixture()``."""
    import pytest

    @pytest.fixture(scope="module")
    def easel_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
        home = tmp_path_factory.mktemp("easel-server-home")
        mp = pytest.MonkeyPatch()
        mp.setenv("EASEL_HOME", str(home))
        yield home
        mp.undo()

    return easel_home


def tiny_runner_fixture() -> Any:
    """A module-scoped ``runner`` on the first of two tiny models, stopped at the end."""
    import pytest

    @pytest.fixture(scope="module")
    def runner(easel_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
        models = tiny_model_folders(tmp_path_factory.mktemp("server-models"))
        r = make_runner(models["tiny-a"])
        yield r
        assert r.stop()

    return runner
