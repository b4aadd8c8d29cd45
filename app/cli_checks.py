"""The CLI's input checks and listings, kept out of app/cli.py (shared) so that every bad input
is caught the same way: one sentence on stderr and exit 2, before any weight is loaded.

- ``join_negative_values``: ``--outpaint -8,0,0,0`` reaches its option (argparse takes a
  value starting with ``-`` for an option unless it is a plain negative number, and answers
  "expected one argument"), so the request's own check can say what is wrong with it.
- ``check_model_file``: a ``.safetensors``/``.ckpt`` given to ``--model`` is inspected up front
  (header or allow-list loader only), so a broken or unsafe file is refused in a second.
- ``check_out_dir``: ``--out`` is created and proven writable before generating.
- ``models_table``: ``models list`` with a header and long ids wrapped in their column.
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from app.errors import InvalidRequest

if TYPE_CHECKING:
    from app.models.registry import ModelInfo

# A value that argparse would take for an option: "-8,0,0,0", "-1.5", "-64x64".
_NEGATIVE_VALUE = re.compile(r"^-\d[\d.,x×]*$")


def _value_options(parser: argparse.ArgumentParser) -> set[str]:
    """Every option string, in the parser and its subcommands, that takes a value."""
    found: set[str] = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found |= _value_options(sub)
        elif action.option_strings and action.nargs != 0:
            found.update(action.option_strings)
    return found


def join_negative_values(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """``--opt -8,0,0,0`` as ``--opt=-8,0,0,0`` for options that take a value."""
    options = _value_options(parser)
    out: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        if (
            token in options
            and token.startswith("--")
            and i + 1 < len(argv)
            and _NEGATIVE_VALUE.match(argv[i + 1])
        ):
            out.append(f"{token}={argv[i + 1]}")
            i += 2
            continue
        out.append(token)
        i += 1
    return out


def check_model_file(path: Path) -> None:
    """Refuse a broken, unsafe or non-SD single file before the engine is loaded."""
    if not path.is_file():
        return
    from app.models.checkpoints import inspect_checkpoint

    info = inspect_checkpoint(path)  # ModelLoadError with its sentence
    if info.kind != "checkpoint":
        what = {"lora": "a LoRA", "vae": "a VAE", "textual-inversion": "an embedding"}.get(
            info.kind, "not a Stable Diffusion checkpoint"
        )
        if what.startswith("a"):
            what = f"{what}, not a checkpoint"
        raise InvalidRequest(f"{path.name} is {what}; pass a checkpoint to --model.")


def check_out_dir(out: Path) -> None:
    """Create ``out`` and prove a file can be written there; InvalidRequest otherwise."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        if isinstance(exc, FileExistsError) or (out.exists() and not out.is_dir()):
            why = "it is a file, not a folder"
        raise InvalidRequest(
            f"The output folder {str(out)!r} cannot be written ({why}); choose another --out."
        ) from None
    if not os.access(out, os.W_OK):
        raise InvalidRequest(
            f"The output folder {str(out)!r} is not writable; choose another --out."
        )


def seeds_text(seeds: list[int]) -> str:
    """'seed 5' or 'seeds 5, 6, 7': every image of a batch has its own seed."""
    if len(seeds) == 1:
        return f"seed {seeds[0]}"
    return "seeds " + ", ".join(str(s) for s in seeds)


ID_WIDTH = 44


def _wrap_id(text: str, width: int = ID_WIDTH) -> list[str]:
    """An id in lines of at most ``width``, broken after a path separator where one is near."""
    lines = []
    while len(text) > width:
        cut = max(text.rfind("/", 0, width), text.rfind("\\", 0, width)) + 1
        if cut < width // 2:
            cut = width
        lines.append(text[:cut])
        text = text[cut:]
    return [*lines, text]


def _gb(n: int) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB"


def models_table(items: Iterable[ModelInfo]) -> list[str]:
    """The lines of ``models list``: a header, then one row per model (its id wrapped)."""
    lines = [f"  {'ID':<{ID_WIDTH}} {'KIND':<17} {'FAMILY':<8} {'SIZE':>9}  STATE"]
    for m in items:
        state = "installed" if m.installed else "available"
        if m.problem:
            state = f"unusable: {m.problem}"
        if m.installed and m.path and m.path not in m.id:
            state += f"  {m.path}"
        first, *rest = _wrap_id(m.id)
        mark = "*" if m.default else " "
        lines.append(
            f"{mark} {first:<{ID_WIDTH}} {m.kind:<17} {m.family or '-':<8} "
            f"{_gb(m.size_bytes):>9}  {state}"
        )
        lines.extend(f"  {part}" for part in rest)
    return lines
