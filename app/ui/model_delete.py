"""What "Delete…" in the Models tab asks, and what it may do, for each kind of model.

Easel deletes only what it put on disk itself (downloads, imported copies). A model used in
place from the user's own folder (a diffusers folder, a file in an A1111/ComfyUI folder) is
only forgotten: its files stay where they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

OWNED_SOURCES = ("catalog", "imported")  # files Easel wrote and may delete


def human_bytes(n: float) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= size:
            value = n / size
            digits = 2 if unit == "GB" else (1 if value < 100 else 0)
            return f"{value:.{digits}f} {unit}"
    return f"{int(n)} B"


@dataclass(frozen=True)
class DeletePlan:
    """The question to ask, the button that agrees, and the registry id to remove."""

    question: str
    action: str  # the label of the button that goes ahead ("Delete", "Stop listing")
    remove_id: str
    deletes_files: bool


def _containing(path: str, folders: list[str]) -> str:
    """The added models folder that holds ``path`` (the deepest one), else its parent."""
    p = Path(path)
    inside = [f for f in folders if Path(f) in p.parents]
    return max(inside, key=len) if inside else str(p.parent)


def plan_delete(
    m: dict[str, Any], folders: list[str] | None = None, files: list[str] | None = None
) -> DeletePlan:
    """``folders``: the models folders the user added (the registry's library folders);
    ``files``: single files opened in place."""
    name = m["name"]
    if m["source"] == "library" and m.get("path") in (files or []):
        return DeletePlan(
            f"Stop listing {name}? The file stays where it is; no disk is freed.",
            "Stop listing",
            m["id"],
            False,
        )
    if m["source"] in OWNED_SOURCES:
        size = m.get("size_bytes") or 0
        freed = f" and free {human_bytes(size)} of disk" if size else ""
        return DeletePlan(
            f"Delete {name}{freed}? You can download or import it again later.",
            "Delete",
            m["id"],
            True,
        )
    if m["source"] == "library" and not str(m["id"]).startswith("library:"):
        # One file of a models folder the user added: forget the folder, keep every file.
        folder = _containing(m["path"] or "", folders or [])
        return DeletePlan(
            f"{name} is in your own folder {folder}; Easel never deletes your files. "
            "Stop listing the models in that folder? Nothing on disk changes.",
            "Stop listing",
            f"library:{folder}",
            False,
        )
    return DeletePlan(
        f"Stop listing {name}? Its files stay where they are; no disk is freed.",
        "Stop listing",
        m["id"],
        False,
    )
