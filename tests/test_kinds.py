"""One registry of model kinds: a user's A1111/ComfyUI folders in place, listing by kind,
finding a LoRA by name, one bad file listed with its sentence instead of breaking the list."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from app.errors import InvalidRequest
from app.models import catalog, kinds
from app.models import registry as models

ROOT = Path(__file__).resolve().parents[1]


def _lora(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    key = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q"
    save_file(
        {
            f"{key}.lora_down.weight": torch.zeros(4, 320),
            f"{key}.lora_up.weight": torch.zeros(320, 4),
            f"{key}.alpha": torch.tensor(4.0),
        },
        str(path),
    )
    return path


def _a1111_models(root: Path) -> Path:
    """An A1111 ``models`` folder: a LoRA, an ESRGAN upscaler, a broken file beside it."""
    models_root = root / "stable-diffusion-webui" / "models"
    _lora(models_root / "Lora" / "paperCut_v2.safetensors")
    _lora(models_root / "Lora" / "sub" / "inkWash.safetensors")
    upscaler = models_root / "ESRGAN" / "4x-UltraSharp.safetensors"
    upscaler.parent.mkdir(parents=True)
    save_file({"model.0.weight": torch.zeros(64, 3, 3, 3)}, str(upscaler))
    (models_root / "Lora" / "truncated.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00")
    return models_root


def test_every_kind_has_its_folders_and_the_catalog_uses_the_kinds() -> None:
    assert set(kinds.KIND_IDS) >= {
        "checkpoint",
        "lora",
        "textual-inversion",
        "controlnet",
        "upscaler",
        "vae",
        "vae-preview",
    }
    by_folder = {
        name: kinds.kind_of_folder(Path("/x") / name)
        for name in ("Lora", "embeddings", "ControlNet", "ESRGAN", "VAE")
    } | {
        name: kinds.kind_of_folder(Path("/x") / name)
        for name in ("loras", "controlnet", "upscale_models", "vae", "checkpoints")
    }
    assert by_folder == {
        "Lora": "lora",
        "embeddings": "textual-inversion",
        "ControlNet": "controlnet",
        "ESRGAN": "upscaler",
        "VAE": "vae",
        "loras": "lora",
        "controlnet": "controlnet",
        "upscale_models": "upscaler",
        "vae": "vae",
        "checkpoints": "checkpoint",
    }
    assert {e.kind for e in catalog.load_catalog()} <= set(kinds.KIND_IDS)
    assert kinds.check_filter("LoRA") == "lora" and kinds.check_filter("embedding") == (
        "textual-inversion"
    )
    with pytest.raises(InvalidRequest, match="Unknown model kind 'bogus'; use one of"):
        kinds.check_filter("bogus")


def test_a1111_folder_is_listed_by_kind_and_one_broken_file_breaks_nothing(
    tmp_path: Path,
) -> None:
    folder = _a1111_models(tmp_path)
    models.import_path(folder)

    loras = models.list_models(kind="lora")
    names = {m.name: m for m in loras if m.source == "library"}
    assert {"paperCut_v2", "inkWash", "truncated"} <= set(names)
    assert not names["paperCut_v2"].problem
    assert names["truncated"].problem  # listed as unusable, with its sentence
    assert all(m.kind == "lora" for m in loras)

    upscalers = models.list_models(kind="upscaler")
    assert [m.name for m in upscalers if m.source == "library"] == ["4x-UltraSharp"]
    assert not models.list_models(kind="controlnet") or all(
        m.source == "catalog" for m in models.list_models(kind="controlnet")
    )

    found = models.find_named("lora", "PAPERCUT_V2")
    assert found is not None and found.path == str(folder / "Lora" / "paperCut_v2.safetensors")
    assert models.find_named("lora", "nothing-like-it") is None
    assert models.find_named("upscaler", "4x-UltraSharp") is not None


def test_imports_land_in_their_kinds_folder(tmp_path: Path) -> None:
    info = models.import_path(_lora(tmp_path / "downloads" / "filmGrain.safetensors"))
    assert info.kind == "lora" and Path(info.path or "").parent == models.models_dir() / "lora"
    assert models.find_named("lora", "filmGrain") is not None


def test_cli_lists_one_kind(tmp_path: Path, easel_home: Path) -> None:
    folder = _a1111_models(tmp_path)
    models.import_path(folder)
    run = subprocess.run(
        [sys.executable, "-m", "app", "models", "list", "--kind", "lora", "--installed"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    lines = [line for line in run.stdout.splitlines() if line.strip()]
    assert any("paperCut_v2" in line for line in lines)
    assert any("truncated" in line and "unusable" in line for line in lines)
    assert not any("UltraSharp" in line for line in lines)


def test_models_tab_filters_by_kind(tmp_path: Path, qtbot: object) -> None:
    from app.ui.model_manager import ModelManagerWidget
    from app.workers.models_worker import ModelsWorker

    models.import_path(_a1111_models(tmp_path))
    worker = ModelsWorker()
    widget = ModelManagerWidget(worker)
    qtbot.addWidget(widget)  # type: ignore[attr-defined]
    try:
        with qtbot.waitSignal(widget.installedChanged, timeout=20000):  # type: ignore[attr-defined]
            worker.refresh()
        everything = {m["name"] for m in widget.models}
        assert {"paperCut_v2", "4x-UltraSharp", "Stable Diffusion 1.5"} <= everything
        widget.kind_filter.setCurrentIndex(widget.kind_filter.findData("upscaler"))
        assert [m["name"] for m in widget.models if m["source"] == "library"] == ["4x-UltraSharp"]
        assert widget.table.rowCount() == len(widget.models)
        widget.kind_filter.setCurrentIndex(widget.kind_filter.findData("lora"))
        assert {m["kind"] for m in widget.models} == {"lora"}
        assert "paperCut_v2" in {m["name"] for m in widget.models}
    finally:
        worker.shutdown()
    assert not worker.qthread.isRunning()
