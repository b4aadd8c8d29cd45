"""SD 2.x single files: epsilon (512 base) or v-prediction (768), chosen per file and used
when the engine loads it; the CLI's --prediction-type remembers the choice."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from app.cli_hires import apply_prediction_type
from app.engine.engine import Engine
from app.errors import InvalidRequest
from app.models.prediction import prediction_override, set_prediction_override
from tests.test_checkpoints import _config_dir, _single_file


def test_choice_is_remembered_per_file_and_auto_forgets(tmp_path: Path) -> None:
    f = tmp_path / "sd2-base.safetensors"
    f.write_bytes(b"x")
    assert prediction_override(f) is None
    set_prediction_override(f, "epsilon")
    assert prediction_override(f) == "epsilon"
    assert prediction_override(tmp_path / "other.safetensors") is None
    set_prediction_override(f, "auto")
    assert prediction_override(f) is None
    with pytest.raises(ValueError):
        set_prediction_override(f, "x0")


def test_engine_loads_an_sd2_file_as_epsilon_when_told(
    tmp_path: Path, cpu_device: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import app.models.download as download

    path, _ = _single_file(tmp_path, "tiny-sd2")
    config = _config_dir(tmp_path, "tiny-sd2")
    monkeypatch.setattr(download, "family_config_dir", lambda family: config)
    engine = Engine(cpu_device)
    engine.load(path)
    assert engine.pipeline("text").scheduler.config.prediction_type == "v_prediction"
    args = argparse.Namespace(prediction_type="epsilon")
    apply_prediction_type(args, path)
    engine.load(path)
    assert engine.pipeline("text").scheduler.config.prediction_type == "epsilon"
    with pytest.raises(InvalidRequest, match="single-file"):
        apply_prediction_type(args, tmp_path)
