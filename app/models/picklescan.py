"""What a pickle would do, found by decoding its opcodes (``pickletools.genops``) without
executing any of them.

Two jobs, both before torch's allow-list loader sees a byte:

- name the globals it references, so a refusal can say which function a file would call
  (``os.system``); torch's ``weights_only`` loader stays the guard, this only names;
- bound its shape. The allow-list loader builds whatever structure the opcodes describe, and
  CPython then hashes dict keys recursively in C: a key nested a million tuples deep (3 MB)
  overflows the C stack and kills the process, one made of 64 tuples sharing themselves
  ``(t, t)`` takes 2**64 steps to hash, and 30 million trivial opcodes keep the pure-Python
  loader busy for a minute. So nesting depth, expanded size and opcode count are simulated
  here on a stack of numbers and a file over any real model's is refused.
"""

from __future__ import annotations

import pickletools
from dataclasses import dataclass, field
from typing import Any

# A checkpoint's state_dict nests ~6 deep (dict -> tensor rebuild args -> storage tuple);
# Lightning's optimizer states and hyper-parameters add a few levels. 200 is far beyond both and
# far below where CPython's recursive hash and compare run out of stack.
MAX_DEPTH = 200
# ~30 opcodes per tensor: a million is ~33,000 tensors (SDXL with EMA has ~5,000); decoding
# them takes ~3 s here, the allow-list loader ~1 s more.
MAX_OPS = 1_000_000
# Objects counted as often as they are referenced (the memo lets a pickle reuse them).
MAX_EXPANDED = 50_000_000

_STRING_OPS = {
    "SHORT_BINUNICODE",
    "BINUNICODE",
    "BINUNICODE8",
    "UNICODE",
    "SHORT_BINSTRING",
    "BINSTRING",
    "STRING",
}
_PUT_OPS = {"BINPUT", "LONG_BINPUT", "PUT"}
_GET_OPS = {"BINGET", "LONG_BINGET", "GET"}
# Ops that add items to the container below them rather than build a new object.
_MUTATORS = {"APPEND", "APPENDS", "SETITEM", "SETITEMS", "ADDITEMS", "BUILD"}


@dataclass
class PickleScan:
    """What decoding found: the globals named, and why the pickle is refused (or "")."""

    globals: list[str] = field(default_factory=list)
    problem: str = ""


def _effect(op: pickletools.OpcodeInfo) -> tuple[bool, int, int]:
    """(pops to a mark, fixed items popped, items pushed) for one opcode."""
    before = [s for s in op.stack_before if s is not pickletools.stackslice]
    to_mark = pickletools.markobject in before
    fixed = len([s for s in before if s is not pickletools.markobject])
    pushed = len([s for s in op.stack_after if s is not pickletools.markobject])
    return to_mark, fixed, pushed


_EFFECTS = {op.name: _effect(op) for op in pickletools.opcodes}


class _Shape:
    """The pickle's stack, each object replaced by (depth, expanded size)."""

    def __init__(self) -> None:
        self.stack: list[tuple[int, int]] = []
        self.metastack: list[list[tuple[int, int]]] = []
        self.memo: dict[Any, tuple[int, int]] = {}
        self.deepest = 0
        self.largest = 0

    def _pop(self) -> tuple[int, int]:
        return self.stack.pop() if self.stack else (0, 1)

    def step(self, name: str, arg: Any) -> None:
        top = self.stack[-1] if self.stack else (0, 1)
        if name in _PUT_OPS:
            self.memo[arg] = top
            return
        if name == "MEMOIZE":
            self.memo[len(self.memo)] = top
            return
        if name in _GET_OPS:
            self.stack.append(self.memo.get(arg, (0, 1)))
            return
        if name == "DUP":
            self.stack.append(top)
            return
        if name == "MARK":
            self.metastack.append(self.stack)
            self.stack = []
            return
        to_mark, fixed, pushed = _EFFECTS[name]
        items: list[tuple[int, int]] = []
        if to_mark:
            items = self.stack
            self.stack = self.metastack.pop() if self.metastack else []
        for _ in range(fixed):
            items.insert(0, self._pop())
        if name in _MUTATORS and items:
            container, added = items[0], items[1:]
            depth = max([container[0], *(d + 1 for d, _ in added)])
            size = container[1] + sum(s for _, s in added)
        elif items:
            depth = 1 + max(d for d, _ in items)
            size = 1 + sum(s for _, s in items)
        else:
            depth, size = 0, 1
        size = min(size, MAX_EXPANDED + 1)
        self.deepest = max(self.deepest, depth)
        self.largest = max(self.largest, size)
        self.stack.extend([(depth, size)] * pushed)


def scan_pickles(data: bytes, count: int) -> PickleScan:
    """Decode ``count`` consecutive pickles from ``data`` (one for a zip checkpoint's
    ``data.pkl``, five for torch's legacy format). A pickle that does not decode, does not end,
    or is deeper, larger or longer than any model's gets a ``problem``."""
    import io

    result = PickleScan()
    stream = io.BytesIO(data)
    ops = 0
    for _ in range(count):
        strings: list[str] = []
        memo: dict[Any, Any] = {}
        last: Any = None
        shape = _Shape()
        stopped = False
        try:
            for opcode, arg, _pos in pickletools.genops(stream):
                name = opcode.name
                ops += 1
                if ops > MAX_OPS:
                    result.problem = "its pickle is far longer than any model's"
                    return result
                if name in _STRING_OPS:
                    last = arg.decode("latin-1") if isinstance(arg, bytes) else arg
                    strings.append(last)
                elif name in _PUT_OPS:
                    memo[arg] = last
                elif name == "MEMOIZE":
                    memo[len(memo)] = last
                elif name in _GET_OPS:
                    last = memo.get(arg)
                    if isinstance(last, str):
                        strings.append(last)
                elif name in {"GLOBAL", "INST"}:
                    result.globals.append(str(arg).replace(" ", "."))
                elif name == "STACK_GLOBAL" and len(strings) >= 2:
                    result.globals.append(f"{strings[-2]}.{strings[-1]}")
                else:
                    last = None
                if name == "STOP":
                    stopped = True
                    break
                shape.step(name, arg)
                if shape.deepest > MAX_DEPTH:
                    result.problem = "its pickle nests too deeply"
                    return result
                if shape.largest > MAX_EXPANDED:
                    result.problem = "its pickle repeats itself far beyond any model's"
                    return result
        except Exception:  # noqa: BLE001 - a stream that does not decode
            result.problem = "its pickle is damaged"
            return result
        if not stopped:
            result.problem = "it ends too early, as a truncated download does"
            return result
    return result
