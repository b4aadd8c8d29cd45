"""`kill -9` during a save leaves the previous gallery state: no partial PNG under a real
name, no row without a file, no leftover temp file after the next start.

A real child process saves into a real gallery. A hook in the atomic write
(`app.library.atomic.save_hook`) tells the parent through a pipe which step the save has
reached and then blocks, so the parent kills it at exactly that step; no sleeps. A second
test kills a child that saves in a loop at whatever point it happens to be.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from app.library.gallery import Gallery

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import sys
from pathlib import Path
from PIL import Image
from app.library import atomic
from app.library.gallery import Gallery

base, stop_at, loop = Path(sys.argv[1]), sys.argv[2], sys.argv[3] == "loop"

def hook(step, path):
    if step == stop_at:
        print("at", step, path.name, flush=True)
        sys.stdin.readline()  # blocks until killed

atomic.save_hook = hook
g = Gallery(base / "pics", base / "gallery.sqlite3", base / "thumbs")
n = 0
while True:
    image = Image.effect_noise((256, 256), 64).convert("RGB")
    g.add(image, f"child {n}\nSteps: 4, Seed: {n}, Size: 256x256, Model: tiny-sd", seed=n)
    print("saved", n, flush=True)
    n += 1
    if not loop:
        break
"""


def _open(base: Path) -> Gallery:
    return Gallery(base / "pics", base / "gallery.sqlite3", base / "thumbs")


def _seed_gallery(base: Path) -> list[tuple[str, bytes]]:
    with _open(base) as g:
        for i in range(3):
            g.add(Image.new("RGB", (16, 16), (i * 60, 0, 0)), f"before {i}\nSeed: {i}", seed=i)
    return sorted((p.name, p.read_bytes()) for p in (base / "pics").glob("*.png"))


def _child(base: Path, stop_at: str, mode: str = "once") -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", CHILD, str(base), stop_at, mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )


def _kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def _check_consistent(base: Path, before: list[tuple[str, bytes]]) -> tuple[int, list[str]]:
    """Restart as the app does and check the invariants; returns (rows, new names)."""
    with _open(base) as g:
        g.reconcile()
        rows = g.items(limit=1000)
        for item in rows:
            assert item.path.exists(), f"row without a file: {item.path.name}"
        on_disk = sorted(p.name for p in (base / "pics").iterdir())
        assert [n for n in on_disk if n.startswith(".")] == [], "temp file left behind"
        assert sorted(i.path.name for i in rows) == on_disk
        for name in on_disk:
            with Image.open(base / "pics" / name) as png:
                png.load()  # a partial PNG would fail to decode here
        for name, data in before:
            assert (base / "pics" / name).read_bytes() == data  # earlier pictures untouched
        new = sorted(set(on_disk) - {name for name, _ in before})
        return len(rows), new


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs kill -9")
@pytest.mark.parametrize(
    ("step", "kept"),
    [
        ("partial", False),  # half the bytes in the temp file
        ("written", False),  # all bytes written, not yet fsync'd
        ("synced", False),  # fsync'd, not yet renamed
        ("renamed", True),  # under its name, row not yet committed: indexed at restart
    ],
)
def test_kill_9_at_each_step_of_a_save(tmp_path: Path, step: str, kept: bool) -> None:
    before = _seed_gallery(tmp_path)
    proc = _child(tmp_path, step)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith(f"at {step} "), line
    if step != "renamed":
        temp = [p for p in (tmp_path / "pics").iterdir() if p.name.startswith(".")]
        assert len(temp) == 1 and temp[0].name.endswith(".tmp")  # the save was mid-way
    _kill(proc)
    rows, new = _check_consistent(tmp_path, before)
    if kept:
        assert rows == 4 and len(new) == 1  # complete file: the restart indexes it
        with _open(tmp_path) as g:
            assert g.items(limit=1)[0].prompt == "child 0"
    else:
        assert (rows, new) == (3, [])  # exactly the previous state


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs kill -9")
@pytest.mark.parametrize("saves", [1, 3, 6])
def test_kill_9_while_saving_in_a_loop(tmp_path: Path, saves: int) -> None:
    before = _seed_gallery(tmp_path)
    proc = _child(tmp_path, "never", "loop")
    assert proc.stdout is not None
    for n in range(saves):
        assert proc.stdout.readline() == f"saved {n}\n"
    _kill(proc)  # lands mid-encode, mid-write, mid-rename or mid-commit: whichever it is
    rows, new = _check_consistent(tmp_path, before)
    assert rows >= 3 + saves  # every save reported done is there
    assert len(new) in (saves, saves + 1)
