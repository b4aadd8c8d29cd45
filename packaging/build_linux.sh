#!/usr/bin/env bash
# Build Easel's Linux bundle: dist/Easel/ (one folder, run dist/Easel/Easel) and
# dist/Easel-<version>-linux-<arch>.tar.gz. Checks the frozen app with --selftest before
# packing it, so a broken bundle is never shipped.
#
# Usage: packaging/build_linux.sh   (from anywhere; uses .venv/bin/python unless PY is set)
#   EASEL_CLEAN=1  rebuild from scratch (PyInstaller's --clean; CI does this)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
VERSION=$("$PY" -c 'import app; print(app.__version__)')
ARCH=$(uname -m)

args=(--noconfirm --log-level WARN --distpath dist --workpath build/pyinstaller)
[[ "${EASEL_CLEAN:-0}" == 1 ]] && args+=(--clean)
"$PY" -m PyInstaller "${args[@]}" packaging/easel.spec

# torch's libraries carry ~90 MB of symbol tables that nothing reads at run time. Only these:
# auditwheel-patched libraries (numpy's OpenBLAS) break when stripped; the self-test below
# loads every stripped one.
if command -v strip >/dev/null; then
    for lib in dist/Easel/_internal/torch/lib/lib{torch_cpu,torch_python,c10}.so; do
        if [[ -f "$lib" ]]; then strip --strip-unneeded "$lib"; fi
    done
fi

# The self-test writes only under a temporary EASEL_HOME; offscreen, as CI has no display.
QT_QPA_PLATFORM=offscreen dist/Easel/Easel --selftest

TARBALL="dist/Easel-${VERSION}-linux-${ARCH}.tar.gz"
tar -C dist -czf "$TARBALL" Easel
du -sh dist/Easel "$TARBALL"
