"""Every bad input to the CLI exits 2 with one sentence on stderr (no traceback, no usage dump),
before any weight is loaded; ``models list`` has a header and wraps long ids; a batch reports
every seed. Through the CLI's own main() on the tiny model (and one real ``python -m app``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from app.__main__ import main
from app.models import registry as models

ROOT = Path(__file__).resolve().parents[1]


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse's own exits
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def _one_sentence(code: int, out: str, err: str, *expected: str) -> None:
    assert code == 2, (code, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err and "usage:" not in err and out == ""
    for text in expected:
        assert text in err, (text, err)


def _lora(path: Path) -> Path:
    key = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q"
    save_file(
        {
            f"{key}.lora_down.weight": torch.zeros(4, 320),
            f"{key}.lora_up.weight": torch.zeros(320, 4),
        },
        str(path),
    )
    return path


class _RunsCommand:
    def __reduce__(self) -> tuple[object, ...]:
        return (os.system, ("true",))


def test_bad_model_file_is_exit_2_for_generate_and_import(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    truncated = tmp_path / "truncated.safetensors"
    _lora(tmp_path / "full.safetensors")
    truncated.write_bytes((tmp_path / "full.safetensors").read_bytes()[:200])
    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(2)}, "x": _RunsCommand()}, evil)
    lora = _lora(tmp_path / "style.safetensors")
    cases = {
        truncated: "truncated.safetensors is incomplete",
        evil: "evil.ckpt calls os.system when it is loaded",
        lora: "style.safetensors is a LoRA, not a checkpoint",
    }
    for path, sentence in cases.items():
        _one_sentence(*_run(capsys, "generate", "--model", str(path), "--prompt", "x"), sentence)
    for path in (truncated, evil):
        _one_sentence(*_run(capsys, "models", "import", str(path)), path.name)
    assert not list(models.models_dir().rglob("*.safetensors"))


def test_unwritable_out_is_exit_2_before_loading(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    for out in (a_file, a_file / "sub"):
        code, stdout, err = _run(
            capsys, "generate", "--model", str(tiny_model_dir), "--prompt", "x", "--out", str(out)
        )
        _one_sentence(code, stdout, err, f"The output folder {str(out)!r} cannot be written")
        assert "Loading" not in err


def test_unknown_ids_and_kinds_are_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    for action in ("default", "remove"):
        _one_sentence(
            *_run(capsys, "models", action, "no-such-model"),
            "No model called 'no-such-model'; run 'models list'",
        )
    _one_sentence(*_run(capsys, "models", "list", "--kind", "bogus"), "Unknown model kind 'bogus'")


def test_negative_looking_values_get_their_own_sentence(
    tiny_model_dir: Path, photo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ("generate", "--model", str(tiny_model_dir), "--prompt", "x", "--init-image", str(photo))
    _one_sentence(
        *_run(capsys, *base, "--outpaint", "-8,0,0,0"),
        "Outpaint needs four pixel counts ≥ 0: left, top, right, bottom.",
    )
    _one_sentence(
        *_run(capsys, *base, "--outpaint", "-8"),
        "outpaint '-8' is not LEFT,TOP,RIGHT,BOTTOM pixels",
    )
    _one_sentence(
        *_run(capsys, *base, "--steps", "-3"), "Steps must be between 1 and 1000; got -3."
    )
    _one_sentence(*_run(capsys, *base, "--size", "-64x64"), "Size -64x64 is out of range")


def test_outpaint_negative_through_python_m_app(tiny_model_dir: Path, photo: Path) -> None:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "app",
            "generate",
            "--model",
            str(tiny_model_dir),
            "--prompt",
            "x",
            "--init-image",
            str(photo),
            "--outpaint",
            "-8,0,0,0",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        timeout=120,
    )
    _one_sentence(run.returncode, run.stdout, run.stderr, "Outpaint needs four pixel counts ≥ 0")


def test_models_list_has_a_header_and_wraps_long_ids(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.cli_checks import ID_WIDTH

    deep = tmp_path / "a-rather-long-folder-name" / "another-long-folder" / "models" / "Lora"
    deep.mkdir(parents=True)
    lora = _lora(deep / "an_extremely_long_lora_file_name_from_civitai_v3.safetensors")
    models.import_path(deep.parent)
    code, out, _err = _run(capsys, "models", "list", "--kind", "lora")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "KIND", "FAMILY", "SIZE", "STATE"]
    row = next(i for i, line in enumerate(lines) if line[2:].startswith("file:"))
    assert "lora" in lines[row].split() and "installed" in lines[row]
    # The id continues on the lines below its row, each within the id column.
    parts = [lines[row][2 : 2 + ID_WIDTH].rstrip()]
    for line in lines[row + 1 :]:
        if not line.startswith("  ") or len(line) > 2 + ID_WIDTH or line[2] == " ":
            break
        parts.append(line[2:])
    assert "".join(parts) == f"file:{lora}"
    assert len(parts) > 1


def test_a_batch_reports_every_seed(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(
        capsys,
        "generate",
        "--model",
        str(tiny_model_dir),
        "--prompt",
        "a fox",
        "--steps",
        "1",
        "--size",
        "64x64",
        "--batch",
        "3",
        "--seed",
        "41",
        "--out",
        str(tmp_path / "out"),
        "--device",
        "cpu",
    )
    assert code == 0, err
    assert len(out.split()) == 3
    assert "seeds 41, 42, 43." in err
