"""The one pickle torch will load from a ``.ckpt``, read without trusting the file.

torch's zip format (``torch.save`` since 1.6) holds ``<archive>/data.pkl`` plus raw tensor
entries; torch takes ``<archive>`` from the FIRST central-directory entry. Only that entry is
read here, streamed with a size cap (a deflated entry of zeros inflates ~1000x: 12 GiB from a
12 MB file), and any zip damage (bad CRC, encryption, an unknown compression, duplicate names,
a local header naming another entry) is "broken". The allow-list loader stays the guard; what
is read here only names a forbidden function for the message.
"""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

from app.errors import ModelLoadError

ZIP_MAGIC = b"PK\x03\x04"
# Real data.pkl entries are well under 2 MB (SDXL with EMA); 32 MiB leaves room and bounds
# what a hostile pickle can make the pure-Python unpickler chew on.
MAX_PICKLE_BYTES = 32 * 1024 * 1024


def broken(path: Path, why: str) -> ModelLoadError:
    return ModelLoadError(f"{path.name} is broken or corrupt ({why}); download it again.")


def is_torch_zip(path: Path) -> bool:
    """The format as torch decides it: by the first four bytes, not by a zip end record."""
    with path.open("rb") as f:
        return f.read(4) == ZIP_MAGIC


def _check_entries(path: Path, archive: zipfile.ZipFile, max_bytes: int) -> str:
    infos = archive.infolist()
    if not infos or "/" not in infos[0].filename:
        raise broken(path, "its archive has no torch folder")
    prefix = infos[0].filename.split("/", 1)[0] + "/"
    seen: set[str] = set()
    with path.open("rb") as f:
        for info in infos:
            name = info.filename
            if info.orig_filename != name or name.lower() in seen:
                raise broken(path, "its archive has duplicate or disguised entry names")
            seen.add(name.lower())
            if info.flag_bits & 0x1:
                raise broken(path, "its archive is encrypted")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise broken(path, "its archive uses an unknown compression")
            if info.compress_type != zipfile.ZIP_STORED and info.file_size > max_bytes:
                raise broken(path, "an entry of its archive inflates far beyond any model's")
            f.seek(info.header_offset)
            local = f.read(30)
            if len(local) < 30 or local[:4] != ZIP_MAGIC:
                raise broken(path, "its archive is damaged")
            method, name_len = (
                struct.unpack("<H", local[8:10])[0],
                struct.unpack("<H", local[26:28])[0],
            )
            if (
                f.read(name_len)
                != info.orig_filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437")
                or method != info.compress_type
            ):
                raise broken(path, "its archive's entry names do not match")
    pkl = prefix + "data.pkl"
    if pkl.lower() not in seen:
        raise broken(path, "its archive has no data.pkl")
    return pkl


def read_data_pkl(path: Path, max_bytes: int = MAX_PICKLE_BYTES) -> bytes:
    """The bytes of the ``data.pkl`` torch would load, streamed and capped; ModelLoadError
    ("broken or corrupt") for any damage."""
    try:
        with zipfile.ZipFile(path) as archive:
            name = _check_entries(path, archive, max_bytes)
            info = archive.getinfo(name)
            if info.file_size > max_bytes:
                raise broken(path, "its data.pkl is far larger than any model's")
            out = bytearray()
            with archive.open(info) as stream:
                while chunk := stream.read(1 << 20):
                    out += chunk
                    if len(out) > max_bytes:
                        raise broken(path, "its data.pkl is far larger than any model's")
            return bytes(out)
    except ModelLoadError:
        raise
    except Exception as exc:  # noqa: BLE001 - BadZipFile, CRC, NotImplementedError, ...
        raise broken(path, f"its archive is damaged: {type(exc).__name__}") from None


def verify_archive(path: Path, max_bytes: int = MAX_PICKLE_BYTES) -> None:
    """Every entry's CRC checked, streamed (torch reads tensor records without checking
    them, so a flipped byte in the weights would be imported silently). For an import, which
    reads the whole file anyway; never for a listing."""
    try:
        with zipfile.ZipFile(path) as archive:
            _check_entries(path, archive, max_bytes)
            for info in archive.infolist():
                with archive.open(info) as stream:
                    while stream.read(1 << 20):
                        pass
    except ModelLoadError:
        raise
    except Exception as exc:  # noqa: BLE001 - BadZipFile (bad CRC), EOFError, OSError, ...
        raise broken(path, f"its archive is damaged: {type(exc).__name__}") from None
