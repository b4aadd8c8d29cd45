"""Copy gallery pictures to a folder of the user's choice, byte for byte.

Byte for byte keeps every text chunk (parameters, other apps' workflows) exactly as saved.
A name already taken in the target folder gets " (2)", " (3)"... rather than overwriting.
"""

from __future__ import annotations

from pathlib import Path

from app.errors import LibraryError
from app.library.atomic import write_bytes
from app.library.gallery_index import GalleryItem


def _free_name(folder: Path, name: str, taken: set[str]) -> Path:
    stem, suffix = Path(name).stem, Path(name).suffix
    candidate, n = name, 1
    while candidate in taken or (folder / candidate).exists():
        n += 1
        candidate = f"{stem} ({n}){suffix}"
    taken.add(candidate)
    return folder / candidate


def export_items(items: list[GalleryItem], folder: Path) -> tuple[list[Path], list[str]]:
    """Copy each picture into `folder`: (paths written, one sentence per failure)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise LibraryError(f"{folder} is not a folder; choose a folder to export to.")
    written: list[Path] = []
    errors: list[str] = []
    taken: set[str] = set()
    for item in items:
        try:
            data = item.path.read_bytes()
        except OSError as exc:
            errors.append(
                f"{item.path.name} could not be read ({exc.strerror or exc}); "
                "it may have been moved or deleted."
            )
            continue
        try:
            written.append(write_bytes(data, _free_name(folder, item.path.name, taken)))
        except LibraryError as exc:
            errors.append(str(exc))
            if "is full" in str(exc) or "not allowed" in str(exc):
                break  # every other picture would fail the same way
    return written, errors
