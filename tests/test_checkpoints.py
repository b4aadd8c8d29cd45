"""Single-file checkpoints: detection from tensors, offline loading, unsafe pickles, bad files.

Every checkpoint here is a tiny random model written in the ORIGINAL (CompVis/SGM) key layout
by ``tests/original_layout.py``; loaded through ``load_single_file_pipeline`` it must paint the
same image as the same weights built directly as a diffusers pipeline.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pickle
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from app.engine.tiny import build_components, save_model_folder
from app.errors import ModelLoadError, UnsafeModelFile
from app.models.checkpoints import (
    convert_ckpt_to_safetensors,
    inspect_checkpoint,
    load_single_file_pipeline,
)
from tests.original_layout import pipeline_to_original, vae_to_original

PIPELINES = {
    "tiny": "StableDiffusionPipeline",
    "tiny-inpaint": "StableDiffusionInpaintPipeline",
    "tiny-sd2": "StableDiffusionPipeline",
    "tiny-sdxl": "StableDiffusionXLPipeline",
}
LAYOUT = {"tiny": "sd1", "tiny-inpaint": "sd1", "tiny-sd2": "sd2", "tiny-sdxl": "sdxl"}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("checkpoints")


def _config_dir(workdir: Path, arch: str, keep_weights: bool = False) -> Path:
    """A family config folder as the model manager caches it: model_index.json, component
    configs and tokenizers. Built from a DIFFERENT seed than the checkpoints, and without
    weights unless asked, so that matching images prove the weights came from the file."""
    folder = workdir / f"config-{arch}-{keep_weights}"
    if not folder.exists():
        save_model_folder(folder, arch, seed=1)  # type: ignore[arg-type]
        if not keep_weights:
            for weights in [*folder.rglob("*.safetensors"), *folder.rglob("*.bin")]:
                weights.unlink()
    return folder


def _single_file(workdir: Path, arch: str) -> tuple[Path, dict[str, Any]]:
    components = build_components(arch, seed=0)  # type: ignore[arg-type]
    path = workdir / f"{arch}.safetensors"
    if not path.exists():
        save_file(pipeline_to_original(components, LAYOUT[arch]), str(path))
    return path, components


def _image(pipe: Any, arch: str) -> np.ndarray:
    from PIL import Image

    kwargs: dict[str, Any] = dict(
        prompt="a red fox", num_inference_steps=2, height=64, width=64, output_type="np"
    )
    if arch == "tiny-inpaint":
        kwargs.update(
            image=Image.new("RGB", (64, 64), (200, 40, 90)),
            mask_image=Image.new("L", (64, 64), 255),
        )
    return pipe(generator=torch.Generator("cpu").manual_seed(0), **kwargs).images


@pytest.mark.parametrize(
    ("arch", "config_arch", "family", "inpainting", "prediction"),
    [
        ("tiny", "tiny", "sd1", False, "epsilon"),
        # The family's config is the text-to-image one (as family_config_dir gives it): the
        # 9-channel UNet must be built from the file's shape, not the config's 4.
        ("tiny-inpaint", "tiny", "sd1", True, "epsilon"),
        ("tiny-sd2", "tiny-sd2", "sd2-v", False, "v_prediction"),
        ("tiny-sdxl", "tiny-sdxl", "sdxl", False, "epsilon"),
    ],
)
def test_original_layout_checkpoint_is_detected_and_paints_like_diffusers(
    workdir: Path, arch: str, config_arch: str, family: str, inpainting: bool, prediction: str
) -> None:
    import diffusers

    path, components = _single_file(workdir, arch)
    info = inspect_checkpoint(path)
    assert (info.kind, info.family, info.inpainting) == ("checkpoint", family, inpainting)
    assert info.prediction_type == prediction
    assert info.format == "safetensors" and info.size_bytes == path.stat().st_size
    assert info.tensors == len(load_file(str(path)))

    keep = arch == "tiny"  # one config folder keeps (other) weights: the file's must win
    config = _config_dir(workdir, config_arch, keep_weights=keep)
    assert keep == any(config.rglob("*.safetensors"))
    pipe = load_single_file_pipeline(path, config, torch.float32)
    assert type(pipe).__name__ == PIPELINES[arch]
    assert pipe.unet.config.in_channels == (9 if inpainting else 4)
    assert pipe.scheduler.config.prediction_type == prediction
    assert getattr(pipe, "safety_checker", None) is None

    cls = getattr(diffusers, PIPELINES[arch])
    names = set(cls._get_signature_keys(cls)[0])
    extra = {} if arch == "tiny-sdxl" else {"requires_safety_checker": False}
    reference = cls(**{k: v for k, v in components.items() if k in names}, **extra)
    ours, theirs = _image(pipe, arch), _image(reference, arch)
    assert ours.shape == (1, 64, 64, 3)
    assert ours.std() > 0.01  # a real picture, not a blank
    assert np.abs(ours - theirs).max() <= 1 / 255


def test_sha256_10_is_the_a1111_model_hash(workdir: Path) -> None:
    import hashlib

    path, _ = _single_file(workdir, "tiny")
    info = inspect_checkpoint(path)
    assert info.sha256_10 == hashlib.sha256(path.read_bytes()).hexdigest()[:10]


def test_config_of_another_family_is_refused(workdir: Path) -> None:
    path, _ = _single_file(workdir, "tiny-sdxl")
    with pytest.raises(ModelLoadError, match="different model family"):
        load_single_file_pipeline(path, _config_dir(workdir, "tiny"))
    with pytest.raises(ModelLoadError, match="configuration files"):
        load_single_file_pipeline(path, workdir / "no-such-config")


# --- detection from names and shapes (header-only files) ----------------------------------


def _write(
    path: Path, shapes: dict[str, tuple[int, ...]], metadata: dict[str, str] | None = None
) -> Path:
    save_file(
        {k: torch.zeros(s, dtype=torch.float16) for k, s in shapes.items()}, str(path), metadata
    )
    return path


UNET_IN = "model.diffusion_model.input_blocks.0.0.weight"
TO_K = "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight"
KOHYA = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k"
PEFT = "unet.down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k"


@pytest.mark.parametrize(
    ("shapes", "metadata", "expected"),
    [
        # No text encoder in the file: the cross-attention width decides.
        ({UNET_IN: (8, 4, 3, 3), TO_K: (8, 768)}, None, ("checkpoint", "sd1", False)),
        ({UNET_IN: (8, 9, 3, 3), TO_K: (8, 1024)}, None, ("checkpoint", "sd2", True)),
        ({UNET_IN: (8, 4, 3, 3), TO_K: (8, 1024)}, None, ("checkpoint", "sd2-v", False)),
        ({UNET_IN: (8, 4, 3, 3), TO_K: (8, 2048)}, None, ("checkpoint", "sdxl", False)),
        # An SD 2 512 "base" model that says so in its modelspec metadata stays epsilon.
        (
            {UNET_IN: (8, 4, 3, 3), "cond_stage_model.model.token_embedding.weight": (4, 4)},
            {"modelspec.prediction_type": "epsilon"},
            ("checkpoint", "sd2", False),
        ),
        # instruct-pix2pix (8 input channels) is a checkpoint of no supported family.
        ({UNET_IN: (8, 8, 3, 3), TO_K: (8, 768)}, None, ("checkpoint", None, False)),
        # The SDXL refiner (OpenCLIP only, embedders.0) is not SDXL base.
        (
            {UNET_IN: (8, 4, 3, 3), "conditioner.embedders.0.model.text_projection": (4, 4)},
            None,
            ("checkpoint", None, False),
        ),
        # LoRAs in kohya, diffusers/PEFT and LyCORIS naming, even when they name UNet blocks.
        (
            {
                f"{KOHYA}.lora_down.weight": (4, 768),
                f"{KOHYA}.lora_up.weight": (320, 4),
                f"{KOHYA}.alpha": (),
            },
            None,
            ("lora", "sd1", False),
        ),
        (
            {f"{PEFT}.lora_A.weight": (4, 2048), f"{PEFT}.lora_B.weight": (64, 4)},
            None,
            ("lora", "sdxl", False),
        ),
        (
            {"lora_te1_text_model_encoder_layers_0_mlp_fc1.hada_w1_a": (4, 4)},
            None,
            ("lora", "sdxl", False),
        ),
        (
            {"model.diffusion_model.input_blocks.1.1.proj_in.lora_down.weight": (4, 320)},
            None,
            ("lora", None, False),
        ),
        # Textual inversion embeddings: A1111 (emb_params) and SDXL (clip_l + clip_g).
        ({"emb_params": (2, 768)}, None, ("textual-inversion", "sd1", False)),
        ({"clip_l": (2, 768), "clip_g": (2, 1280)}, None, ("textual-inversion", "sdxl", False)),
        ({"some.other.weight": (2, 2)}, None, ("unknown", None, False)),
    ],
)
def test_kind_and_family_from_header(
    tmp_path: Path,
    shapes: dict[str, tuple[int, ...]],
    metadata: dict[str, str] | None,
    expected: tuple,
) -> None:
    info = inspect_checkpoint(_write(tmp_path / "m.safetensors", shapes, metadata))
    assert (info.kind, info.family, info.inpainting) == expected
    assert info.tensors == len(shapes)


def test_standalone_vae_is_a_vae(tmp_path: Path) -> None:
    vae = build_components("tiny")["vae"]
    plain = {k.removeprefix("first_stage_model."): v for k, v in vae_to_original(vae).items()}
    path = tmp_path / "vae-ft-mse.safetensors"
    save_file(plain, str(path))
    assert inspect_checkpoint(path).kind == "vae"
    with pytest.raises(ModelLoadError, match="is a VAE, not a checkpoint"):
        load_single_file_pipeline(path, tmp_path)


def test_lora_and_unknown_files_are_not_loaded_as_checkpoints(tmp_path: Path) -> None:
    lora = _write(tmp_path / "style.safetensors", {"lora_unet_mid_block.lora_down.weight": (4, 8)})
    with pytest.raises(ModelLoadError, match="is a LoRA, not a checkpoint"):
        load_single_file_pipeline(lora, tmp_path)
    odd = _write(tmp_path / "odd.safetensors", {UNET_IN: (8, 8, 3, 3), TO_K: (8, 768)})
    with pytest.raises(ModelLoadError, match="architecture Easel does not support"):
        load_single_file_pipeline(odd, tmp_path)
    other = _write(tmp_path / "other.safetensors", {"some.weight": (2, 2)})
    with pytest.raises(ModelLoadError, match="not a Stable Diffusion checkpoint"):
        load_single_file_pipeline(other, tmp_path)


# --- damaged and disguised files ----------------------------------------------------------


def test_damaged_safetensors_each_get_their_own_sentence(workdir: Path, tmp_path: Path) -> None:
    good, _ = _single_file(workdir, "tiny")
    data = good.read_bytes()
    cases = {
        "truncated.safetensors": (data[: len(data) // 2], "is incomplete (a truncated download"),
        "cut-in-header.safetensors": (data[:100], "is incomplete (a truncated download"),
        "pointer.safetensors": (
            b"version https://git-lfs.github.com/spec/v1\n"
            b"oid sha256:4c2e1b0000000000000000000000000000000000000000000000000000000000\n"
            b"size 4265146304\n",
            "git-lfs pointer); download it again.",
        ),
        "empty.safetensors": (b"", "is empty (0 bytes); download it again."),
        "random.safetensors": (random.Random(0).randbytes(4096), "header is corrupt"),
        "badjson.safetensors": (
            (20).to_bytes(8, "little") + b"{not json at all!!}" + b"\0" * 9,
            "header is corrupt",
        ),
    }
    for name, (content, message) in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(
            ModelLoadError, match=message.replace("(", r"\(").replace(")", r"\)")
        ) as err:
            inspect_checkpoint(path)
        assert not isinstance(err.value, UnsafeModelFile)
        assert str(err.value).startswith(name)
        with pytest.raises(ModelLoadError):
            load_single_file_pipeline(path, workdir)

    renamed = tmp_path / "renamed.safetensors"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, renamed)
    with pytest.raises(
        ModelLoadError, match=r"is not a safetensors file \(it looks like a pickle/\.ckpt\)"
    ):
        inspect_checkpoint(renamed)
    raw = tmp_path / "raw.safetensors"
    raw.write_bytes(pickle.dumps({"w": 1}, protocol=2))
    with pytest.raises(ModelLoadError, match="it looks like a pickle"):
        inspect_checkpoint(raw)


# --- pickles ------------------------------------------------------------------------------


class _RunsCommand:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))


class _RunsPython:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (exec, (f"open({str(self.marker)!r}, 'w').close()",))


@pytest.mark.parametrize("writer", ["torch.save", "pickle-proto2", "pickle-proto4"])
@pytest.mark.parametrize(
    ("payload", "named"), [(_RunsCommand, "os.system"), (_RunsPython, "builtins.exec")]
)
def test_malicious_ckpt_is_refused_and_never_runs(
    tmp_path: Path, writer: str, payload: type, named: str
) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "model.ckpt"
    if writer == "torch.save":
        torch.save({"state_dict": {"w": torch.zeros(2)}, "callback": payload(marker)}, path)
    else:
        # A bare pickle (the legacy format's shape); no tensors, which plain pickle would
        # write with a global of their own.
        evil = {"state_dict": {"w": [0.0, 1.0]}, "callback": payload(marker)}
        path.write_bytes(pickle.dumps(evil, protocol=int(writer[-1])))
    with pytest.raises(UnsafeModelFile) as err:
        inspect_checkpoint(path)
    assert str(err.value) == (
        f"model.ckpt calls {named} when it is loaded, so it is unsafe and Easel refused to "
        "open it; get a .safetensors version of this model."
    )
    with pytest.raises(UnsafeModelFile):
        convert_ckpt_to_safetensors(path, tmp_path / "model.safetensors")
    assert not marker.exists()
    assert not (tmp_path / "model.safetensors").exists()


def test_torch_allow_list_still_guards_what_the_scan_would_pass(tmp_path: Path) -> None:
    from app.models import safeload

    marker = tmp_path / "pwned"
    path = tmp_path / "model.ckpt"
    torch.save({"x": _RunsCommand(marker)}, path)
    # Even with the opcode scan blinded, torch.load(weights_only=True) refuses: no fallback.
    original = safeload._allowed_globals
    safeload._allowed_globals = lambda: set()  # type: ignore[assignment]
    try:
        with pytest.raises(UnsafeModelFile, match=r"calls os\.system"):
            safeload.load_pickle_state_dict(path)
    finally:
        safeload._allowed_globals = original  # type: ignore[assignment]
    assert not marker.exists()


def test_benign_ckpt_is_accepted_and_converted_once(workdir: Path, tmp_path: Path) -> None:
    components = build_components("tiny", seed=0)
    state = pipeline_to_original(components, "sd1")
    src = tmp_path / "v1-5-like.ckpt"
    torch.save({"state_dict": state, "global_step": 470000}, src)

    info = inspect_checkpoint(src)
    assert (info.kind, info.family, info.format) == ("checkpoint", "sd1", "ckpt")
    assert info.tensors == len(state)

    dst = tmp_path / "v1-5-like.safetensors"
    assert convert_ckpt_to_safetensors(src, dst) == dst
    converted = load_file(str(dst))
    assert converted.keys() == state.keys()
    assert all(torch.equal(converted[k], state[k]) for k in state)
    after = inspect_checkpoint(dst)
    assert (after.kind, after.family, after.format) == ("checkpoint", "sd1", "safetensors")
    assert not list(tmp_path.glob("*.part"))

    stamp = dst.stat().st_mtime_ns, dst.stat().st_ino
    src.unlink()  # a second import must not even need the pickle
    assert convert_ckpt_to_safetensors(src, dst) == dst
    assert (dst.stat().st_mtime_ns, dst.stat().st_ino) == stamp

    again = tmp_path / "again.ckpt"
    torch.save({"state_dict": state}, again)
    with pytest.raises(ModelLoadError, match="import it first"):
        load_single_file_pipeline(again, workdir)


def test_legacy_format_sd2_base_ckpt_keeps_its_epsilon_hint(tmp_path: Path) -> None:
    # SD 2.0 base shipped as a legacy (pre-zip) torch pickle with global_step 875000: the one
    # fact in the file that says epsilon rather than v; it must survive the conversion.
    src = tmp_path / "512-base-ema.ckpt"
    state = {
        UNET_IN: torch.zeros(8, 4, 3, 3),
        "cond_stage_model.model.token_embedding.weight": torch.zeros(4, 4),
    }
    torch.save(
        {"state_dict": state, "global_step": 875000}, src, _use_new_zipfile_serialization=False
    )
    assert inspect_checkpoint(src).family == "sd2"
    dst = convert_ckpt_to_safetensors(src, tmp_path / "512-base-ema.safetensors")
    info = inspect_checkpoint(dst)
    assert (info.family, info.prediction_type) == ("sd2", "epsilon")
