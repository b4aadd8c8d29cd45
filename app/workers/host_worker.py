""" "Let other apps use Easel": the window serves the webui's API on this computer.

Loopback only (127.0.0.1), always behind a bearer token. The server SHARES the window's
engine and queue: an ``EngineRunner`` on the window's ``JobQueue`` whose jobs the window's
engine thread runs (``EngineWorker.set_guest``), first in, first out with the window's own.
One copy of the model in memory; the server's jobs run on the window's current model unless
a request names another. FastAPI and uvicorn come with the ``server`` extra; without it,
``failed`` says how to install it. Nothing here is imported at start-up.
"""

from __future__ import annotations

import errno
import logging
import secrets
import socket
import threading
from typing import Any

from PySide6.QtCore import QObject, Signal

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
NEEDS_EXTRA = (
    "Letting other apps use Easel needs the server extra, which the desktop installers leave "
    "out; in a Python install of Easel run pip install 'easel[server]', or use python -m app serve."
)


def new_token() -> str:
    return secrets.token_urlsafe(24)


def server_available() -> bool:
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        return False
    return True


class HostWorker(QObject):
    """Serves the window's engine in background threads; reports with signals."""

    started = Signal(str)  # the address other apps use
    failed = Signal(str)  # one sentence
    stopped = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._lock = threading.Lock()
        self._server: Any = None
        self._runner: Any = None
        self._worker: Any = None
        self._thread: threading.Thread | None = None
        self._waiting: Any = None  # (worker, args) until the engine is ready
        self.url = ""

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self, port: int, token: str, worker: Any, gallery: Any, model_path: str = "") -> None:
        """Serve ``worker``'s engine and queue on 127.0.0.1:``port`` behind ``token``."""
        self.stop()
        if not token:
            self.failed.emit("Sharing needs a token; press New token and try again.")
            return
        if not server_available():
            self.failed.emit(NEEDS_EXTRA)
            return
        if not hasattr(worker, "set_guest"):
            self.failed.emit(
                "Other apps can only share this computer's engine; choose This computer above, "
                "or run python -m app serve on the server."
            )
            return
        if not worker.ready:  # the engine is still loading: start when it is there
            self._waiting = (worker, (port, token, worker, gallery, model_path))
            worker.engineReady.connect(self._engine_ready)
            return
        self._start(port, token, worker, gallery, model_path)

    def _engine_ready(self, *_args: object) -> None:
        waiting, self._waiting = self._waiting, None
        if waiting is not None:
            waiting[0].engineReady.disconnect(self._engine_ready)
            self._start(*waiting[1])

    def _start(self, port: int, token: str, worker: Any, gallery: Any, model_path: str) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind((HOST, port))
        except OSError as exc:
            sock.close()
            if exc.errno == errno.EADDRINUSE:
                self.failed.emit(
                    f"Port {port} is already in use on this computer (another server?); "
                    "choose another port."
                )
            else:
                self.failed.emit(f"Easel could not listen on port {port} ({exc.strerror or exc}).")
            return
        try:
            import uvicorn

            from app.server.api import ServerSettings, create_app
            from app.server.runner import EngineRunner
            from app.server.security import Credentials

            runner = EngineRunner(
                worker.engine, current=model_choice(model_path), queue=worker.queue
            )
            app = create_app(runner, ServerSettings(Credentials(tokens=(token,))))
            config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
            server = uvicorn.Server(config)
        except Exception as exc:  # noqa: BLE001 - one sentence for the Settings page
            sock.close()
            log.exception("the API server could not start")
            self.failed.emit(f"The server for other apps could not start ({exc}).")
            return
        # From here the window's engine thread also runs the server's jobs, in queue order.
        worker.set_guest(lambda item: runner.run_item(item, gallery))
        thread = threading.Thread(
            target=self._serve, args=(server, sock, runner), name="easel-host", daemon=True
        )
        with self._lock:
            self._server, self._runner, self._worker, self._thread = server, runner, worker, thread
        thread.start()

    def follow_model(self, model_path: str) -> None:
        """The window picked another model: the server's jobs use it too."""
        runner = self._runner
        if runner is not None:
            runner.current_model = model_choice(model_path)

    def _serve(self, server: Any, sock: socket.socket, runner: Any) -> None:
        port = sock.getsockname()[1]
        self.url = f"http://{HOST}:{port}"
        over = threading.Event()

        def watch() -> None:  # uvicorn has no start callback: tell the window when it listens
            while not server.started and not over.wait(0.05):
                pass
            if server.started:
                self.started.emit(self.url)

        threading.Thread(target=watch, name="easel-host-watch", daemon=True).start()
        try:
            server.run(sockets=[sock])
        finally:
            over.set()
            runner.stop()
            sock.close()
            self.stopped.emit()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop serving: the server's running job is interrupted, its waiting ones answered."""
        waiting, self._waiting = self._waiting, None
        if waiting is not None:
            waiting[0].engineReady.disconnect(self._engine_ready)
        with self._lock:
            server, runner, worker, thread = self._server, self._runner, self._worker, self._thread
            self._server = self._runner = self._worker = self._thread = None
        if server is None:
            return
        server.should_exit = True
        runner.drop_waiting()  # the requests waiting on them return, so uvicorn can stop
        if thread is not None:
            thread.join(timeout)
        runner.drop_waiting()
        worker.set_guest(None)


def model_choice(model_path: str) -> Any:
    """The window's model as the server names it (None: whatever the engine has loaded)."""
    if not model_path:
        return None
    from pathlib import Path

    from app.server.runner import ModelChoice
    from app.workers.remote_worker import local_model_names

    name = local_model_names(model_path)[0]
    return ModelChoice(name, name, str(Path(model_path)))
