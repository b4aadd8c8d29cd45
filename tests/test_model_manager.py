"""First run end to end: the manager downloads "SD 1.5" from a local hub stand-in, the engine
generates with it, and later single-file imports work offline with the fetched configs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from safetensors.torch import save_file

from app.engine.engine import Engine
from app.engine.tiny import build_components
from app.models import catalog, download
from app.models import registry as models
from app.request import GenerationRequest
from app.ui.model_manager import ModelManagerWidget, download_text
from app.workers.models_worker import ModelsWorker
from tests.hubserver import HubRepo, HubServer, running_hub
from tests.original_layout import pipeline_to_original

FP16_NAMES = {
    "unet/diffusion_pytorch_model.safetensors": "unet/diffusion_pytorch_model.fp16.safetensors",
    "vae/diffusion_pytorch_model.safetensors": "vae/diffusion_pytorch_model.fp16.safetensors",
    "text_encoder/model.safetensors": "text_encoder/model.fp16.safetensors",
}


def sd15_twin(tiny_model_dir: Path, entry_id: str = "sd15") -> HubRepo:
    """The tiny model laid out like the real SD 1.5 repo (fp16-named weights + configs), or
    like another catalog entry's repo of the same layout (SD-Turbo)."""
    files = {}
    for p in sorted(tiny_model_dir.rglob("*")):
        if p.is_file():
            rel = p.relative_to(tiny_model_dir).as_posix()
            files[FP16_NAMES.get(rel, rel)] = p.read_bytes()
    return HubRepo.from_files(catalog.get(entry_id).repo_id, files)


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubServer]:
    with running_hub(monkeypatch, tmp_path / "hf") as server:
        yield server


@pytest.fixture
def manager(qtbot: Any) -> Iterator[ModelManagerWidget]:
    worker = ModelsWorker()
    widget = ModelManagerWidget(worker)
    qtbot.addWidget(widget)
    yield widget
    worker.shutdown()
    assert not worker.qthread.isRunning()


def test_first_run_download_then_generate(
    hub: HubServer, tiny_model_dir: Path, manager: ModelManagerWidget, qtbot: Any, cpu_device: Any
) -> None:
    hub.add_repo(sd15_twin(tiny_model_dir))
    with qtbot.waitSignal(manager.installedChanged, timeout=20000) as listed:
        manager.worker.refresh()
    assert listed.args[0] == []  # nothing installed yet: the first-run state
    sd15_row = next(m for m in manager.models if m["id"] == "sd15")
    assert not sd15_row["installed"] and sd15_row["default"]

    progress: list[dict] = []
    manager.worker.downloadProgress.connect(lambda _id, p: progress.append(p))
    with qtbot.waitSignal(manager.worker.downloadFinished, timeout=60000) as done:
        manager.download("sd15")
        assert manager.cancel_button.isVisibleTo(manager)
    assert done.args[0] == "sd15"
    qtbot.waitUntil(
        lambda: any(m["id"] == "sd15" and m["installed"] for m in manager.models), timeout=20000
    )
    assert progress and progress[-1]["done"] == progress[-1]["total"]
    assert "of" in download_text(progress[-1])
    assert manager.progress_label.text() == "Downloaded and verified."
    assert download.is_installed(catalog.get("sd15"))
    # Installed models are what the main window's picker lists.
    installed = [m for m in manager.models if m["installed"] and m["kind"] == "checkpoint"]
    assert [m["id"] for m in installed] == ["sd15"] and installed[0]["default"]

    engine = Engine(cpu_device)
    engine.load(models.default_model().path)
    assert engine.model_name == "stable-diffusion-v1-5"
    result = engine.generate(
        GenerationRequest("first picture", steps=2, seed=1, width=64, height=64)
    )
    assert result.images[0].size == (64, 64)


def test_offline_import_uses_configs_fetched_on_first_run(
    hub: HubServer,
    tiny_model_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cpu_device: Any,
) -> None:
    hub.add_repo(sd15_twin(tiny_model_dir))
    download.fetch_family_configs(families=("sd1",))
    config = download.family_config_dir("sd1")
    assert config is not None and (config / "model_index.json").is_file()
    assert not list(config.rglob("*.safetensors"))  # configs only, no weights
    # Now offline: a civitai-style single file imports and generates.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub.stop()
    single = tmp_path / "myMix.safetensors"
    save_file(pipeline_to_original(build_components("tiny", seed=0), "sd1"), str(single))
    info = models.import_path(single)
    assert (info.kind, info.family) == ("checkpoint", "sd1")
    engine = Engine(cpu_device)
    engine.load(info.path)
    out = engine.generate(GenerationRequest("offline", steps=2, seed=2, width=64, height=64))
    assert out.images[0].size == (64, 64) and "Model: myMix" in out.infotexts[0]


def test_offline_download_fails_fast_with_a_sentence(
    manager: ModelManagerWidget, qtbot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with qtbot.waitSignal(manager.worker.downloadFailed, timeout=10000) as failed:
        manager.download("sd15")
    assert "seems to be offline" in failed.args[1]
    assert manager.downloading is None and not manager.progress.isVisibleTo(manager)


def test_delete_and_default_from_the_manager(
    manager: ModelManagerWidget, qtbot: Any, tiny_model_dir: Path, tmp_path: Path
) -> None:
    single = tmp_path / "other.safetensors"
    save_file(pipeline_to_original(build_components("tiny", seed=0), "sd1"), str(single))
    with qtbot.waitSignal(manager.worker.operationDone, timeout=20000) as done:
        manager.worker.import_path(str(single))
    assert done.args[0] == "Imported other (checkpoint, sd1)."
    with qtbot.waitSignal(manager.worker.operationDone, timeout=20000):
        manager.worker.import_path(str(tiny_model_dir))
    qtbot.waitUntil(lambda: len([m for m in manager.models if m["installed"]]) == 2, timeout=20000)
    manager.select(f"file:{models.models_dir() / 'other.safetensors'}")
    assert manager.delete_button.isEnabled()
    with qtbot.waitSignal(manager.worker.operationDone, timeout=20000) as removed:
        manager.delete_selected(confirm=False)
    assert removed.args[0].startswith("Removed other;")
    assert not (models.models_dir() / "other.safetensors").exists()
    qtbot.waitUntil(lambda: len([m for m in manager.models if m["installed"]]) == 1, timeout=20000)


def test_every_catalog_family_has_a_label_in_the_models_tab() -> None:
    from app.models.catalog import FAMILIES, load_catalog
    from app.ui.model_manager import FAMILY_LABELS

    assert set(FAMILIES) <= set(FAMILY_LABELS)
    assert {e.family for e in load_catalog()} <= set(FAMILY_LABELS)
