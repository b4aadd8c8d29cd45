"""Check a built one-folder bundle: it runs, and it writes nothing inside itself.

Runs the frozen ``--version``, ``--selftest`` and ``--smoke-window`` (offscreen), each with a
temporary EASEL_HOME and HOME, and compares a listing of the bundle (path, size, mtime) from
before and after. Where this process may mount (root in a container), the same runs happen
once more with the bundle bind-mounted read-only, as from a disk image or a read-only
/Applications. Exits non-zero with one sentence per problem.

Usage: python packaging/check_bundle.py [dist/Easel]   (``make package-test`` runs it)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = (["--version"], ["--selftest"], ["--smoke-window"])


def executable(bundle: Path) -> Path:
    if sys.platform == "darwin" and bundle.suffix == ".app":
        return bundle / "Contents" / "MacOS" / "Easel"
    return bundle / ("Easel.exe" if os.name == "nt" else "Easel")


def listing(bundle: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for path in bundle.rglob("*"):
        st = path.lstat()
        out[str(path.relative_to(bundle))] = (st.st_size, st.st_mtime_ns)
    st = bundle.stat()
    out["."] = (0, st.st_mtime_ns)  # a file created and removed again changes this
    return out


def run_all(exe: Path, label: str) -> list[str]:
    problems = []
    for args in COMMANDS:
        home = Path(tempfile.mkdtemp(prefix="easel-check-"))
        env = dict(os.environ, EASEL_HOME=str(home / "easel"), HOME=str(home))
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # as on a user's machine
        if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
            env["QT_QPA_PLATFORM"] = "offscreen"
        started = time.perf_counter()
        try:
            out = subprocess.run(
                [str(exe), *args], env=env, cwd=home, capture_output=True, text=True, timeout=600
            )
        finally:
            shutil.rmtree(home, ignore_errors=True)
        took = time.perf_counter() - started
        last = (out.stdout.strip().splitlines() or [""])[-1]
        print(f"[{label}] {' '.join(args)}: exit {out.returncode} in {took:.1f}s  {last}")
        if out.returncode != 0:
            tail = "\n".join(out.stderr.strip().splitlines()[-15:])
            problems.append(f"[{label}] {' '.join(args)} exited {out.returncode}:\n{tail}")
    return problems


def read_only_mount(bundle: Path) -> Path | None:
    """The bundle bind-mounted read-only at a temporary path, or None where we cannot."""
    if os.name != "posix" or sys.platform == "darwin" or os.geteuid() != 0:
        return None
    target = Path(tempfile.mkdtemp(prefix="easel-ro-"))
    try:
        subprocess.run(
            ["mount", "--bind", str(bundle), str(target)], check=True, capture_output=True
        )
        subprocess.run(
            ["mount", "-o", "remount,ro,bind", str(target)], check=True, capture_output=True
        )
    except (OSError, subprocess.CalledProcessError):
        subprocess.run(["umount", str(target)], capture_output=True)
        target.rmdir()
        return None
    return target


def main() -> int:
    bundle = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "dist" / "Easel").resolve()
    exe = executable(bundle)
    if not exe.is_file():
        print(f"No frozen app at {exe}; run 'make package' first.", file=sys.stderr)
        return 1
    before = listing(bundle)
    problems = run_all(exe, "bundle")
    after = listing(bundle)
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    if changed:
        problems.append(
            f"the app wrote inside its bundle ({len(changed)} entries, e.g. {changed[:5]})"
        )
    else:
        print(f"[bundle] listing unchanged: {len(before)} entries, sizes and mtimes identical")

    mount = read_only_mount(bundle)
    if mount is None:
        print("[read-only] skipped: cannot bind-mount here (needs root on Linux)")
    else:
        try:
            problems += run_all(executable(mount), "read-only")
        finally:
            subprocess.run(["umount", str(mount)], capture_output=True)
            mount.rmdir()
    for problem in problems:
        print(f"FAILED: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
