"""`python -m app generate`: real subprocesses on a tiny model folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from app.library.infotext import parse_infotext
from app.library.pngio import read_parameters


def run(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EASEL_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "app", *args], capture_output=True, text=True, env=env, timeout=300
    )


def test_generate_batch_to_folder(tiny_model_dir: Path, tmp_path: Path, easel_home: Path) -> None:
    out = tmp_path / "out"
    res = run(
        "generate",
        "--model",
        str(tiny_model_dir),
        "--prompt",
        "a red barn, at noon",
        "--negative",
        "fog",
        "--sampler",
        "Euler a",
        "--steps",
        "3",
        "--cfg",
        "5.5",
        "--seed",
        "77",
        "--size",
        "64x64",
        "--batch",
        "2",
        "--out",
        str(out),
        home=easel_home,
    )
    assert res.returncode == 0, res.stderr
    paths = [Path(line) for line in res.stdout.splitlines()]
    assert len(paths) == 2 and all(p.parent == out and p.is_file() for p in paths)
    assert "step 3/3" in res.stderr  # progress goes to stderr, never stdout
    infos = [parse_infotext(read_parameters(p) or "") for p in paths]
    assert infos[0].prompt == "a red barn, at noon" and infos[0].negative_prompt == "fog"
    assert [i.params["Seed"] for i in infos] == ["77", "78"]
    assert infos[0].params["Sampler"] == "Euler a" and infos[0].params["CFG scale"] == "5.5"
    assert infos[0].params["Size"] == "64x64" and infos[0].params["Steps"] == "3"


def test_generate_without_out_lands_in_gallery(tiny_model_dir: Path, easel_home: Path) -> None:
    res = run(
        "generate",
        "--model",
        str(tiny_model_dir),
        "--prompt",
        "gallery test",
        "--steps",
        "2",
        "--size",
        "64x64",
        "--seed",
        "5",
        "--quiet",
        home=easel_home,
    )
    assert res.returncode == 0, res.stderr
    (path,) = [Path(line) for line in res.stdout.splitlines()]
    assert path.is_file() and str(easel_home) in str(path)
    from app.library.gallery import Gallery

    gallery = Gallery()
    try:
        items = gallery.items()
    finally:
        gallery.close()
    assert [(i.path.name, i.prompt, i.seed) for i in items] == [(path.name, "gallery test", 5)]


def test_img2img_inpaint_outpaint(
    tiny_model_dir: Path, photo: Path, tmp_path: Path, easel_home: Path
) -> None:
    mask = tmp_path / "mask.png"
    m = np.zeros((64, 64), dtype=np.uint8)
    m[8:40, 8:40] = 255
    Image.fromarray(m).save(mask)
    base = [
        "generate",
        "--model",
        str(tiny_model_dir),
        "--prompt",
        "p",
        "--steps",
        "2",
        "--seed",
        "1",
        "--init-image",
        str(photo),
        "--out",
        str(tmp_path / "o"),
        "--quiet",
    ]
    img2img = run(*base, "--strength", "0.5", home=easel_home)
    inpaint = run(*base, "--mask", str(mask), home=easel_home)
    outpaint = run(*base, "--outpaint", "0,0,64,0", home=easel_home)
    for res in (img2img, inpaint, outpaint):
        assert res.returncode == 0, res.stderr
    assert Image.open(img2img.stdout.strip()).size == (64, 64)
    assert "Denoising strength: 0.5" in (read_parameters(Path(img2img.stdout.strip())) or "")
    assert Image.open(outpaint.stdout.strip()).size == (128, 64)
    out = np.asarray(Image.open(inpaint.stdout.strip()).convert("RGB"))
    orig = np.asarray(Image.open(photo).convert("RGB"))
    assert (out[m == 0] == orig[m == 0]).all()


def test_bad_input_is_one_sentence_and_non_zero(
    tiny_model_dir: Path, tmp_path: Path, easel_home: Path
) -> None:
    cases = {
        ("--size", "100x64"): "error: Size 100x64 is not a multiple of 8; try 96x64.",
        ("--steps", "0"): "error: Steps must be between 1 and 1000; got 0.",
        ("--sampler", "Nope"): "error: Unknown sampler 'Nope'",
        ("--init-image", str(tmp_path / "missing.png")): "does not exist; check the path.",
        ("--size", "big"): "error: argument --size: size 'big' is not WIDTHxHEIGHT, e.g. 512x768",
    }
    for extra, expected in cases.items():
        res = run(
            "generate", "--model", str(tiny_model_dir), "--prompt", "x", *extra, home=easel_home
        )
        assert res.returncode == 2, (extra, res.stderr)
        assert expected in res.stderr and res.stdout == ""
        assert len(res.stderr.strip().splitlines()) == 1, res.stderr
        assert "Traceback" not in res.stderr


def test_missing_or_corrupt_model_folder(
    tiny_model_dir: Path, tmp_path: Path, easel_home: Path
) -> None:
    res = run(
        "generate",
        "--model",
        str(tmp_path / "nope"),
        "--prompt",
        "x",
        "--out",
        str(tmp_path),
        home=easel_home,
    )
    assert res.returncode == 2 and "does not exist" in res.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    res = run("generate", "--model", str(empty), "--prompt", "x", "--quiet", home=easel_home)
    assert res.returncode == 2  # a bad model is bad input, like a bad path
    assert res.stderr.strip().endswith("choose the folder that contains model_index.json.")
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(tiny_model_dir, broken)
    weights = broken / "unet" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    res = run(
        "generate",
        "--model",
        str(broken),
        "--prompt",
        "x",
        "--quiet",
        "--size",
        "64x64",
        home=easel_home,
    )
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "incomplete or corrupt" in res.stderr and "download or import it again" in res.stderr


def test_help_is_complete() -> None:
    res = subprocess.run(
        [sys.executable, "-m", "app", "generate", "--help"], capture_output=True, text=True
    )
    for flag in (
        "--model",
        "--prompt",
        "--negative",
        "--sampler",
        "--steps",
        "--cfg",
        "--seed",
        "--size",
        "--batch",
        "--init-image",
        "--strength",
        "--mask",
        "--outpaint",
        "--out",
    ):
        assert flag in res.stdout
