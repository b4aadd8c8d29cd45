"""The model registry and `python -m app models`: imports, folders in place, defaults, removal."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from app.engine.engine import Engine
from app.engine.tiny import build_components, save_model_folder
from app.errors import ModelLoadError, UnsafeModelFile
from app.models import registry as models
from app.request import GenerationRequest
from tests.original_layout import pipeline_to_original

SD1_REPO = "stable-diffusion-v1-5/stable-diffusion-v1-5"


@pytest.fixture(scope="module")
def sd1_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny SD 1.x checkpoint in the original single-file layout, as civitai serves them."""
    path = tmp_path_factory.mktemp("civitai") / "tinyDreamer_v1.safetensors"
    save_file(pipeline_to_original(build_components("tiny", seed=0), "sd1"), str(path))
    return path


@pytest.fixture
def hf_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "hf"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    return home


def cache_sd1_configs(hf_home: Path) -> Path:
    """SD 1.x configs in the Hugging Face cache layout, as a first run (or another tool) leaves them."""
    commit = "a" * 40
    repo = hf_home / "hub" / ("models--" + SD1_REPO.replace("/", "--"))
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snap = save_model_folder(repo / "snapshots" / commit, "tiny", seed=1)
    for weights in snap.rglob("*.safetensors"):
        weights.unlink()  # configs and tokenizer only, like fetch_family_configs
    return snap


def test_imported_checkpoint_is_copied_listed_and_generates_offline(
    sd1_file: Path, hf_home: Path, cpu_device: Any
) -> None:
    cache_sd1_configs(hf_home)
    info = models.import_path(sd1_file)
    assert (info.kind, info.family, info.source) == ("checkpoint", "sd1", "imported")
    assert Path(info.path).parent == models.models_dir() and Path(info.path).is_file()
    listed = {m.id: m for m in models.list_models()}
    assert listed[info.id].usable and listed[info.id].default  # the only usable model
    assert models.default_model().id == info.id

    engine = Engine(cpu_device)
    engine.load(info.path)
    result = engine.generate(GenerationRequest("a fox", steps=2, seed=3, width=64, height=64))
    assert engine.model_hash == models.model_hash(sd1_file) and len(engine.model_hash) == 10
    assert f"Model hash: {engine.model_hash}" in result.infotexts[0]
    # The same picture as the same weights in diffusers layout.
    import diffusers

    ref_engine = Engine(cpu_device)
    ref_engine.load_pipeline(
        diffusers.StableDiffusionPipeline(
            **build_components("tiny", seed=0), requires_safety_checker=False
        ),
        "ref",
    )
    ref = ref_engine.generate(GenerationRequest("a fox", steps=2, seed=3, width=64, height=64))
    diff = np.abs(np.asarray(result.images[0], dtype=int) - np.asarray(ref.images[0], dtype=int))
    assert diff.max() <= 1


def test_single_file_without_cached_configs_says_what_to_do(
    sd1_file: Path, hf_home: Path, cpu_device: Any
) -> None:
    with pytest.raises(ModelLoadError) as err:
        Engine(cpu_device).load(sd1_file)
    assert "SD 1.x model, whose small config files are not on this computer yet" in str(err.value)


def test_ckpt_is_converted_once_and_unsafe_one_refused(sd1_file: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    ckpt = tmp_path / "oldModel.ckpt"
    torch.save({"state_dict": load_file(str(sd1_file))}, ckpt)
    info = models.import_path(ckpt)
    assert info.path.endswith("oldModel.safetensors") and info.family == "sd1"
    assert not list(models.models_dir().glob("*.ckpt"))

    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self) -> tuple:
            return (os.system, (f"touch {marker}",))

    evil = tmp_path / "evil.ckpt"
    evil.write_bytes(pickle.dumps({"state_dict": {}, "x": Evil()}, protocol=2))
    with pytest.raises(UnsafeModelFile):
        models.import_path(evil)
    assert not marker.exists()
    assert not (models.models_dir() / "evil.safetensors").exists()


def test_lora_is_listed_as_lora_not_checkpoint(tmp_path: Path) -> None:
    lora = tmp_path / "detailTweaker.safetensors"
    save_file(
        {
            "lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": torch.zeros(4, 32),
            "lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight": torch.zeros(32, 4),
        },
        str(lora),
    )
    info = models.import_path(lora)
    assert info.kind == "lora" and Path(info.path).parent.name == "lora"
    listed = [m for m in models.list_models() if m.id == info.id]
    assert listed and listed[0].kind == "lora" and not listed[0].usable and not listed[0].default


def test_a1111_folder_is_used_in_place(sd1_file: Path, tmp_path: Path) -> None:
    library = tmp_path / "stable-diffusion-webui" / "models" / "Stable-diffusion"
    library.mkdir(parents=True)
    (library / "tinyDreamer_v1.safetensors").write_bytes(sd1_file.read_bytes())
    (library / "notes.txt").write_text("not a model")
    added = models.import_path(library)
    assert added.kind == "library" and added.id == f"library:{library.resolve()}"
    listed = [m for m in models.list_models() if m.source == "library"]
    assert [Path(m.path) for m in listed] == [(library / "tinyDreamer_v1.safetensors").resolve()]
    assert listed[0].family == "sd1"
    assert not list(models.models_dir().glob("*.safetensors"))  # nothing copied
    msg = models.remove(added.id)
    assert "untouched" in msg and (library / "tinyDreamer_v1.safetensors").exists()
    assert not [m for m in models.list_models() if m.source == "library"]


def test_default_and_remove_imported(sd1_file: Path, tiny_model_dir: Path) -> None:
    imported = models.import_path(sd1_file)
    folder = models.import_path(tiny_model_dir)
    assert folder.source == "folder" and folder.path == str(tiny_model_dir.resolve())
    assert models.set_default(folder.id).default
    assert models.default_model().id == folder.id
    msg = models.remove(imported.id)
    assert msg.startswith("Removed tinyDreamer_v1;") and not Path(imported.path).exists()
    assert "untouched" in models.remove(folder.id) and tiny_model_dir.exists()
    with pytest.raises(ModelLoadError, match="No model called"):
        models.find("nothing-like-this")


def test_cli_models_and_generate_by_id(
    tiny_model_dir: Path, easel_home: Path, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "EASEL_HOME": str(easel_home),
        "HF_HOME": str(tmp_path / "hf"),
        "HF_HUB_OFFLINE": "1",
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "app", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )

    res = run("models", "import", str(tiny_model_dir))
    assert res.returncode == 0, res.stderr
    model_id = res.stdout.split("\t")[0]
    listing = run("models", "list")
    assert listing.returncode == 0
    from app.cli_checks import wrap_id

    first, *_ = wrap_id(model_id)  # a long id wraps in its column; the default is starred
    assert any(line.startswith("* " + first) for line in listing.stdout.splitlines())
    assert "sd15" in listing.stdout and "available" in listing.stdout
    gen = run(
        "generate",
        "--prompt",
        "by default",
        "--steps",
        "2",
        "--size",
        "64x64",
        "--out",
        str(tmp_path / "o"),
        "--quiet",
    )
    assert gen.returncode == 0, gen.stderr
    assert "Model: tiny-sd" in Path(gen.stdout.strip()).read_bytes().decode("latin-1")
    bad = run("models", "import", str(tmp_path / "missing.safetensors"))
    assert bad.returncode == 2 and "does not exist; check the path." in bad.stderr
    assert run("models", "download", "no-such-model").returncode == 2
