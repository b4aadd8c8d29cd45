"""The frozen app's entry script: what PyInstaller runs as ``Easel`` / ``Easel.exe``.

Kept apart from ``app/__main__.py`` because a frozen program has a few needs of its own.
"""

from __future__ import annotations

import multiprocessing
import os
import sys


def _windows_console_streams() -> None:
    # A windowed Windows program has no stdout/stderr (they are None). When it is started from
    # a console with a command (``Easel.exe --selftest``), write to that console; otherwise
    # send output nowhere, as some libraries write to sys.stderr unconditionally.
    if sys.stdout is not None and sys.stderr is not None:
        return
    attached = False
    if os.name == "nt" and len(sys.argv) > 1:
        import ctypes

        attached = bool(ctypes.windll.kernel32.AttachConsole(-1))  # ATTACH_PARENT_PROCESS
    target = "CONOUT$" if attached else os.devnull
    if sys.stdout is None:
        sys.stdout = open(target, "w", encoding="utf-8", errors="replace")  # noqa: SIM115
    if sys.stderr is None:
        sys.stderr = open(target, "w", encoding="utf-8", errors="replace")  # noqa: SIM115


def main() -> int:
    # torch and the hub libraries may start helper processes; in a frozen program the child
    # must run the helper, not a second copy of the app.
    multiprocessing.freeze_support()
    _windows_console_streams()
    from app.__main__ import main as app_main

    return app_main()


if __name__ == "__main__":
    sys.exit(main())
