"""Reading model files without trusting them.

- safetensors: the header (8-byte length + JSON) is parsed and checked here, by hand, so that a
  truncated download, a git-lfs pointer, a pickle renamed ``.safetensors`` or random bytes each
  get their own sentence, and so that inspecting a 7 GB file reads a few KB.
- ``.ckpt`` / ``.pt``: pickles. Their opcodes are decoded first without executing them
  (``app.models.picklescan``) to name any global outside torch's allow-list and to refuse
  shapes that would crash or hang the loader; then they are
  loaded only by ``torch.load(weights_only=True)``, passed explicitly. Nothing here ever
  retries with ``weights_only=False``: a file that the allow-list refuses stays refused.
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from app.errors import ModelLoadError, UnsafeModelFile
from app.models.picklescan import PickleScan, scan_pickles
from app.models.torchzip import MAX_PICKLE_BYTES, broken, is_torch_zip, read_data_pkl

# The safetensors library refuses headers over 100 MB; a bigger length is not a header at all.
MAX_HEADER_BYTES = 100_000_000
# SDXL has ~2,500 tensors, a full LyCORIS ~10,000. The library parses a header of a million
# entries in 4 s into 1.2 GB; refused before it is asked.
MAX_TENSORS = 200_000
_PICKLE_PROTO = b"\x80"
_ZIP_MAGIC = b"PK\x03\x04"
_LFS_POINTER = b"version https://git-lfs"


@dataclass(frozen=True)
class TensorMeta:
    dtype: str
    shape: tuple[int, ...]


def _incomplete(path: Path) -> ModelLoadError:
    return ModelLoadError(
        f"{path.name} is incomplete (a truncated download or a git-lfs pointer); download it again."
    )


def _corrupt(path: Path, why: str = "its header is corrupt") -> ModelLoadError:
    return ModelLoadError(
        f"{path.name} is not a valid safetensors file ({why}); "
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
            if not (2 <= length and head[8:9] == b"{"):
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
            if length <= MAX_HEADER_BYTES and 8 + length > size:
                raise _incomplete(path)
            if length <= MAX_HEADER_BYTES and _objects_in(f, length) > MAX_TENSORS:
                raise _corrupt(path, "its header lists far more tensors than any model has")
    except OSError as exc:
        raise ModelLoadError(
            f"{path.name} could not be read ({exc.strerror}); check the file."
        ) from None
    return _library_header(path)


def _objects_in(f: BinaryIO, length: int) -> int:
    """How many JSON objects the header can hold at most: its ``{`` count (escapes exist only
    inside strings, so no tensor entry can be written without one), streamed."""
    f.seek(8)
    count = 0
    while length > 0 and (chunk := f.read(min(length, 1 << 20))):
        count += chunk.count(b"{")
        length -= len(chunk)
    return count


# What the safetensors library's refusals mean, in a user's words.
_LIBRARY_REASONS = (
    ("header too large", "its header is over the 100 MB the format allows"),
    ("incomplete metadata", ""),
    ("invalid offset", "its header is corrupt: tensors overlap or leave gaps"),
    ("unknown variant", "its header is corrupt: a tensor has an unknown data type"),
    ("recursion limit", "its header is corrupt: it is nested too deeply"),
    ("overflow", "its header is corrupt: a tensor is impossibly large"),
    ("number out of range", "its header is corrupt: a number in it is impossibly large"),
    ("expected usize", "its header is corrupt: a size or offset is not a whole number"),
    ("expected a string", "its header is corrupt: its metadata is not text"),
    ("invalid shape", "its header is corrupt: a tensor's shape does not match its data"),
)


def _library_header(path: Path) -> tuple[dict[str, TensorMeta], dict[str, str]]:
    """The header as the safetensors library reads it: its own checks (offsets, dtypes,
    sizes, metadata types, nesting, the 100 MB cap) refuse a bad file at import, not later."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="numpy") as f:
            metadata = f.metadata() or {}
            tensors = {}
            for name in f.keys():
                part = f.get_slice(name)
                tensors[name] = TensorMeta(str(part.get_dtype()), tuple(part.get_shape()))
    except SafetensorError as exc:
        text = str(exc)
        for marker, why in _LIBRARY_REASONS:
            if marker in text:
                raise (_corrupt(path, why) if why else _incomplete(path)) from None
        raise _corrupt(path) from None
    except OSError as exc:
        raise ModelLoadError(
            f"{path.name} could not be read ({exc.strerror}); check the file."
        ) from None
    except Exception as exc:  # noqa: BLE001 - MemoryError and the like: still one sentence
        raise _corrupt(path, f"its header could not be read: {type(exc).__name__}") from None
    return tensors, {str(k): str(v) for k, v in metadata.items()}


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a whole file, streamed (never the whole file in memory)."""
    with Path(path).open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def addnet_sha256(path: str | Path) -> str:
    """The SHA-256 of a safetensors file's bytes after its 8-byte length and JSON header: the
    kohya "addnet" hash the webui writes into ``Lora hashes`` (modules/hashes.py)."""
    with Path(path).open("rb") as f:
        length = struct.unpack("<Q", f.read(8).ljust(8, b"\0"))[0]
        f.seek(8 + length)
        digest = hashlib.sha256()
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


# --- pickles --------------------------------------------------------------------------------


# torch's legacy (pre-zip) format is five pickles (magic number, protocol, system info, the
# object, storage keys) followed by raw tensor bytes, which must not be decoded as opcodes.
_LEGACY_PICKLES = 5


def _pickle_streams(path: Path, max_bytes: int = MAX_PICKLE_BYTES) -> list[tuple[bytes, int]]:
    """(bytes, how many pickles to decode) for a torch file: the ``data.pkl`` torch loads from
    the zip format (checked and capped), or the leading pickles of the legacy format."""
    if is_torch_zip(path):
        return [(read_data_pkl(path, max_bytes), 1)]
    with path.open("rb") as f:
        return [(f.read(max_bytes), _LEGACY_PICKLES)]


def _scan_streams(streams: list[tuple[bytes, int]], max_bytes: int) -> PickleScan:
    data, count = streams[0]
    found = scan_pickles(data, count)
    if found.problem.startswith("it ends too early") and len(data) >= max_bytes:
        found.problem = "its pickle is far larger than any model's"
    return found


def pickle_globals(path: str | Path, max_bytes: int = MAX_PICKLE_BYTES) -> list[str]:
    """Every ``module.name`` global a pickle file references, found by decoding its opcodes
    (nothing is executed)."""
    return _scan_streams(_pickle_streams(Path(path), max_bytes), max_bytes).globals


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
    what = f"calls {name}" if name else "runs code"
    return UnsafeModelFile(
        f"{path.name} {what} when it is loaded, so it is unsafe and Easel refused to open it; "
        "get a .safetensors version of this model."
    )


def _needs_memory(path: Path) -> ModelLoadError:
    return ModelLoadError(
        f"{path.name} needs more memory than this computer has to open; close other programs "
        "and try again, or get a .safetensors version of this model."
    )


_GLOBAL_NAMED = re.compile(r"GLOBAL (\S+?)(?: was not| whose|\s|$)")


def _torch_load(path: Path, is_zip: bool) -> Any:
    """torch.load(weights_only=True) with every exception it can raise turned into a
    sentence: unsafe only when it names a forbidden global, else broken (or out of memory)."""
    import pickle

    import torch

    try:
        # mmap (zip format only) so that inspecting a 4 GB .ckpt does not read its tensors.
        return torch.load(path, map_location="cpu", weights_only=True, mmap=is_zip)
    except pickle.UnpicklingError as exc:
        found = _GLOBAL_NAMED.search(str(exc))
        if found:
            raise _unsafe(path, found.group(1)) from None
        raise broken(path, "its pickle is damaged") from None
    except MemoryError:
        raise _needs_memory(path) from None
    except RecursionError:
        raise broken(path, "its pickle nests too deeply") from None
    except EOFError:
        raise broken(path, "it ends too early, as a truncated download does") from None
    except RuntimeError as exc:
        text = str(exc).lower()
        if "allocate" in text or "out of memory" in text:
            raise _needs_memory(path) from None
        raise broken(path, "torch could not read it") from None
    except Exception as exc:  # noqa: BLE001 - IndexError, KeyError, struct.error, OverflowError...
        kind = type(exc)
        named = (
            kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__name__}"
        )
        raise broken(path, f"its pickle is damaged: {named}") from None


# A .ckpt nests its weights in "state_dict" once (Lightning) or twice; never more in practice.
_MAX_NESTING = 4


def _unwrap(path: Path, obj: Any) -> tuple[Any, dict[str, str]]:
    """The innermost ``state_dict``, by dict.get on the object (a class that replaces ``get``
    cannot misdirect) and at bounded depth (one that contains itself cannot loop)."""
    metadata: dict[str, str] = {}
    for _ in range(_MAX_NESTING):
        if not isinstance(obj, dict):
            break
        inner = dict.get(obj, "state_dict")
        if not isinstance(inner, dict) or inner is obj:
            break
        step = dict.get(obj, "global_step")
        if type(step) is int:
            metadata["global_step"] = str(step)
        obj = inner
    if not isinstance(obj, dict):
        raise ModelLoadError(f"{path.name} holds no model weights; check that it is a model file.")
    return obj, metadata


def _tensor_problem(tensor: Any) -> str | None:
    """Why a tensor is not a plain CPU tensor owning its data (None when it is)."""
    import torch

    if tensor.device.type != "cpu":
        return f"it is on the {tensor.device.type} device"
    if tensor.layout != torch.strided or tensor.is_quantized or tensor.is_nested:
        return "it is sparse or quantized"
    if tensor.is_complex():
        return "it is complex-valued"
    storage = tensor.untyped_storage()
    needed = (tensor.storage_offset() + tensor.numel()) * tensor.element_size()
    if tensor.numel() and (storage.data_ptr() == 0 or needed > storage.nbytes()):
        return "it is larger than the data it holds"
    return None


def _plain_tensors(path: Path, obj: dict[Any, Any]) -> dict[str, Any]:
    import torch

    tensors: dict[str, Any] = {}
    total = 0
    for key, value in dict.items(obj):
        if type(key) is not str or not isinstance(value, torch.Tensor):
            continue
        if type(value) is torch.nn.Parameter:
            value = value.detach()
        problem = (
            "it is a tensor subclass" if type(value) is not torch.Tensor else _tensor_problem(value)
        )
        if problem:
            raise ModelLoadError(
                f"{path.name} holds a tensor Easel cannot convert ({key}: {problem}); "
                "get a .safetensors version of this model."
            )
        total += value.numel() * value.element_size()
        tensors[key] = value
    if total > 2 * path.stat().st_size + (1 << 20):
        # Views sharing one storage are copied on conversion; a file naming the same data
        # thousands of times would need far more memory than the file's size.
        raise broken(path, "its tensors claim far more data than the file holds")
    return tensors


def load_pickle_state_dict(
    path: str | Path, max_pickle_bytes: int = MAX_PICKLE_BYTES
) -> tuple[dict[str, Any], dict[str, str]]:
    """The tensors of a ``.ckpt``/``.pt`` file (unwrapping ``state_dict``) and a few plain
    facts kept as metadata (``global_step``), loaded only through torch's allow-list. Raises
    UnsafeModelFile naming the function for a file that would run code, ModelLoadError with
    one sentence for anything else wrong."""
    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        raise ModelLoadError(f"{path.name} is empty or missing; download it again.")
    is_zip = is_torch_zip(path)
    streams = _pickle_streams(path, max_pickle_bytes)  # refuses a damaged zip first
    scan = _scan_streams(streams, max_pickle_bytes)
    allowed = _allowed_globals()
    if allowed:
        for global_name in scan.globals:
            if global_name not in allowed:
                raise _unsafe(path, global_name)
    if scan.problem:
        # torch's loader would build it: refused before (a C stack overflow kills the process).
        raise broken(path, scan.problem)
    obj, metadata = _unwrap(path, _torch_load(path, is_zip))
    for wrapper in ("params_ema", "params"):  # Real-ESRGAN / BasicSR upscalers
        inner = dict.get(obj, wrapper)
        if isinstance(inner, dict) and inner is not obj:
            obj = inner
            break
    tensors = _plain_tensors(path, obj)
    if not tensors:
        # A webui textual-inversion .pt keeps its vectors one level down
        # ({"string_to_param": {"*": tensor}, "name": ..., "step": ...}): "string_to_param.*".
        for key, value in dict.items(obj):
            if type(key) is str and isinstance(value, dict) and value is not obj:
                inner = _plain_tensors(path, value)
                tensors.update({f"{key}.{name}": t for name, t in inner.items()})
    if not tensors:
        raise ModelLoadError(f"{path.name} holds no model weights; check that it is a model file.")
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
