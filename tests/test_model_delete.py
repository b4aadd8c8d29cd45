"""Models tab "Delete…": it asks first, says what it frees, and never deletes the user's files."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from safetensors.torch import save_file

from app.models import registry as models
from app.ui.model_delete import human_bytes, plan_delete
from app.ui.model_manager import ModelManagerWidget
from app.workers.models_worker import ModelsWorker
from tests.dialogs import Answer
from tests.original_layout import pipeline_to_original

TIMEOUT = 30_000


@pytest.fixture
def manager(qtbot: Any) -> Iterator[ModelManagerWidget]:
    worker = ModelsWorker()
    widget = ModelManagerWidget(worker)
    qtbot.addWidget(widget)
    widget.show()
    yield widget
    worker.shutdown()


@pytest.fixture
def sd1_file(tmp_path: Path, tiny_components: dict[str, Any]) -> Path:
    path = tmp_path / "mine" / "other.safetensors"
    path.parent.mkdir()
    save_file(pipeline_to_original(tiny_components, "sd1"), str(path))
    return path


def _import(manager: ModelManagerWidget, qtbot: Any, path: Path) -> None:
    with qtbot.waitSignal(manager.installedChanged, timeout=TIMEOUT):
        manager.worker.import_path(str(path))


def test_delete_button_asks_and_keep_deletes_nothing(
    manager: ModelManagerWidget, qtbot: Any, sd1_file: Path
) -> None:
    _import(manager, qtbot, sd1_file)
    copy = models.models_dir() / "checkpoints" / "other.safetensors"
    if not copy.exists():
        copy = next(models.models_dir().rglob("other.safetensors"))
    manager.select(f"file:{copy}")
    size = copy.stat().st_size

    # The bug: clicked(bool) landed in `confirm` and the file went at once. Now it asks.
    keep = Answer("Keep")
    qtbot.mouseClick(manager.delete_button, Qt.MouseButton.LeftButton)
    assert keep.asked, "Delete… did not ask"
    assert f"free {human_bytes(size)} of disk" in keep.text
    assert keep.buttons == ["Delete", "Keep"] or set(keep.buttons) == {"Delete", "Keep"}
    assert copy.exists(), "Keep deleted the model"
    assert sd1_file.exists()

    delete = Answer("Delete")
    with qtbot.waitSignal(manager.worker.operationDone, timeout=TIMEOUT) as done:
        qtbot.mouseClick(manager.delete_button, Qt.MouseButton.LeftButton)
    assert delete.asked
    assert done.args[0].startswith("Removed other;")
    assert not copy.exists()
    assert sd1_file.exists(), "the user's original file must stay"


def test_a_folder_used_in_place_is_only_forgotten(
    manager: ModelManagerWidget, qtbot: Any, tiny_model_dir: Path
) -> None:
    _import(manager, qtbot, tiny_model_dir)
    mid = f"folder:{tiny_model_dir.resolve()}"
    manager.select(mid)
    answer = Answer("Stop listing")
    with qtbot.waitSignal(manager.worker.operationDone, timeout=TIMEOUT) as done:
        qtbot.mouseClick(manager.delete_button, Qt.MouseButton.LeftButton)
    assert "stay where they are" in answer.text and "no disk is freed" in answer.text
    assert "untouched" in done.args[0]
    qtbot.waitUntil(lambda: all(m["id"] != mid for m in manager.models), timeout=TIMEOUT)
    assert (tiny_model_dir / "model_index.json").is_file()
    assert json.loads((tiny_model_dir / "model_index.json").read_text())


def test_a_file_in_the_users_models_folder_is_never_deleted(
    manager: ModelManagerWidget, qtbot: Any, sd1_file: Path
) -> None:
    library = sd1_file.parent.parent / "A1111-models"
    (library / "Stable-diffusion").mkdir(parents=True)
    mine = library / "Stable-diffusion" / "mine.safetensors"
    sd1_file.rename(mine)
    _import(manager, qtbot, library)
    row = next(m for m in manager.models if m["path"] == str(mine))
    plan = plan_delete(row, manager._payload["folders"])
    assert not plan.deletes_files and plan.remove_id == f"library:{library.resolve()}"
    manager.select(row["id"])
    answer = Answer("Stop listing")
    with qtbot.waitSignal(manager.worker.operationDone, timeout=TIMEOUT) as done:
        qtbot.mouseClick(manager.delete_button, Qt.MouseButton.LeftButton)
    assert "never deletes your files" in answer.text
    assert "untouched" in done.args[0]
    assert mine.is_file()
    qtbot.waitUntil(lambda: all(m["path"] != str(mine) for m in manager.models), timeout=TIMEOUT)


def test_plans_say_what_they_free() -> None:
    catalog_row = {"id": "sd15", "name": "SD 1.5", "source": "catalog", "size_bytes": 2_130_000_000}
    assert "free 2.13 GB of disk" in plan_delete(catalog_row).question
    assert plan_delete(catalog_row).deletes_files
    folder_row = {"id": "folder:/x", "name": "x", "source": "folder", "path": "/x"}
    assert not plan_delete(folder_row).deletes_files
