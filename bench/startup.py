"""Start-up: launch ``python -m app`` to the main window first exposed on screen.

The app, started with EASEL_STARTUP_PROBE=1, prints ``window-exposed <unix time>`` when its
window is first exposed and exits; the time from just before the launch to that moment is
one run. Median of N runs (a fresh EASEL_HOME each, so no warm settings), against a target
of 1.0 s. Uses the offscreen platform unless there is a display.

    .venv/bin/python bench/startup.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_S = 1.0


def one_run() -> float:
    env = dict(
        os.environ, EASEL_STARTUP_PROBE="1", EASEL_HOME=tempfile.mkdtemp(prefix="easel-start-")
    )
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
    env.pop("EASEL_MODEL", None)
    started = time.time()
    out = subprocess.run(
        [sys.executable, "-m", "app"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    for line in out.stdout.splitlines():
        if line.startswith("window-exposed "):
            return float(line.split()[1]) - started
    raise SystemExit(f"the app did not report its window:\n{out.stdout}\n{out.stderr}")


def report(times: list[float], what: str, target_s: float, note: str = "") -> None:
    """Print the runs, their median and the ratio to the target (also used by frozen_startup)."""
    median = statistics.median(times)
    platform = os.environ.get("QT_QPA_PLATFORM") or (
        "xcb" if os.environ.get("DISPLAY") else "offscreen"
    )
    print(f"platform: {platform}{note}")
    print("runs (s): " + ", ".join(f"{t:.3f}" for t in times))
    print(f"{what}: median {median:.3f} s; target {target_s:.1f} s; ratio {median / target_s:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    one_run()  # warm the OS file cache, as a second launch would be
    times = [one_run() for _ in range(args.runs)]
    report(times, "launch to window shown", TARGET_S)


if __name__ == "__main__":
    main()
