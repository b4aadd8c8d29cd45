"""The frozen app: launch to main window shown, and the bundle's size.

Launches the PyInstaller build (``dist/Easel``, made by ``make package``) with
EASEL_STARTUP_PROBE=1, the hook ``bench/startup.py`` uses: the app prints ``window-exposed
<unix time>`` when its window is first exposed and exits. One launch warms the disk cache
first (dropping the page cache needs privileges we do not assume), so the figures are
"warm disk cache". Median of N runs, a fresh EASEL_HOME each, against a goal of 2.0 s; the
bundle's folder and .tar.gz sizes against a goal of 1.2 GB for the folder.

    .venv/bin/python bench/frozen_startup.py [--runs 5] [--bundle dist/Easel]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from startup import report  # bench/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parent.parent
TARGET_S = 2.0
TARGET_BYTES = 1.2e9


def executable(bundle: Path) -> Path:
    if bundle.suffix == ".app":
        return bundle / "Contents" / "MacOS" / "Easel"
    return bundle / ("Easel.exe" if os.name == "nt" else "Easel")


def one_run(exe: Path) -> float:
    home = tempfile.mkdtemp(prefix="easel-frozen-start-")
    env = dict(os.environ, EASEL_STARTUP_PROBE="1", EASEL_HOME=home)
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
    env.pop("EASEL_MODEL", None)
    started = time.time()
    out = subprocess.run([str(exe)], cwd=home, env=env, capture_output=True, text=True, timeout=120)
    for line in out.stdout.splitlines():
        if line.startswith("window-exposed "):
            return float(line.split()[1]) - started
    raise SystemExit(f"the frozen app did not report its window:\n{out.stdout}\n{out.stderr}")


def folder_bytes(path: Path) -> int:
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--bundle", type=Path, default=ROOT / "dist" / "Easel")
    args = ap.parse_args()
    exe = executable(args.bundle)
    if not exe.is_file():
        sys.exit(f"No frozen app at {exe}; run 'make package' first.")

    size = folder_bytes(args.bundle)
    print(
        f"bundle folder: {size / 1e6:.0f} MB; goal {TARGET_BYTES / 1e9:.1f} GB; ratio {size / TARGET_BYTES:.2f}"
    )
    for tarball in sorted(args.bundle.parent.glob("Easel-*.tar.gz")):
        print(f"{tarball.name}: {tarball.stat().st_size / 1e6:.0f} MB")

    one_run(exe)  # warm the disk cache, as a second launch would be
    times = [one_run(exe) for _ in range(args.runs)]
    report(times, "frozen launch to window shown", TARGET_S, " (warm disk cache)")


if __name__ == "__main__":
    main()
