"""The gallery's questions and trips outside the app: confirm a delete, pick an export
folder, show a file in the file manager. Kept apart so tests can answer for the user."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget


def reveal_command(path: Path, platform: str = sys.platform) -> list[str] | None:
    """The command that shows `path` selected in the file manager; None: open its folder.

    Linux file managers have no common "select this file" switch, so there the folder is
    opened with QDesktopServices instead.
    """
    if platform == "darwin":
        return ["open", "-R", str(path)]
    if platform.startswith("win"):
        # Explorer parses "/select," itself; the path follows as its own (quoted) argument.
        return ["explorer", "/select,", str(path)]
    return None


def reveal_in_file_manager(path: Path, platform: str = sys.platform) -> bool:
    """False when no file manager could be started."""
    command = reveal_command(path, platform)
    if command is None:
        return bool(QDesktopServices.openUrl(QUrl.fromLocalFile(str(path.parent))))
    try:
        subprocess.Popen(command)  # noqa: S603 - fixed programs, path as one argument
    except OSError:
        return False
    return True


def no_file_manager_text(path: Path) -> str:
    return f"No file manager was found to show {path.name}; it is in {path.parent}."


def delete_question(names: list[str], uses_trash: bool) -> tuple[str, str]:
    """(title, text) of the question asked before deleting these pictures."""
    where = (
        "They are moved to the trash, where you can restore them."
        if uses_trash
        else "They are deleted for good: this system has no trash Easel can use."
    )
    if len(names) == 1:
        where = where.replace("They are", "It is").replace("restore them", "restore it")
        return "Delete picture", f"Delete {names[0]}? {where}"
    return "Delete pictures", f"Delete {len(names)} pictures? {where}"


def ask_delete(parent: QWidget, names: list[str], uses_trash: bool) -> bool:
    title, text = delete_question(names, uses_trash)
    answer = QMessageBox.question(
        parent,
        title,
        text,
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
        QMessageBox.StandardButton.Cancel,
    )
    return answer == QMessageBox.StandardButton.Yes


def choose_export_folder(parent: QWidget, count: int) -> Path | None:
    noun = "picture" if count == 1 else f"{count} pictures"
    folder = QFileDialog.getExistingDirectory(parent, f"Export {noun} to")
    return Path(folder) if folder else None
