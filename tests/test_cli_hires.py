"""`python -m app generate --hires-...`: a real subprocess on the tiny model folder."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from app.library.infotext import parse_infotext
from app.library.pngio import read_parameters
from tests.test_cli import run


def test_generate_with_hires_fix(tiny_model_dir: Path, tmp_path: Path, easel_home: Path) -> None:
    out = tmp_path / "out"
    args = ["generate", "--model", str(tiny_model_dir), "--prompt", "a barn", "--steps", "3"]
    args += ["--sampler", "Euler", "--seed", "5", "--size", "64x64", "--out", str(out)]
    args += ["--hires-scale", "2", "--hires-upscaler", "Latent", "--hires-steps", "2"]
    args += ["--hires-denoise", "0.5"]
    res = run(*args, home=easel_home)
    assert res.returncode == 0, res.stderr
    assert "step 5/5" in res.stderr  # 3 base steps and 2 hires steps in one progress bar
    (path,) = [Path(line) for line in res.stdout.splitlines()]
    assert Image.open(path).size == (128, 128)
    params = parse_infotext(read_parameters(path) or "").params
    assert params["Size"] == "64x64"
    assert params["Hires upscale"] == "2" and params["Hires steps"] == "2"
    assert params["Hires upscaler"] == "Latent" and params["Denoising strength"] == "0.5"


def test_bad_hires_option_is_one_sentence(tiny_model_dir: Path, easel_home: Path) -> None:
    args = ["generate", "--model", str(tiny_model_dir), "--prompt", "x", "--size", "64x64"]
    res = run(*args, "--hires-scale", "9", home=easel_home)
    assert res.returncode == 2
    assert "Hires upscale must be between 1 and 4" in res.stderr
    assert "Traceback" not in res.stderr
