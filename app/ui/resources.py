"""Files under ``resources/``: the style sheet and icons, found by path (frozen apps too)."""

from __future__ import annotations

from functools import cache

from PySide6.QtGui import QIcon

from app.library.paths import resources_dir


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
