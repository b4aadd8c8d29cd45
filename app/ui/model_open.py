"""Open a model from the window's picker: a ``.safetensors``/``.ckpt`` file or a diffusers
folder, in one dialog.

Qt's file dialogs pick either files or folders. This one picks files, and when the selection
is a diffusers folder (it has ``model_index.json``) "Open" takes the folder itself instead of
going into it; any other folder opens as usual, to look inside.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QDialog, QFileDialog, QWidget

MODEL_FILTER = "Models (*.safetensors *.ckpt);;All files (*)"
TITLE = "Open a model: a .safetensors or .ckpt file, or a diffusers folder"


def is_model_folder(path: Path) -> bool:
    return path.is_dir() and (path / "model_index.json").is_file()


def is_model_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in (".safetensors", ".ckpt")


class ModelFileDialog(QFileDialog):
    def __init__(self, parent: QWidget | None = None, start: str = "") -> None:
        super().__init__(parent, TITLE, start, MODEL_FILTER)
        # Qt's own dialog: the native ones cannot take a folder in file mode.
        self.setOption(QFileDialog.Option.DontUseNativeDialog, True)
        self.setFileMode(QFileDialog.FileMode.ExistingFile)
        self.setAcceptMode(QFileDialog.AcceptMode.AcceptOpen)
        self.chosen = ""

    def accept(self) -> None:
        selected = [Path(p) for p in self.selectedFiles()]
        if selected and is_model_folder(selected[0]):
            self.chosen = str(selected[0])
            QDialog.accept(self)  # the folder itself, not a step into it
            return
        if selected and selected[0].is_file():
            self.chosen = str(selected[0])
        super().accept()


def choose_model(parent: QWidget | None, start: str = "") -> str:
    """The model file or diffusers folder the user opened, or "" when cancelled."""
    dialog = ModelFileDialog(parent, start)
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return ""
    return dialog.chosen or next(iter(dialog.selectedFiles()), "")
