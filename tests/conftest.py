"""Shared fixtures: tiny random-weight models (no downloads), an isolated app home."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
# Gallery deletes go to the OS trash; on Linux send2trash reads XDG_DATA_HOME once, at import,
# so the tests' trash is set here, before anything imports it, never the real one.
os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="easel-test-xdg-")


@pytest.fixture(autouse=True)
def easel_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own config, data, cache and gallery folders."""
    home = tmp_path_factory.mktemp("easel-home")
    monkeypatch.setenv("EASEL_HOME", str(home))
    return home


@pytest.fixture
def no_engine_thread_left() -> Iterator[None]:
    """Fails a test that leaves an engine thread running (modules opt in with
    ``pytestmark = pytest.mark.usefixtures("no_engine_thread_left")``)."""
    yield
    from app.workers.engine_worker import live_engine_threads

    assert live_engine_threads() == [], "a test left an engine thread running"


@pytest.fixture(scope="session", autouse=True)
def _release_clipboard_at_exit() -> Iterator[None]:
    """What the app does on quit: without it the test process segfaults in Qt's exit handlers
    after copying an image (see app.ui.imageio.release_clipboard)."""
    yield
    import sys

    if "app.ui.imageio" in sys.modules:
        sys.modules["app.ui.imageio"].release_clipboard()


@pytest.fixture(scope="session")
def tiny_components() -> dict[str, Any]:
    from app.engine.tiny import build_components

    return build_components("tiny", seed=0)


@pytest.fixture(scope="session")
def tiny_inpaint_components() -> dict[str, Any]:
    from app.engine.tiny import build_components

    return build_components("tiny-inpaint", seed=0)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from app.engine.tiny import save_model_folder

    return save_model_folder(tmp_path_factory.mktemp("models") / "tiny-sd", "tiny")


@pytest.fixture(scope="session")
def cpu_device() -> Any:
    from app.engine.device import DeviceInfo

    return DeviceInfo(kind="cpu", dtype="float32", name="CPU")


@pytest.fixture
def tiny_engine(tiny_components: dict[str, Any], cpu_device: Any) -> Any:
    from diffusers import StableDiffusionPipeline

    from app.engine.engine import Engine

    engine = Engine(cpu_device)
    engine.load_pipeline(
        StableDiffusionPipeline(**tiny_components, requires_safety_checker=False), "tiny-sd"
    )
    return engine


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    """A 64x64 RGB test picture with structure (gradients and a square) as a PNG file."""
    import numpy as np
    from PIL import Image

    y, x = np.mgrid[0:64, 0:64]
    arr = np.stack([x * 4, y * 4, (x + y) * 2], axis=-1).astype(np.uint8)
    arr[20:44, 20:44] = (200, 40, 40)
    path = tmp_path / "photo.png"
    Image.fromarray(arr, "RGB").save(path)
    return path
