"""Small hostile and malformed model files, built by hand for tests/test_hostile_files.py.

Each builder reproduces one technique from a corpus of real attacks and accidents (zip bombs,
doctored zip headers, pickles that make the allow-list loader raise, doctored safetensors
headers), in a few KB or MB, in well under a second.
"""

from __future__ import annotations

import io
import json
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

# --- zip archives -------------------------------------------------------------------------


@dataclass
class Entry:
    name: str
    data: bytes  # the bytes as stored (already compressed when method is 8)
    method: int = zipfile.ZIP_STORED
    size: int | None = None  # the uncompressed size the headers declare
    crc: int | None = None
    flags: int = 0x800  # UTF-8 names, as torch writes them
    local_name: str | None = None  # a different name in the local header than in the directory


def write_zip(path: Path, entries: list[Entry]) -> Path:
    """A zip archive written field by field (zip64 where sizes need it), so that each header
    can say what a hostile file says: sizes, CRCs, flags and names that zipfile would not."""
    out = io.BytesIO()
    central = []
    for e in entries:
        size = len(e.data) if e.size is None else e.size
        crc = zlib.crc32(e.data) if e.crc is None else e.crc
        local_name = (e.local_name or e.name).encode()
        big = size >= 0xFFFFFFFF or len(e.data) >= 0xFFFFFFFF
        extra = struct.pack("<HHQQ", 1, 16, size, len(e.data)) if big else b""
        sizes = (0xFFFFFFFF, 0xFFFFFFFF) if big else (len(e.data), size)
        offset = out.tell()
        out.write(
            struct.pack(
                "<4sHHHHHIIIHH",
                b"PK\x03\x04",
                45 if big else 20,
                e.flags,
                e.method,
                0,
                0x21,
                crc,
                *sizes,
                len(local_name),
                len(extra),
            )
        )
        out.write(local_name + extra + e.data)
        name = e.name.encode()
        central.append(
            struct.pack(
                "<4sHHHHHHIIIHHHHHII",
                b"PK\x01\x02",
                45,
                45 if big else 20,
                e.flags,
                e.method,
                0,
                0x21,
                crc,
                *sizes,
                len(name),
                len(extra),
                0,
                0,
                0,
                0,
                offset,
            )
            + name
            + extra
        )
    start = out.tell()
    for record in central:
        out.write(record)
    end = out.tell()
    count = len(central)
    out.write(
        struct.pack(
            "<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, end - start, start
        )
    )
    out.write(struct.pack("<4sIQI", b"PK\x06\x07", 0, end, 1))
    out.write(struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, count, count, end - start, start, 0))
    path.write_bytes(out.getvalue())
    return path


def torch_entries(obj: Any) -> list[Entry]:
    """The entries of ``torch.save(obj)``, re-readable and rewritable one by one."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as z:
        return [Entry(i.filename, z.read(i)) for i in z.infolist()]


def with_pickle(pkl: bytes, obj: Any = None) -> list[Entry]:
    """A torch zip whose ``data.pkl`` is ``pkl`` (the other records from ``torch.save(obj)``)."""
    entries = torch_entries({} if obj is None else obj)
    for e in entries:
        if e.name.endswith("/data.pkl"):
            e.data = pkl
    return entries


def _gf2_times(matrix: list[int], vector: int) -> int:
    total, i = 0, 0
    while vector:
        if vector & 1:
            total ^= matrix[i]
        vector >>= 1
        i += 1
    return total


def _gf2_square(matrix: list[int]) -> list[int]:
    return [_gf2_times(matrix, row) for row in matrix]


def crc32_of_zeros(n: int) -> int:
    """zlib.crc32(bytes(n)) without touching n bytes (zlib's crc32_combine "zeros operator"),
    so a bomb's CRC is right and only a size cap stops it."""
    crc = 0xFFFFFFFF
    odd = [0xEDB88320] + [1 << i for i in range(31)]  # one zero bit
    even = _gf2_square(odd)  # two zero bits
    odd = _gf2_square(even)  # four
    while n:
        even = _gf2_square(odd)
        if n & 1:
            crc = _gf2_times(even, crc)
        n >>= 1
        if not n:
            break
        odd = _gf2_square(even)
        if n & 1:
            crc = _gf2_times(odd, crc)
        n >>= 1
    return crc ^ 0xFFFFFFFF


def deflated_zeros(mib: int) -> bytes:
    """A raw deflate stream of ``mib`` MiB of zeros, ~1 KB per MiB, built without compressing
    them all: after a full flush every 1 MiB block of zeros deflates to the same bytes."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = c.compress(bytes(1 << 20)) + c.flush(zlib.Z_FULL_FLUSH)
    again = c.compress(bytes(1 << 20)) + c.flush(zlib.Z_FULL_FLUSH)
    assert again == block
    return block * mib + c.flush()


def zip_bomb(path: Path, where: str = "data.pkl", gib: int = 12) -> Path:
    """A torch zip in which one entry inflates to ``gib`` GiB of zeros (from ~1 MB per GiB);
    its headers tell the truth (size and CRC), as a careful attacker's would."""
    entries = torch_entries({"w": torch.zeros(2)})
    for e in entries:
        if e.name.endswith("/" + where):
            e.data = deflated_zeros(gib * 1024)
            e.method = zipfile.ZIP_DEFLATED
            e.size = gib << 30
            e.crc = crc32_of_zeros(gib << 30)
    return write_zip(path, entries)


# --- pickles ------------------------------------------------------------------------------


def global_op(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def text_op(text: str) -> bytes:
    raw = text.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


# Protocol-2 pickles that make torch's weights_only unpickler raise each exception it can.
RAISING_PICKLES: dict[str, bytes] = {
    "IndexError": b"\x80\x02.",  # STOP with an empty stack
    "KeyError": b"\x80\x02h\x05.",  # BINGET of a memo slot never PUT
    "TypeError": b"\x80\x02}]Ns.",  # a list as a dict key
    "AttributeError": (  # BUILD state on a torch.Size, which has no __dict__
        b"\x80\x02" + global_op("torch", "Size") + b")R}" + text_op("a") + b"K\x01sb."
    ),
    "struct.error": b"\x80\x02J\x01\x02",  # a 4-byte int cut after 2 bytes
    "OverflowError": (  # bytearray(2**64): larger than any size
        b"\x80\x02" + global_op("builtins", "bytearray") + b"\x8a\x09" + bytes(8) + b"\x01\x85R."
    ),
    "MemoryError": (  # bytearray(2**40): a size, but not one this computer has
        b"\x80\x02" + global_op("builtins", "bytearray") + b"\x8a\x06" + bytes(5) + b"\x01\x85R."
    ),
    "RecursionError": b"",  # filled in below
}


def deep_tuple_key(depth: int) -> bytes:
    """{((((...)))): 0}: hashing the key recurses in C once per level of nesting."""
    return b"\x80\x02}" + b")" + b"\x85" * depth + b"K\x00s."


def doubling_tuple_key(levels: int) -> bytes:
    """{t: 0} where t = (t', t') ``levels`` times over (DUP + TUPLE2): a few bytes whose hash
    visits 2**levels tuples."""
    return b"\x80\x02}" + b")" + b"2\x86" * levels + b"K\x00s."


def long_pickle(ops: int) -> bytes:
    """Millions of trivial opcodes (push None, pop it) before a tiny result."""
    return b"\x80\x02" + b"N0" * (ops // 2) + b"}."


RAISING_PICKLES["RecursionError"] = deep_tuple_key(100_000)


# --- safetensors headers ------------------------------------------------------------------


def safetensors_bytes(header: dict[str, Any] | bytes, data: bytes = b"") -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + data


def _tensor(dtype: str, shape: list[int], start: int, end: int) -> dict[str, Any]:
    return {"dtype": dtype, "shape": shape, "data_offsets": [start, end]}


def hostile_headers() -> dict[str, bytes]:
    """name -> the bytes of a safetensors file whose header the library must refuse."""
    deep = b"[" * 300 + b"]" * 300  # nested in a field the library ignores, but parses
    return {
        "overlapping": safetensors_bytes(
            {"a": _tensor("F32", [2], 0, 8), "b": _tensor("F32", [2], 4, 12)}, bytes(12)
        ),
        "gap": safetensors_bytes(
            {"a": _tensor("F32", [2], 0, 8), "b": _tensor("F32", [2], 16, 24)}, bytes(24)
        ),
        "unknown-dtype": safetensors_bytes({"a": _tensor("F99", [2], 0, 8)}, bytes(8)),
        "metadata-not-text": safetensors_bytes(
            {"__metadata__": {"steps": 1000}, "a": _tensor("F32", [2], 0, 8)}, bytes(8)
        ),
        "deep-nesting": safetensors_bytes(
            b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":' + deep + b"}}", bytes(8)
        ),
        "huge-shape": safetensors_bytes({"a": _tensor("F32", [2**40, 2**40], 0, 8)}, bytes(8)),
        "huge-number": safetensors_bytes(
            b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,1e400]}}', bytes(8)
        ),
        "huge-integer": safetensors_bytes(
            b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,99999999999999999999999]}}',
            bytes(8),
        ),
        "shape-mismatch": safetensors_bytes({"a": _tensor("F32", [3], 0, 8)}, bytes(8)),
    }


def huge_header(path: Path, mb: int = 101) -> Path:
    """A safetensors file whose JSON header is ``mb`` MB (the format allows 100 MB): a real,
    valid JSON object of many tiny tensors, padded to length."""
    count = 2000
    tensors = {f"t{i}": _tensor("U8", [1], i, i + 1) for i in range(count)}
    raw = json.dumps(tensors).encode()
    raw = raw[:-1] + b', "__metadata__": {"pad": "' + b"x" * (mb * 1_000_000 - len(raw)) + b'"}}'
    with path.open("wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        f.write(bytes(count))
    return path


def many_tensors(path: Path, count: int) -> Path:
    """A valid safetensors file listing ``count`` one-byte tensors (~70 bytes of header each)."""
    parts = [
        f'"t{i}":{{"dtype":"U8","shape":[1],"data_offsets":[{i},{i + 1}]}}' for i in range(count)
    ]
    raw = ("{" + ",".join(parts) + "}").encode()
    with path.open("wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        f.write(bytes(count))
    return path


def legacy_huge_storage(path: Path) -> Path:
    """A legacy-format (pre-zip) torch file whose one storage claims 2**38 floats (1 TB): the
    loader allocates a storage of the size the pickle states before reading its bytes."""
    torch.save({"w": torch.zeros(2)}, path, _use_new_zipfile_serialization=False)
    data = path.read_bytes()
    numel = text_op("cpu") + b"q\x06K\x02"  # the storage's persistent id: (..., "cpu", 2)
    assert data.count(numel) == 1
    path.write_bytes(data.replace(numel, numel[:-2] + b"\x8a\x05" + (2**38).to_bytes(5, "little")))
    return path
