"""Reading model files without trusting them.

- safetensors: the header (8-byte length + JSON) is parsed and checked here, by hand, so that a
  truncated download, a git-lfs pointer, a pickle renamed ``.safetensors`` or random bytes each
  get their own sentence, and so that inspecting a 7 GB file reads a few KB.
- ``.ckpt`` / ``.pt``: pickles. Their opcodes are scanned first (``pickletools.genops``, which
  decodes without executing) to name any global outside torch's allow-list; then they are
  loaded only by ``torch.load(weights_only=True)``, passed explicitly. Nothing here ever
  retries with ``weights_only=False``: a file that the allow-list refuses stays refused.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickletools
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.errors import ModelLoadError, UnsafeModelFile

# The safetensors library refuses headers over 100 MB; a bigger length is not a header at all.
MAX_HEADER_BYTES = 100_000_000
_PICKLE_PROTO = b"\x80"
_ZIP_MAGIC = b"PK\x03\x04"
_LFS_POINTER = b"version https://git-lfs"

_STRING_OPS = {
    "SHORT_BINUNICODE",
    "BINUNICODE",
    "BINUNICODE8",
    "UNICODE",
    "SHORT_BINSTRING",
    "BINSTRING",
    "STRING",
}


@dataclass(frozen=True)
class TensorMeta:
    dtype: str
    shape: tuple[int, ...]


def _incomplete(path: Path) -> ModelLoadError:
    return ModelLoadError(
        f"{path.name} is incomplete (a truncated download or a git-lfs pointer); download it again."
    )


def _corrupt(path: Path) -> ModelLoadError:
    return ModelLoadError(
        f"{path.name} is not a valid safetensors file (its header is corrupt); "
        "download it again or get it from another source."
    )


def read_safetensors_header(path: str | Path) -> tuple[dict[str, TensorMeta], dict[str, str]]:
    """The tensors (name -> dtype, shape) and the ``__metadata__`` of a safetensors file,
    reading only its header; raises ModelLoadError saying what is wrong with a bad file."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(9)
            if size == 0:
                raise ModelLoadError(f"{path.name} is empty (0 bytes); download it again.")
            if head.startswith(_LFS_POINTER[:9]):
                f.seek(0)
                if f.read(len(_LFS_POINTER)) == _LFS_POINTER:
                    raise _incomplete(path)
            length = struct.unpack("<Q", head[:8])[0] if len(head) >= 8 else 0
            # Judge by the safetensors reading first: a real header's length may well start
            # with the byte a pickle starts with.
            if not (2 <= length <= MAX_HEADER_BYTES and head[8:9] == b"{"):
                if head.startswith(_ZIP_MAGIC) or (
                    head[:1] == _PICKLE_PROTO and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")
                ):
                    raise ModelLoadError(
                        f"{path.name} is not a safetensors file (it looks like a pickle/.ckpt); "
                        "rename it to .ckpt and import it, or get the .safetensors version."
                    )
                if len(head) < 9:
                    raise _incomplete(path)
                raise _corrupt(path)
            if 8 + length > size:
                raise _incomplete(path)
            f.seek(8)
            raw = f.read(length)
    except OSError as exc:
        raise ModelLoadError(
            f"{path.name} could not be read ({exc.strerror}); check the file."
        ) from None
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _corrupt(path) from None
    if not isinstance(header, dict):
        raise _corrupt(path)
    metadata = header.pop("__metadata__", None) or {}
    tensors: dict[str, TensorMeta] = {}
    data_end = 0
    try:
        for name, entry in header.items():
            begin, end = entry["data_offsets"]
            shape = tuple(int(n) for n in entry["shape"])
            if not (0 <= begin <= end):
                raise _corrupt(path)
            data_end = max(data_end, int(end))
            tensors[name] = TensorMeta(str(entry["dtype"]), shape)
    except (KeyError, TypeError, ValueError):
        raise _corrupt(path) from None
    if 8 + length + data_end > size:
        # The header promises more bytes than the file holds: the download stopped early.
        raise _incomplete(path)
    if not isinstance(metadata, dict):
        metadata = {}
    return tensors, {str(k): str(v) for k, v in metadata.items()}


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a whole file, streamed (never the whole file in memory)."""
    with Path(path).open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


# --- pickles --------------------------------------------------------------------------------


# torch's legacy (pre-zip) format is five pickles (magic number, protocol, system info, the
# object, storage keys) followed by raw tensor bytes, which must not be decoded as opcodes.
_LEGACY_PICKLES = 5


def _pickle_streams(path: Path) -> list[tuple[bytes, int]]:
    """(bytes, how many pickles to decode) for a torch file: ``data.pkl`` of the zip format,
    or the leading pickles of the legacy format."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            return [(archive.read(n), 1) for n in archive.namelist() if n.endswith(".pkl")]
    with path.open("rb") as f:
        return [(f.read(64 * 1024 * 1024), _LEGACY_PICKLES)]


def pickle_globals(path: str | Path) -> list[str]:
    """Every ``module.name`` global a pickle file references, found by decoding its opcodes
    (nothing is executed). STACK_GLOBAL takes its names from earlier string pushes, which may
    come back from the memo; both are tracked."""
    found: list[str] = []
    for data, count in _pickle_streams(Path(path)):
        stream = io.BytesIO(data)
        for _ in range(count):
            start = stream.tell()
            strings: list[str] = []
            memo: dict[int, Any] = {}
            last: Any = None
            try:
                for opcode, arg, _pos in pickletools.genops(stream):
                    name = opcode.name
                    if name in _STRING_OPS:
                        last = arg.decode("latin-1") if isinstance(arg, bytes) else arg
                        strings.append(last)
                    elif name in {"BINPUT", "LONG_BINPUT", "PUT"}:
                        memo[int(arg)] = last  # type: ignore[arg-type]
                    elif name == "MEMOIZE":
                        memo[len(memo)] = last
                    elif name in {"BINGET", "LONG_BINGET", "GET"}:
                        last = memo.get(int(arg))  # type: ignore[arg-type]
                        if isinstance(last, str):
                            strings.append(last)
                    elif name in {"GLOBAL", "INST"}:
                        found.append(str(arg).replace(" ", "."))
                    elif name == "STACK_GLOBAL" and len(strings) >= 2:
                        found.append(f"{strings[-2]}.{strings[-1]}")
                    else:
                        last = None
            except Exception:  # noqa: BLE001 - a damaged stream ends the scan, not the app
                break
            if stream.tell() <= start or stream.tell() >= len(data):
                break
    return found


def _allowed_globals() -> set[str]:
    # torch's own allow-list for weights_only loading, so the scan refuses exactly what
    # torch.load(weights_only=True) would refuse, and can name it before anything runs.
    try:
        from torch._weights_only_unpickler import _get_allowed_globals

        allowed = set(_get_allowed_globals())
    except Exception:  # noqa: BLE001 - private API; torch.load still guards
        return set()
    from torch.serialization import get_safe_globals

    for entry in get_safe_globals():
        if isinstance(entry, tuple):
            allowed.add(entry[1])
        else:
            allowed.add(f"{entry.__module__}.{entry.__name__}")
    return allowed


# Pickles name functions by the module that defines them; say what a user would search for.
_FRIENDLY_MODULES = {"posix": "os", "nt": "os", "__builtin__": "builtins"}


def _unsafe(path: Path, name: str | None) -> UnsafeModelFile:
    if name and "." in name:
        module, _, attr = name.rpartition(".")
        name = f"{_FRIENDLY_MODULES.get(module, module)}.{attr}"
    what = f" (it references {name})" if name else ""
    return UnsafeModelFile(
        f"{path.name} contains code that would run when loaded{what}; Easel refused to open it. "
        "Get a .safetensors version of this model."
    )


def load_pickle_state_dict(path: str | Path) -> tuple[dict[str, Any], dict[str, str]]:
    """The tensors of a ``.ckpt``/``.pt`` file (unwrapping ``state_dict``) and a few plain
    facts kept as metadata (``global_step``), loaded only through torch's allow-list."""
    import pickle

    import torch

    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        raise ModelLoadError(f"{path.name} is empty or missing; download it again.")
    allowed = _allowed_globals()
    if allowed:
        for global_name in pickle_globals(path):
            if global_name not in allowed:
                raise _unsafe(path, global_name)
    try:
        # mmap (zip format only) so that inspecting a 4 GB .ckpt does not read its tensors.
        obj = torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
    except pickle.UnpicklingError as exc:
        text = str(exc)
        name: str | None = None
        if "GLOBAL " in text:
            name = text.split("GLOBAL ", 1)[1].split(" ", 1)[0]
        raise _unsafe(path, name) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError):
        raise ModelLoadError(
            f"{path.name} is incomplete or corrupt (a truncated download?); download it again."
        ) from None
    metadata: dict[str, str] = {}
    while isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        step = obj.get("global_step")
        if isinstance(step, int):
            metadata["global_step"] = str(step)
        obj = obj["state_dict"]
    for wrapper in ("params_ema", "params"):  # Real-ESRGAN / BasicSR upscalers
        if isinstance(obj, dict) and isinstance(obj.get(wrapper), dict):
            obj = obj[wrapper]
            break
    if not isinstance(obj, dict):
        raise ModelLoadError(f"{path.name} holds no model weights; check that it is a model file.")
    tensors = {k: v for k, v in obj.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}
    return tensors, metadata


def save_safetensors_atomic(
    tensors: dict[str, Any], dst: str | Path, metadata: dict[str, str]
) -> Path:
    """Write ``tensors`` to ``dst`` through a temporary file and a rename, so a crash never
    leaves a half-written file under the final name."""
    from safetensors.torch import save_file

    dst = Path(dst)
    seen: set[int] = set()
    out = {}
    for key, tensor in tensors.items():
        # safetensors refuses tensors sharing storage (pickles often share); copy those.
        storage = tensor.untyped_storage().data_ptr()
        shared = storage in seen and tensor.numel() > 0
        seen.add(storage)
        out[key] = tensor.clone().contiguous() if shared else tensor.contiguous()
    tmp = dst.with_name(dst.name + ".part")
    try:
        save_file(out, str(tmp), metadata={**metadata, "format": "pt"})
        with tmp.open("rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
    return dst
