"""One list of models: the picker opens files and folders, whatever is opened is in the
Models tab, a deleted model leaves the picker, importing keeps the default, the disk summary
adds up, and "Use settings" restores the model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QDialog
from safetensors.torch import save_file

import app.ui.main_window as main_window
from app.models import registry as models
from app.request import GenerationRequest
from app.ui.main_window import MainWindow
from app.ui.model_delete import human_bytes
from app.ui.model_match import model_not_installed_text
from app.ui.model_open import ModelFileDialog
from tests.dialogs import Answer
from tests.original_layout import pipeline_to_original

TIMEOUT = 30_000


pytestmark = pytest.mark.usefixtures("no_engine_thread_left")


@pytest.fixture
def sd1_file(tmp_path: Path, tiny_components: dict[str, Any]) -> Path:
    path = tmp_path / "downloads" / "dreamy.safetensors"
    path.parent.mkdir()
    save_file(pipeline_to_original(tiny_components, "sd1"), str(path))
    return path


@pytest.fixture
def window(qtbot) -> Iterator[MainWindow]:
    w = MainWindow()
    w.show()
    with qtbot.waitSignal(w.model_manager.installedChanged, timeout=TIMEOUT):
        w.models_worker.refresh()
    yield w
    w.cancel_all()
    assert w.close()
    w.deleteLater()


def picker_paths(w: MainWindow) -> list[str]:
    combo = w.model_picker.combo
    return [combo.itemData(i) for i in range(combo.count()) if combo.itemData(i)]


def test_the_dialog_takes_model_files_and_diffusers_folders(
    qtbot, tiny_model_dir: Path, sd1_file: Path, tmp_path: Path
) -> None:
    for choice in (tiny_model_dir, sd1_file):
        dialog = ModelFileDialog(None, str(choice.parent))
        qtbot.addWidget(dialog)
        dialog.selectFile(str(choice))
        dialog.accept()
        assert dialog.result() == QDialog.DialogCode.Accepted
        assert Path(dialog.chosen) == choice
    plain = tmp_path / "plain"
    plain.mkdir()
    dialog = ModelFileDialog(None, str(tmp_path))
    qtbot.addWidget(dialog)
    dialog.selectFile(str(plain))
    dialog.accept()  # any other folder is opened to look inside, not taken
    assert dialog.result() != QDialog.DialogCode.Accepted and dialog.chosen == ""


def test_opened_file_is_listed_in_place_and_deleting_it_leaves_the_picker(
    qtbot, window: MainWindow, sd1_file: Path, monkeypatch
) -> None:
    monkeypatch.setattr(main_window, "choose_model", lambda _parent, _start: str(sd1_file))
    with qtbot.waitSignal(window.models_worker.operationDone, timeout=TIMEOUT) as done:
        window.open_model_folder()
    assert done.args[0] == "dreamy is in your models now."
    qtbot.waitUntil(lambda: str(sd1_file) in window._installed, timeout=TIMEOUT)
    row = next(m for m in window.model_manager.models if m["path"] == str(sd1_file))
    assert row["source"] == "library" and row["installed"]  # used in place, not copied
    assert not list(models.models_dir().rglob("dreamy*"))
    assert window.settings.model_path == str(sd1_file)
    assert str(sd1_file) in picker_paths(window)

    window.model_manager.select(row["id"])
    answer = Answer("Stop listing")
    with qtbot.waitSignal(window.models_worker.operationDone, timeout=TIMEOUT) as removed:
        window.model_manager.delete_selected()
    assert "The file stays where it is" in answer.text
    assert "untouched" in removed.args[0]
    qtbot.waitUntil(lambda: str(sd1_file) not in window._installed, timeout=TIMEOUT)
    assert sd1_file.is_file()
    assert str(sd1_file) not in picker_paths(window)
    assert str(sd1_file) not in window.settings.recent_models


def test_importing_never_changes_the_default(tiny_model_dir: Path, sd1_file: Path) -> None:
    folder = models.import_path(tiny_model_dir)
    assert models.default_model().id == folder.id  # the only model stands in
    imported = models.import_path(sd1_file)  # listed before folders: it used to take over
    assert models.default_model().id == folder.id
    models.set_default(imported.id)  # unless asked
    assert models.default_model().id == imported.id
    models.add_file(sd1_file)
    assert models.default_model().id == imported.id


def test_disk_summary_adds_up(
    qtbot, window: MainWindow, tiny_model_dir: Path, sd1_file: Path
) -> None:
    for path in (sd1_file, tiny_model_dir):
        with qtbot.waitSignal(window.models_worker.operationDone, timeout=TIMEOUT):
            window.models_worker.import_path(str(path))
    qtbot.waitUntil(lambda: len(window._installed) == 2, timeout=TIMEOUT)
    rows = [m for m in window.model_manager.models if m["installed"]]
    owned = sum(m["size_bytes"] for m in rows if m["source"] == "imported")
    in_place = sum(m["size_bytes"] for m in rows if m["source"] == "folder")
    assert owned == sd1_file.stat().st_size
    assert in_place == sum(p.stat().st_size for p in tiny_model_dir.rglob("*") if p.is_file())
    text = window.model_manager.summary.text()
    assert text.startswith(
        f"2 installed · {human_bytes(owned)} in Easel's folders"
        f" + {human_bytes(in_place)} used in place from your folders"
    )
    table = window.model_manager.table
    sizes = {table.item(r, 3).text() for r in range(table.rowCount())}
    assert {human_bytes(owned), human_bytes(in_place)} <= sizes  # the same figures as the rows


def test_use_settings_restores_the_model(
    qtbot, window: MainWindow, tiny_model_dir: Path, sd1_file: Path
) -> None:
    for path in (tiny_model_dir, sd1_file):
        with qtbot.waitSignal(window.models_worker.operationDone, timeout=TIMEOUT):
            window.models_worker.import_path(str(path))
    qtbot.waitUntil(lambda: len(window._installed) == 2, timeout=TIMEOUT)
    window.set_model_path(str(tiny_model_dir))
    imported = next(p for p, name in window._installed.items() if name == "dreamy")
    window.restore_request(GenerationRequest(prompt="a fox", seed=5, model="dreamy"))
    assert window.settings.model_path == imported
    assert window.model_picker.current_path() == imported
    assert window.prompt_panel.prompt_text() == "a fox"
    window.restore_request(GenerationRequest(prompt="a fox", model="Realistic Vision 6"))
    assert window.settings.model_path == imported  # not installed: kept, and said
    assert window.banner.message() == model_not_installed_text("Realistic Vision 6", "dreamy")
