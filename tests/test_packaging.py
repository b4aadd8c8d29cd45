"""Static checks of the packaging files: nothing here builds (``make package`` does)."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGING = ROOT / "packaging"
SPEC = PACKAGING / "easel.spec"


def _spec_assignments() -> dict[str, object]:
    """The spec's top-level literal assignments (EXCLUDES, PRUNE, ...), without running it."""
    tree = ast.parse(SPEC.read_text(encoding="utf-8"), filename=str(SPEC))
    found: dict[str, object] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                try:
                    found[target.id] = ast.literal_eval(node.value)
                except ValueError:
                    continue
    return found


def _spec_call_keywords(name: str) -> dict[str, str]:
    tree = ast.parse(SPEC.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == name:
            return {kw.arg: ast.unparse(kw.value) for kw in node.keywords if kw.arg}
    raise AssertionError(f"the spec has no {name}(...) call")


def test_spec_excludes_what_easel_never_uses() -> None:
    excludes = set(_spec_assignments()["EXCLUDES"])  # type: ignore[arg-type]
    for module in ("torchvision", "torchaudio", "tensorboard", "IPython", "matplotlib", "tkinter"):
        assert module in excludes
    assert "PySide6.QtQml" in excludes and "PySide6.QtWidgets" not in excludes


def test_spec_prunes_torch_build_files_but_keeps_what_import_torch_needs() -> None:
    values = _spec_assignments()
    prune, keep = values["PRUNE"], values["KEEP"]
    for pattern in ("torch/include/*", "torch/test/*", "*.a", "*/tests/*", "*/caffe2/*"):
        assert pattern in prune  # type: ignore[operator]
    assert "torch/bin/torch_shm_manager*" in keep  # type: ignore[operator]
    # CUDA libraries go by file name, so torch.backends.cudnn's own source is kept.
    assert "libcu*.so*" in values["CUDA_LIBS"] and "cudart64*.dll" in values["CUDA_LIBS"]  # type: ignore[operator]
    assert not any("cudnn" in pattern for pattern in prune)  # type: ignore[union-attr]


def test_spec_collects_sources_lazy_modules_metadata_and_resources() -> None:
    values = _spec_assignments()
    hidden = values["HIDDEN_PACKAGES"]
    for package in (
        "diffusers.pipelines.stable_diffusion",
        "diffusers.pipelines.stable_diffusion_xl",
        "diffusers.schedulers",
        "diffusers.models",
        "transformers.models.clip",
        "app",
    ):
        assert package in hidden  # type: ignore[operator]
    for dist in (
        "torch",
        "diffusers",
        "transformers",
        "huggingface_hub",
        "safetensors",
        "tokenizers",
    ):
        assert dist in values["METADATA"]  # type: ignore[operator]
    analysis = _spec_call_keywords("Analysis")
    for package in ("torch", "diffusers", "transformers"):
        assert f"'{package}': 'pyz+py'" in analysis["module_collection_mode"]
    text = SPEC.read_text(encoding="utf-8")
    assert '(str(ROOT / "resources"), "resources")' in text


def test_spec_builds_a_windowed_signed_bundle_with_icons_and_version() -> None:
    exe = _spec_call_keywords("EXE")
    assert exe["upx"] == "False"
    assert exe["console"] == "IS_LINUX"  # windowed on macOS and Windows
    assert "easel.ico" in exe["icon"] and "easel.icns" in exe["icon"]
    assert "_windows_version()" in exe["version"]
    bundle = _spec_call_keywords("BUNDLE")
    assert "NSHighResolutionCapable': True" in bundle["info_plist"]
    assert bundle["bundle_identifier"]


@pytest.mark.parametrize(
    "script", ["build_linux.sh", "build_macos.sh", "make_icons.py", "check_bundle.py"]
)
def test_scripts_exist(script: str) -> None:
    assert (PACKAGING / script).is_file()


@pytest.mark.skipif(os.name == "nt", reason="no executable bit on Windows")
@pytest.mark.parametrize("script", ["build_linux.sh", "build_macos.sh"])
def test_shell_scripts_are_executable_and_strict(script: str) -> None:
    path = PACKAGING / script
    assert os.access(path, os.X_OK)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("#!/usr/bin/env bash") and "set -euo pipefail" in text
    assert "--selftest" in text  # never package a build that fails its self-test


def test_macos_script_signs_makes_a_dmg_and_documents_notarisation() -> None:
    text = (PACKAGING / "build_macos.sh").read_text(encoding="utf-8")
    assert "codesign --force --deep --sign -" in text
    assert "hdiutil create" in text and "arm64" in text
    assert "notarytool submit" in text and "stapler staple" in text
    assert (PACKAGING / "entitlements.plist").is_file()


def test_windows_script_self_tests_then_runs_inno_setup() -> None:
    text = (PACKAGING / "build_windows.ps1").read_text(encoding="utf-8")
    assert text.index("--selftest") < text.index("easel.iss")
    assert '$ErrorActionPreference = "Stop"' in text


def test_inno_setup_script_is_per_user_with_shortcut_and_uninstaller() -> None:
    text = (PACKAGING / "easel.iss").read_text(encoding="utf-8")
    sections = {line.strip() for line in text.splitlines() if line.startswith("[")}
    assert {"[Setup]", "[Files]", "[Icons]"} <= sections
    assert "PrivilegesRequired=lowest" in text  # per user: no administrator prompt
    assert 'Name: "{autoprograms}\\{#AppName}"' in text  # the Start-menu shortcut
    assert "Uninstallable=yes" in text and "UninstallDisplayIcon=" in text
    assert 'Source: "dist\\Easel\\*"' in text and "recursesubdirs" in text
    assert "SetupIconFile=resources\\icons\\easel.ico" in text


def test_release_workflow_builds_installers_on_tags() -> None:
    yaml = pytest.importorskip("yaml")
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "release.yml").read_text())
    triggers = workflow[True]  # YAML 1.1 reads the key "on" as True
    assert triggers["push"]["tags"] == ["v*"]
    jobs = workflow["jobs"]
    assert jobs["macos"]["runs-on"] == "macos-14"
    assert jobs["windows"]["runs-on"].startswith("windows")
    steps = {
        name: " ".join(str(step.get("run", "")) for step in job["steps"])
        for name, job in jobs.items()
    }
    assert "packaging/build_macos.sh" in steps["macos"]
    assert "packaging/build_windows.ps1" in steps["windows"]
    assert "choco install innosetup" in steps["windows"]
    assert "--extras package" in steps["macos"] and "--extras package" in steps["windows"]


def test_icons_are_generated_at_every_size() -> None:
    from PIL import Image

    icons = ROOT / "resources" / "icons"
    with Image.open(icons / "easel.png") as png:
        assert png.size == (1024, 1024) and png.mode == "RGBA"
    with Image.open(icons / "easel.ico") as ico:
        assert (256, 256) in ico.info["sizes"] and (16, 16) in ico.info["sizes"]
    with Image.open(icons / "easel.icns") as icns:
        assert icns.format == "ICNS"


def test_make_package_installs_the_package_extra() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "bootstrap.py --extras dev,package" in makefile
    assert "package-test:" in makefile and "check_bundle.py" in makefile


def test_release_workflow_pins_actions_keeps_no_credentials_and_publishes_checksums() -> None:
    yaml = pytest.importorskip("yaml")
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "release.yml").read_text())
    uses = [step for job in workflow["jobs"].values() for step in job["steps"] if "uses" in step]
    assert uses
    for step in uses:
        ref = step["uses"].rpartition("@")[2]
        assert re.fullmatch(r"[0-9a-f]{40}", ref), f"{step['uses']} is not pinned to a commit"
        if step["uses"].startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False
    release = " ".join(str(s.get("run", "")) for s in workflow["jobs"]["release"]["steps"])
    assert "sha256sum" in release and "SHA256SUMS" in release


def test_zizmor_finds_nothing_in_the_workflows() -> None:
    zizmor = Path(sys.executable).with_name("zizmor")
    if not zizmor.exists():
        pytest.skip("zizmor is in the dev extra; not installed here")
    out = subprocess.run(
        [str(zizmor), "--offline", "--quiet", str(ROOT / ".github" / "workflows")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
