"""One list of models: which picker entries stay, and which model a picture's settings name.

Plain functions over the Models tab's list (path -> name of installed checkpoints), so the
picker, the Models tab and "Use settings" agree on what is installed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def prune_recent(recent: list[str], before: set[str], installed: set[str]) -> list[str]:
    """Recent models minus those deleted or forgotten in the Models tab (installed before,
    not now) and those gone from disk."""
    gone = before - installed
    return [p for p in recent if p not in gone and (p in installed or Path(p).exists())]


def _keys(path: str, name: str) -> set[str]:
    p = Path(path)
    return {k.casefold() for k in (name, p.name, p.stem) if k}


def find_model(model: str, installed: dict[str, str]) -> str | None:
    """The installed model a picture names ("Model: ..." in its parameters), or None."""
    wanted = model.strip().casefold()
    if not wanted:
        return None
    return next((path for path, name in installed.items() if wanted in _keys(path, name)), None)


def model_not_installed_text(model: str, current: str) -> str:
    keep = f"; {current} is kept" if current else ""
    return (
        f"This picture was made with the model {model}, which is not installed{keep}. "
        "Download or import it in the Models tab to make the same picture."
    )


def disk_summary(models: list[dict[str, Any]]) -> tuple[int, int, int]:
    """(installed models, bytes in Easel's folders, bytes used in place from the user's),
    summed over the same rows and sizes the Models tab lists, so the figures add up."""
    rows = [m for m in models if m["installed"]]
    owned = sum(m["size_bytes"] or 0 for m in rows if m["source"] in ("catalog", "imported"))
    in_place = sum(m["size_bytes"] or 0 for m in rows if m["source"] not in ("catalog", "imported"))
    return len(rows), owned, in_place
