"""Where Easel keeps its files: settings, data (the gallery index), caches and pictures.

Nothing is created at import time; each function makes its folder on first use. When the
environment variable EASEL_HOME is set, everything lives under it instead of the platform's
usual places, so tests and the self-test never touch the user's real folders.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import platformdirs

APP_NAME = "Easel"
HOME_ENV = "EASEL_HOME"


def resources_dir() -> Path:
    """The ``resources/`` folder: next to the ``app`` package, or where PyInstaller unpacked
    the data files of a frozen app."""
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        return Path(frozen) / "resources"
    return Path(__file__).resolve().parents[2] / "resources"


def _home() -> Path | None:
    value = os.environ.get(HOME_ENV, "").strip()
    return Path(value).expanduser() if value else None


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def config_dir() -> Path:
    """Settings (small JSON files)."""
    home = _home()
    if home is not None:
        return _ensure(home / "config")
    return _ensure(Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)))


def data_dir() -> Path:
    """Data the app owns and cannot rebuild cheaply (the gallery index lives here)."""
    home = _home()
    if home is not None:
        return _ensure(home / "data")
    return _ensure(Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)))


def cache_dir() -> Path:
    """Anything that may be deleted at any time (thumbnails, downloaded models' scratch)."""
    home = _home()
    if home is not None:
        return _ensure(home / "cache")
    return _ensure(Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False)))


def default_gallery_dir() -> Path:
    """The folder of generated PNGs, in the user's pictures folder where they can see it."""
    home = _home()
    if home is not None:
        return _ensure(home / "Pictures" / APP_NAME)
    return _ensure(Path(platformdirs.user_pictures_dir()) / APP_NAME)


def gallery_index_path() -> Path:
    """The SQLite index of the gallery; rebuildable from the PNG files."""
    return data_dir() / "gallery.sqlite3"


def thumbnail_dir() -> Path:
    return _ensure(cache_dir() / "thumbnails")
