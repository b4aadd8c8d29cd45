"""Create .venv and install Easel into it, torch first.

torch comes first, and explicitly: an unpinned torch from PyPI on Linux is the CUDA build with
gigabytes of NVIDIA packages. Where no NVIDIA GPU is present we ask for the ``+cpu`` build by
its local version label, which PyPI does not carry, so a CUDA wheel can never be chosen; it is
taken from the pip configuration's find-links (a local wheel) or from PyTorch's CPU index.
Then ``pip install -e .[extras]`` finds torch already satisfied and adds nothing to it.

Usage: python3 scripts/bootstrap.py [--extras dev,package]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
TORCH_VERSION = os.environ.get("EASEL_TORCH_VERSION", "2.13.0")
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
# Installed without their declared dependencies. spandrel (upscaler architectures) declares
# torchvision, whose PyPI build is linked against CUDA torch and would fail (or replace torch)
# beside the CPU build; Easel never runs the two architectures that import it
# (app/engine/upscale.py). Its real dependencies (einops, numpy, safetensors) are in pyproject.
NO_DEPS = ("spandrel==0.4.2",)


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def has_nvidia_gpu() -> bool:
    if os.environ.get("EASEL_FORCE_CPU") == "1":
        return False
    if shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
            return out.returncode == 0 and "GPU" in out.stdout
        except (OSError, subprocess.SubprocessError):
            return False
    return Path("/proc/driver/nvidia/gpus").is_dir() and any(
        Path("/proc/driver/nvidia/gpus").iterdir()
    )


def pip(*args: str) -> int:
    cmd = [str(venv_python()), "-m", "pip", "--disable-pip-version-check", *args]
    print("+", " ".join(cmd), flush=True)
    return subprocess.call(cmd)


def installed_torch() -> str | None:
    code = "import importlib.metadata as m; print(m.version('torch'))"
    out = subprocess.run([str(venv_python()), "-c", code], capture_output=True, text=True)
    return out.stdout.strip() if out.returncode == 0 else None


def install_torch() -> None:
    have = installed_torch()
    if have and have.split("+")[0] == TORCH_VERSION:
        return
    system = platform.system()
    if system == "Linux" and not has_nvidia_gpu():
        spec = f"torch=={TORCH_VERSION}+cpu"
        # Local wheels / configured indexes first; PyTorch's CPU index only if that fails.
        if (
            pip("install", "-q", spec) != 0
            and pip("install", "-q", spec, "--extra-index-url", CPU_INDEX) != 0
        ):
            sys.exit(f"Could not install {spec}; check the network and try again.")
    elif system == "Windows" and not has_nvidia_gpu():
        # PyPI's Windows wheel is the CPU build.
        if pip("install", "-q", f"torch=={TORCH_VERSION}") != 0:
            sys.exit("Could not install torch; check the network and try again.")
    else:
        # macOS wheels carry MPS and no CUDA; with an NVIDIA GPU the CUDA build is wanted.
        if pip("install", "-q", f"torch=={TORCH_VERSION}") != 0:
            sys.exit("Could not install torch; check the network and try again.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extras", default="dev")
    args = parser.parse_args()
    if sys.version_info < (3, 11):  # noqa: UP036 - run by the system python3
        sys.exit("Easel needs Python 3.11 or newer; install it and run make again.")
    stamp = VENV / ".easel-installed"
    digest = hashlib.sha256(
        (ROOT / "pyproject.toml").read_bytes()
        + args.extras.encode()
        + TORCH_VERSION.encode()
        + " ".join(NO_DEPS).encode()
    ).hexdigest()
    if stamp.exists() and stamp.read_text() == digest and venv_python().exists():
        return
    if not venv_python().exists():
        print(f"Creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True, clear=False).create(VENV)
    install_torch()
    target = f".[{args.extras}]" if args.extras else "."
    if pip("install", "-q", "-e", target) != 0:
        sys.exit("Installing Easel's dependencies failed; see the messages above.")
    if pip("install", "-q", "--no-deps", *NO_DEPS) != 0:
        sys.exit(f"Installing {', '.join(NO_DEPS)} failed; see the messages above.")
    after = installed_torch() or ""
    if after.split("+")[0] != TORCH_VERSION:
        sys.exit(f"torch {TORCH_VERSION} was expected but {after or 'none'} is installed.")
    stamp.write_text(digest)


if __name__ == "__main__":
    main()
