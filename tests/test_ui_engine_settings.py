"""Settings → Engine, offscreen: the page's round trip through the settings file, Test
connection against a real server, the window switching to the server and generating into the
local gallery, the banner sentence for a wrong token, and "Let other apps use Easel"."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from app.library.pngio import read_parameters
from app.request import GenerationRequest
from app.ui.engine_settings import SettingsDialog
from app.ui.main_window import MainWindow
from app.ui.settings import UiSettings, load_settings, save_settings
from app.workers.engine_worker import live_engine_threads
from app.workers.remote_client import RemoteClient, RemoteError
from app.workers.remote_worker import RemoteWorker, live_remote_threads
from tests.serverkit import LiveServer, make_runner, module_home_fixture, tiny_model_folders

pytest.importorskip("fastapi")
TIMEOUT = 60_000
TOKEN = "window-test-token"


easel_home = module_home_fixture()


@pytest.fixture(autouse=True)
def fresh_settings(easel_home: Path) -> Iterator[None]:
    save_settings(UiSettings())  # every test starts from the defaults
    yield
    assert live_engine_threads() == [] and live_remote_threads() == []


@pytest.fixture(scope="module")
def models(easel_home: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return tiny_model_folders(tmp_path_factory.mktemp("settings-models"))


@pytest.fixture(scope="module")
def server(models: dict[str, Path]) -> Iterator[LiveServer]:
    from app.server.api import ServerSettings, create_app
    from app.server.security import Credentials

    runner = make_runner(models["tiny-a"])
    live = LiveServer(create_app(runner, ServerSettings(Credentials(tokens=(TOKEN,))))).start()
    yield live
    live.stop()
    assert runner.stop()


def test_settings_page_round_trip(qtbot: Any) -> None:
    dialog = SettingsDialog(load_settings())
    qtbot.addWidget(dialog)
    page = dialog.engine_page
    assert page.local_radio.isChecked() and not page.server_box.isEnabled()
    assert not page.share_check.isChecked() and page.share_token.text() == ""  # off by default
    page.share_check.setChecked(True)
    shared = page.share_token.text()
    assert len(shared) >= 24  # generated when sharing is turned on
    page.port_spin.setValue(7871)
    save_settings(page.read_into(load_settings()))
    again = load_settings()
    assert (again.engine, again.share_engine, again.share_port, again.share_token) == (
        "local",
        True,
        7871,
        shared,
    )

    reopened = SettingsDialog(again)
    qtbot.addWidget(reopened)
    page = reopened.engine_page
    assert page.share_check.isChecked() and page.share_token.text() == shared
    page.server_radio.setChecked(True)
    assert page.server_box.isEnabled()
    assert not page.share_check.isEnabled()  # sharing serves this computer's engine only
    qtbot.keyClicks(page.url_edit, "http://10.0.0.5:7860")
    qtbot.keyClicks(page.token_edit, "abc123")
    save_settings(page.read_into(load_settings()))
    last = load_settings()
    assert (last.engine, last.server_url, last.server_token) == (
        "server",
        "http://10.0.0.5:7860",
        "abc123",
    )
    assert not last.share_engine and last.share_token == shared  # the token is kept
    third = SettingsDialog(last)
    qtbot.addWidget(third)
    assert third.engine_page.server_radio.isChecked()
    assert third.engine_page.url_edit.text() == "http://10.0.0.5:7860"
    assert third.engine_page.token_edit.text() == "abc123"


def test_test_connection_says_in_one_sentence_whether_it_worked(
    qtbot: Any, server: LiveServer
) -> None:
    dialog = SettingsDialog(UiSettings(engine="server", server_url=server.url))
    qtbot.addWidget(dialog)
    page = dialog.engine_page
    page.token_edit.setText(TOKEN)
    with qtbot.waitSignal(page.tester.finished, timeout=TIMEOUT):
        qtbot.mouseClick(page.test_button, Qt.MouseButton.LeftButton)
    assert (
        page.test_result.text() == f"Connected to the Easel server at {server.url}; it runs tiny-a."
    )
    page.token_edit.setText("wrong")
    with qtbot.waitSignal(page.tester.finished, timeout=TIMEOUT):
        page.test_connection()
    assert page.test_result.text() == (
        f"The Easel server at {server.url} refused the connection because the token is wrong; "
        "enter the token shown on the server in Settings → Engine."
    )


def _window(qtbot: Any) -> MainWindow:
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    return w


def _choose_server(qtbot: Any, w: MainWindow, url: str, token: str) -> None:
    dialog = w.engine.open_settings()
    page = dialog.engine_page
    page.server_radio.setChecked(True)
    page.url_edit.setText(url)
    page.token_edit.setText(token)
    dialog.accept()


def test_the_window_generates_on_the_server_into_its_gallery(
    qtbot: Any, server: LiveServer
) -> None:
    w = _window(qtbot)
    try:
        _choose_server(qtbot, w, server.url, TOKEN)
        assert isinstance(w.worker, RemoteWorker)
        qtbot.waitUntil(
            lambda: w.engine_label.text().startswith("Server 127.0.0.1"), timeout=TIMEOUT
        )
        assert load_settings().engine == "server"
        w.prompt_panel.prompt.setPlainText("a lighthouse")
        panel = w.settings_panel
        panel.steps.setValue(2)
        panel.width_spin.setValue(64)
        panel.height_spin.setValue(64)
        panel.seed.setValue(11)
        with qtbot.waitSignal(w.worker.jobFinished, timeout=TIMEOUT) as done:
            qtbot.mouseClick(w.generate_button, Qt.MouseButton.LeftButton)
        result = done.args[1]
        params = read_parameters(Path(result.paths[0]))
        assert params is not None and params.startswith("a lighthouse")
        assert "Seed: 11" in params and "Size: 64x64" in params and "Model: tiny-" in params
        assert w.gallery_widget is not None and w.gallery_widget.model.rowCount() == 1
        assert w.preview_panel.progress_label.text().startswith("Done in")
    finally:
        w.close()


def test_a_wrong_token_is_one_sentence_in_the_banner(qtbot: Any, server: LiveServer) -> None:
    w = _window(qtbot)
    try:
        _choose_server(qtbot, w, server.url, "nope")
        qtbot.waitUntil(lambda: w.engine_label.text() == "Engine unavailable", timeout=TIMEOUT)
        assert w.banner.label.text() == (
            f"The Easel server at {server.url} refused the connection because the token is "
            "wrong; enter the token shown on the server in Settings → Engine."
        )
    finally:
        w.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_let_other_apps_use_easel_shares_the_window_engine_on_loopback(
    qtbot: Any, models: dict[str, Path]
) -> None:
    dialog = SettingsDialog(load_settings())  # turned on in the page: a token is made
    qtbot.addWidget(dialog)
    page = dialog.engine_page
    page.port_spin.setValue(_free_port())
    page.share_check.setChecked(True)
    save_settings(page.read_into(load_settings()))
    token, port = page.share_token.text(), page.port_spin.value()

    w = MainWindow(model_path=str(models["tiny-b"]))
    qtbot.addWidget(w)
    try:
        # Sharing was on: it starts with the window, once the engine is ready.
        with qtbot.waitSignal(w.engine.host.started, timeout=TIMEOUT) as started:
            w.start_engine()
        url = started.args[0]
        assert w.gallery is not None
        before = w.gallery.count()  # the module's earlier tests saved pictures too
        assert url == f"http://127.0.0.1:{port}"
        assert w.engine.host_status[0].startswith(f"Serving at {url}")
        assert RemoteClient(url, token).check() == "tiny-b"
        with pytest.raises(RemoteError, match="needs a token"):
            RemoteClient(url).check()
        request = GenerationRequest(
            "a kite", steps=2, width=64, height=64, seed=1, sampler="Euler a"
        )
        served = RemoteClient(url, token).generate(request)
        assert len(served.images) == 1 and "Seed: 1" in served.images[0].parameters
        # The same engine: the window's own job gives the very same picture.
        with qtbot.waitSignal(w.worker.jobFinished, timeout=TIMEOUT) as done:
            w.worker.submit(request, w.settings.model_path)
        with Image.open(done.args[1].paths[0]) as mine:
            assert np.array_equal(
                np.asarray(mine.convert("RGB")), np.asarray(served.images[0].image)
            )
        assert w.gallery.count() == before + 2  # the server's picture went there too
    finally:
        w.close()
    assert not w.engine.host.running
