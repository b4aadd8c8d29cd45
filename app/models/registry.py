"""The model registry: what is installed, where, and which one is the default.

Sources, all listed together:
- catalog models downloaded into the Hugging Face cache (shared with other tools);
- imported single files, copied (``.safetensors``) or converted once (``.ckpt``) into Easel's
  own models folder;
- diffusers folders and model libraries the user already has (an A1111
  ``models/Stable-diffusion``, a ComfyUI ``models/checkpoints``), used in place, never copied.

Plain Python at import (no torch): the model worker lists models for the window quickly.
State lives in ``data_dir()/models.json``; everything else is read from the files themselves.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from app.errors import ModelLoadError
from app.models import catalog, download, hubcache, kinds
from app.models.checkpoints import PICKLE_SUFFIXES, convert_ckpt_to_safetensors, inspect_checkpoint
from app.models.store import (
    _LOCK,
    _folder_size,
    _load_state,
    _save_state,
    _state_path,
    model_hash,
    models_dir,
)

__all__ = ["ModelInfo", "model_hash", "models_dir"]

MODEL_SUFFIXES = tuple(
    sorted({".safetensors", *PICKLE_SUFFIXES, *kinds.KINDS["upscaler"].suffixes})
)


@dataclass(frozen=True)
class ModelInfo:
    id: str  # catalog id, or "file:<path>" / "folder:<path>" for local models
    name: str
    kind: str  # checkpoint | lora | vae | textual-inversion | vae-preview | unknown
    family: str | None
    source: str  # catalog | imported | library | folder
    path: str | None  # what Engine.load takes, when available on this computer
    size_bytes: int
    installed: bool
    default: bool = False
    inpainting: bool = False
    description: str = ""
    licence: str = ""
    recommended: dict[str, Any] | None = None
    problem: str = ""  # why a local file can't be used, when it can't

    @property
    def usable(self) -> bool:
        return self.installed and self.kind == "checkpoint" and not self.problem

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _catalog_models(default: str) -> list[ModelInfo]:
    out = []
    for e in catalog.load_catalog():
        snap = download.installed_snapshot(e)
        out.append(
            ModelInfo(
                id=e.id,
                name=e.name,
                kind=e.kind,
                family=e.family,
                source="catalog",
                path=str(snap) if snap else None,
                size_bytes=e.size_bytes,
                installed=snap is not None,
                default=(default == e.id) if default else e.default,
                inpainting=e.inpainting,
                description=e.description,
                licence=e.licence,
                recommended=asdict(e.recommended) if e.recommended else None,
            )
        )
    return out


def _file_model(path: Path, source: str, default: str, hint: str | None = None) -> ModelInfo:
    """One file's record; ``hint`` is the kind its folder says it holds (A1111 ``Lora`` ...).

    Never raises for a bad file: it is listed with its sentence in ``problem``, so one broken
    file cannot break the listing of every other model.
    """
    mid = f"file:{path}"
    kind: str
    try:
        info = inspect_checkpoint(path)
        kind, family, inpainting, problem = info.kind, info.family, info.inpainting, ""
        if kind == "checkpoint" and family is None:
            problem = "unsupported architecture"
        if kind == "unknown" and hint is not None:
            kind = hint  # contents don't say (an ESRGAN .pth): the folder does
    except ModelLoadError as exc:
        kind, family, inpainting, problem = hint or "unknown", None, False, str(exc)
    except Exception as exc:  # noqa: BLE001 - a hostile file must not break the listing
        kind, family, inpainting = hint or "unknown", None, False
        problem = f"{path.name} could not be read ({type(exc).__name__}); it looks broken."
    try:
        size = path.stat().st_size
    except OSError:
        size = 0
    return ModelInfo(
        id=mid,
        name=path.stem,
        kind=kind,
        family=family,
        source=source,
        path=str(path),
        size_bytes=size,
        installed=True,
        default=default == mid,
        inpainting=inpainting,
        problem=problem,
    )


def _scan(folder: Path) -> list[Path]:
    try:
        return sorted(
            p for p in folder.rglob("*") if p.suffix.lower() in MODEL_SUFFIXES and p.is_file()
        )
    except OSError:
        return []


def list_models(include_available: bool = True, kind: str | None = None) -> list[ModelInfo]:
    """Every model: catalog entries (installed or not), imported files, added folders.

    ``kind`` filters by a kind id of ``app.models.kinds`` (or "inpainting").
    """
    wanted = kinds.check_filter(kind)
    models = _all_models(include_available)
    return [m for m in models if kinds.matches(wanted, m.kind, m.inpainting)]


def find_named(kind: str, name: str) -> ModelInfo | None:
    """An installed model of one kind by its name (a file's stem), case-insensitively: how
    the prompt's ``<lora:NAME:1>`` and the webui's embedding words name their files."""
    wanted = name.strip().lower()
    same = [m for m in list_models(include_available=False, kind=kind) if m.installed]
    by_name = next((m for m in same if m.name.lower() == wanted), None)
    # A catalog entry answers to its id too: <lora:lcm-lora-sd15:1>.
    return by_name or next((m for m in same if m.source == "catalog" and m.id == wanted), None)


def library_fingerprint() -> tuple[tuple[str, int], ...]:
    """The modification times of every folder Easel scans for model files: it changes when a
    file is added, removed or renamed in any of them, so a listing can be cached against it."""
    out: list[tuple[str, int]] = []
    roots = [models_dir(), *(Path(f) for f in _load_state().folders)]
    out.append((str(_state_path()), _mtime(_state_path())))
    for root in roots:
        stack = [root]
        while stack:
            folder = stack.pop()
            out.append((str(folder), _mtime(folder)))
            try:
                stack.extend(p for p in folder.iterdir() if p.is_dir())
            except OSError:
                pass
    return tuple(out)


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


def model_file(m: ModelInfo) -> Path | None:
    """The one weights file of a single-file model: the file itself, or for a catalog
    download (a snapshot folder, such as the LCM-LoRA's) the .safetensors file inside it."""
    if not m.path:
        return None
    path = Path(m.path)
    if path.is_dir():
        files = sorted(path.rglob("*.safetensors"))
        return files[0] if files else None
    return path if path.is_file() else None


def _all_models(include_available: bool) -> list[ModelInfo]:
    state = _load_state()
    models = _catalog_models(state.default) if include_available else []
    if not include_available:
        models = [m for m in _catalog_models(state.default) if m.installed]
    root = models_dir()
    for p in _scan(root):
        hint = kinds.kind_of_path(p, root)
        # .ckpt never stays: it is converted on import; upscalers keep their own format.
        if p.suffix.lower() == ".safetensors" or hint == "upscaler":
            models.append(_file_model(p, "imported", state.default, hint))
    for folder in state.folders:
        for p in _scan(Path(folder)):
            hint = kinds.kind_of_path(p, Path(folder))
            models.append(_file_model(p, "library", state.default, hint))
    listed = {m.path for m in models}
    for file in state.files:  # opened from the window's picker: used in place, never copied
        if file not in listed:
            if Path(file).is_file():
                models.append(_file_model(Path(file), "library", state.default))
            else:
                models.append(_gone_file(file, state.default))
    for folder in state.diffusers:
        p = Path(folder)
        mid = f"folder:{p}"
        ok = (p / "model_index.json").is_file()
        models.append(
            ModelInfo(
                id=mid,
                name=p.name,
                kind="checkpoint",
                family=None,
                source="folder",
                path=str(p),
                size_bytes=_folder_size(p) if ok else 0,
                installed=ok,
                default=state.default == mid,
                problem="" if ok else "the folder is gone or has no model_index.json",
            )
        )
    if not any(m.default and m.usable for m in models):
        # No usable default chosen: the first installed checkpoint stands in.
        first = next((m for m in models if m.usable), None)
        if first is not None:
            models = [
                ModelInfo(**{**m.to_dict(), "default": m is first})
                if m.default or m is first
                else m
                for m in models
            ]
    return models


def _gone_file(file: str, default: str) -> ModelInfo:
    mid = f"file:{file}"
    return ModelInfo(
        mid, Path(file).stem, "checkpoint", None, "library", file, 0, False,
        default=default == mid, problem="the file is gone",
    )  # fmt: skip


def _pin_default() -> None:
    """Write down the default that stands in (the first usable model) before the list
    changes, so adding a model never changes the default unless the user asks."""
    with _LOCK:
        if _load_state().default:
            return
    current = next((m for m in _all_models(False) if m.default and m.usable), None)
    if current is not None:
        with _LOCK:
            state = _load_state()
            if not state.default:
                state.default = current.id
                _save_state(state)


def add_file(path: str | Path) -> ModelInfo:
    """List a single model file where it is (opened from the window), without copying it."""
    src = Path(path).expanduser().resolve()
    if not src.is_file():
        raise ModelLoadError(f"{str(src)!r} does not exist; check the path.")
    if src.suffix.lower() not in MODEL_SUFFIXES:
        raise ModelLoadError(f"{src.name} is not a .safetensors or .ckpt model file.")
    _pin_default()
    with _LOCK:
        state = _load_state()
        if str(src) not in state.files:
            state.files.append(str(src))
            _save_state(state)
    return find(str(src))


def find(model_id_or_path: str) -> ModelInfo:
    """A model by id, catalog repo id, name, or path; ModelLoadError when unknown."""
    text = model_id_or_path.strip()
    models = list_models()
    for m in models:
        if text in (m.id, m.name) or (m.source == "catalog" and text == catalog.get(m.id).repo_id):
            return m
    path = Path(text).expanduser()
    if path.exists():
        resolved = str(path.resolve())
        for m in models:
            if m.path and str(Path(m.path).resolve()) == resolved:
                return m
        if path.is_dir():
            return ModelInfo(
                f"folder:{resolved}",
                path.name,
                "checkpoint",
                None,
                "folder",
                resolved,
                0,
                (path / "model_index.json").is_file(),
            )
        return _file_model(path.resolve(), "library", "")
    raise ModelLoadError(f"No model called {text!r}; run 'models list' to see what is installed.")


def default_model() -> ModelInfo | None:
    return next((m for m in list_models() if m.default and m.usable), None)


def set_default(model_id: str) -> ModelInfo:
    m = find(model_id)
    if not m.usable:
        raise ModelLoadError(f"{m.name} is not installed; download or import it first.")
    with _LOCK:
        state = _load_state()
        state.default = m.id
        _save_state(state)
    return find(m.id)


def import_path(path: str | Path, on_step: Callable[[str], None] | None = None) -> ModelInfo:
    """Import a checkpoint or LoRA file (copied, or converted once from .ckpt), or add a folder.

    A diffusers folder (with model_index.json) and a model library folder (A1111/ComfyUI) are
    registered and used where they are.
    """
    src = Path(path).expanduser()
    if not src.exists():
        raise ModelLoadError(f"{str(src)!r} does not exist; check the path.")
    _pin_default()  # importing never changes the default
    if src.is_dir():
        return _add_folder(src.resolve())
    info = inspect_checkpoint(src)  # refuses unsafe pickles and broken files, with a sentence
    if info.kind == "checkpoint" and info.family is None:
        raise ModelLoadError(
            f"{src.name} is a model architecture Easel doesn't support yet (not SD 1.x, 2.x or XL)."
        )
    if info.kind not in kinds.KINDS:
        raise ModelLoadError(f"{src.name} is not a model Easel recognises; nothing was imported.")
    folder = models_dir() / kinds.KINDS[info.kind].import_dir
    folder.mkdir(parents=True, exist_ok=True)
    dst = folder / (src.stem + ".safetensors")
    if dst.exists() and dst.stat().st_size and _same_file(src, dst):
        return _file_model(dst, "imported", _load_state().default)
    if src.suffix.lower() in PICKLE_SUFFIXES:
        if on_step:
            on_step(f"Converting {src.name} to safetensors…")
        convert_ckpt_to_safetensors(src, dst)
    else:
        if on_step:
            on_step(f"Copying {src.name}…")
        _copy_atomic(src, dst)
    return _file_model(dst, "imported", _load_state().default)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (
            a.suffix.lower() == ".safetensors"
            and a.stat().st_size == b.stat().st_size
            and inspect_checkpoint(a).sha256_10 == inspect_checkpoint(b).sha256_10
        )
    except (OSError, ModelLoadError):
        return False


def _copy_atomic(src: Path, dst: Path) -> None:
    free = shutil.disk_usage(dst.parent).free
    size = src.stat().st_size
    if size > free:
        raise ModelLoadError(
            f"Not enough disk space to import {src.name}: {size / 1e9:.1f} GB needed, "
            f"{free / 1e9:.1f} GB free; free some space and try again."
        )
    tmp = dst.with_name(f".{dst.name}.part")
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ModelLoadError(
            f"Could not copy {src.name} ({exc.strerror}); nothing was imported."
        ) from exc


def _add_folder(folder: Path) -> ModelInfo:
    with _LOCK:
        state = _load_state()
        if (folder / "model_index.json").is_file():
            if str(folder) not in state.diffusers:
                state.diffusers.append(str(folder))
            _save_state(state)
            return find(f"folder:{folder}")
        files = _scan(folder)
        if not files:
            raise ModelLoadError(
                f"{folder} holds no .safetensors or .ckpt models; choose a models folder "
                "(e.g. A1111's models/Stable-diffusion or ComfyUI's models/checkpoints)."
            )
        if str(folder) not in state.folders:
            state.folders.append(str(folder))
        _save_state(state)
    first = _file_model(files[0], "library", "")
    return ModelInfo(
        **{
            **first.to_dict(),
            "id": f"library:{folder}",
            "name": folder.name,
            "kind": "library",
            "path": str(folder),
            "size_bytes": sum(f.stat().st_size for f in files),
        }
    )


def remove(model_id: str) -> str:
    """Delete a downloaded or imported model (frees the disk) or forget an added folder.

    Returns a sentence saying what was done. Files in the user's own folders are never deleted.
    """
    if model_id.startswith("library:"):
        folder = model_id.split(":", 1)[1]
        with _LOCK:
            state = _load_state()
            state.folders = [f for f in state.folders if f != folder]
            _save_state(state)
        return f"Easel no longer lists the models in {folder}; the files are untouched."
    m = find(model_id)
    with _LOCK:
        state = _load_state()
        if state.default == m.id:
            state.default = ""
        if m.source == "folder":
            state.diffusers = [f for f in state.diffusers if f != m.path]
        opened_in_place = m.path in state.files
        state.files = [f for f in state.files if f != m.path]
        _save_state(state)
    if opened_in_place:
        return f"Easel no longer lists {m.name}; the file is untouched."
    if m.source == "catalog":
        entry = catalog.get(m.id)
        cache = hubcache.repo_folder(entry.repo_id)
        freed = _folder_size(cache / "blobs") if cache.exists() else 0
        shutil.rmtree(cache, ignore_errors=True)
        return f"Removed {m.name}; {freed / 1e9:.2f} GB freed."
    if m.source == "imported" and m.path:
        size = m.size_bytes
        Path(m.path).unlink(missing_ok=True)
        return f"Removed {m.name}; {size / 1e9:.2f} GB freed."
    if m.source == "folder":
        return f"Easel no longer lists {m.name}; the folder is untouched."
    raise ModelLoadError(
        f"{m.name} is in your own folder {Path(m.path or '').parent}; Easel does not delete it."
    )


def disk_usage(models: list[ModelInfo] | None = None) -> int:
    """Bytes used by models Easel manages (downloads and imports, not the user's own folders)."""
    models = models if models is not None else list_models()
    return sum(m.size_bytes for m in models if m.installed and m.source in ("catalog", "imported"))
