""" "Let other apps use Easel": the window serves the webui's API on this computer.

Loopback only (127.0.0.1), always behind a bearer token. The server runs its OWN engine and
queue (``app.server.runner.EngineRunner``, as ``python -m app serve`` does), loaded with the
window's current model: the window's jobs and other apps' jobs do not wait for each other,
at the cost of the model's memory twice. FastAPI and uvicorn come with the ``server`` extra;
without it, ``failed`` says how to install it. Nothing here is imported at start-up.
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
    """Starts and stops the API server in background threads; reports with signals."""

    started = Signal(str)  # the address other apps use
    failed = Signal(str)  # one sentence
    stopped = Signal()

    def __init__(self, parent: QObject | None = None, device: str | None = None) -> None:
        super().__init__(parent)
        self._device = device
        self._lock = threading.Lock()
        self._server: Any = None
        self._runner: Any = None
        self._thread: threading.Thread | None = None
        self._starter: threading.Thread | None = None
        self.url = ""

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self, port: int, token: str, model_path: str = "") -> None:
        """Serve on 127.0.0.1:``port`` with ``token``; the engine loads in the background."""
        if not token:
            self.failed.emit("Sharing needs a token; press New token and try again.")
            return
        if not server_available():
            self.failed.emit(NEEDS_EXTRA)
            return
        self.stop()
        self._starter = threading.Thread(
            target=self._start, args=(port, token, model_path), name="easel-host-start", daemon=True
        )
        self._starter.start()

    def _start(self, port: int, token: str, model_path: str) -> None:
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
            runner = self._build_runner(model_path)
            import uvicorn

            from app.server.api import ServerSettings, create_app
            from app.server.security import Credentials

            app = create_app(runner, ServerSettings(Credentials(tokens=(token,))))
            config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
            server = uvicorn.Server(config)
        except Exception as exc:  # noqa: BLE001 - one sentence for the Settings page
            sock.close()
            log.exception("the API server could not start")
            self.failed.emit(f"The server could not start ({exc}); pick another model and retry.")
            return
        runner.start()
        thread = threading.Thread(
            target=self._serve, args=(server, sock, runner), name="easel-host", daemon=True
        )
        with self._lock:
            self._server, self._runner, self._thread = server, runner, thread
        thread.start()

    def _build_runner(self, model_path: str) -> Any:
        from pathlib import Path

        from app.engine.device import detect_device
        from app.engine.engine import Engine, display_name
        from app.server.runner import EngineRunner, ModelChoice

        engine = Engine(detect_device(self._device))
        choice = None
        if model_path:
            name = display_name(Path(model_path))
            engine.load(model_path, name=name)
            choice = ModelChoice(name, name, model_path, engine.model_hash)
        from app.library.gallery import Gallery

        return EngineRunner(engine, gallery_factory=Gallery, current=choice)

    def _serve(self, server: Any, sock: socket.socket, runner: Any) -> None:
        port = sock.getsockname()[1]
        self.url = f"http://{HOST}:{port}"
        ready = threading.Event()

        def watch() -> None:  # uvicorn has no start callback: tell the window when it listens
            while not server.started and not ready.wait(0.05):
                pass
            if server.started:
                self.started.emit(self.url)

        threading.Thread(target=watch, name="easel-host-watch", daemon=True).start()
        try:
            server.run(sockets=[sock])
        finally:
            ready.set()
            runner.stop()
            sock.close()
            self.stopped.emit()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop serving (running jobs are interrupted) and wait for the threads."""
        starter = self._starter
        if starter is not None and starter is not threading.current_thread():
            starter.join(timeout)  # a model still loading finishes first
        with self._lock:
            server, runner, thread = self._server, self._runner, self._thread
            self._server = self._runner = self._thread = None
        if server is None:
            return
        runner.interrupt()
        server.should_exit = True
        if thread is not None:
            thread.join(timeout)
