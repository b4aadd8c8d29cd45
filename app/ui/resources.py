"""Files under ``resources/``: the style sheet and icons, found by path (frozen apps too)."""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path

from PySide6.QtGui import QIcon


def resources_dir() -> Path:
    frozen = getattr(sys, "_MEIPASS", None)  # PyInstaller unpacks data files here
    if frozen:
        return Path(frozen) / "resources"
    return Path(__file__).resolve().parents[2] / "resources"


@cache
def icon(name: str) -> QIcon:
    path = resources_dir() / "icons" / f"{name}.svg"
    return QIcon(str(path)) if path.is_file() else QIcon()


def style_sheet() -> str:
    """The app's style sheet with ``@ICONS@`` expanded to the icons folder (for url())."""
    path = resources_dir() / "style.qss"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return ""
    return text.replace("@ICONS@", (resources_dir() / "icons").as_posix())
