"""torch.compile behind a setting: the compiled model's pictures equal eager ones, a LoRA after
compiling is in the picture (no stale frozen weights), and where compiling can't work the job
runs eager and says so in one sentence."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import pytest

import app.engine.compile as compile_mod
from app.engine.device import DeviceInfo
from app.engine.engine import Engine
from app.engine.tiny_networks import save_kohya_lora
from app.models import registry
from tests.lora_helpers import fresh_pipe, max_diff, request

# The CPU policy's layout; fp32 so eager and compiled agree to the level.
CPU = DeviceInfo(kind="cpu", dtype="float32", name="CPU", channels_last=True)
STEPS = 2


def engine(compiled: bool) -> Engine:
    e = Engine(CPU)
    e.load_pipeline(fresh_pipe(), "tiny-model")
    e.set_compile(compiled)
    return e


def job(prompt: str = "a lighthouse") -> Any:
    return request(prompt, "blurry", steps=STEPS)


@pytest.fixture(scope="module")
def compiled() -> Engine:
    """One engine compiled for the module: compiling the tiny model costs seconds."""
    return engine(True)


@pytest.fixture(scope="module")
def eager() -> Engine:
    return engine(False)


def test_compiled_picture_equals_eager_and_says_what_the_warm_up_cost(
    compiled: Engine, eager: Engine
) -> None:
    reference = eager.generate(job())
    started = time.perf_counter()
    first = compiled.generate(job())
    print(f"first compiled job (UNet + VAE decoder warm-up): {time.perf_counter() - started:.1f} s")
    assert max_diff(first.images[0], reference.images[0]) <= 1
    (note,) = [n for n in first.notes if n.startswith("Compiled")]
    assert "the UNet in" in note and "the VAE decoder in" in note and "size" in note
    assert compiled._compiled is not None and len(compiled._compiled.wrappers) == 2
    again = compiled.generate(job())  # compiled already: no warm-up, the same picture
    assert not any(n.startswith("Compiled") for n in again.notes)
    assert max_diff(again.images[0], reference.images[0]) <= 1


def test_lora_after_compiling_is_in_the_picture(
    compiled: Engine, eager: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A LoRA goes into the UNet only: its compiles are what this test is about (time).
    monkeypatch.setattr(compile_mod, "TARGETS", (("unet", "the UNet"),))
    folder = tmp_path / "webui-models" / "Lora"
    save_kohya_lora(fresh_pipe(), folder / "inkwash.safetensors", alpha=2.0, seed=1)
    registry.import_path(folder.parent)
    compiled.generate(job())  # compiled without the LoRA (again, when this test runs alone)
    plain = eager.generate(job())
    # Loading the LoRA changes the UNet's layers (dynamo would notice); a new weight for the
    # same LoRA changes only the fused values, which a frozen graph would not see (checked:
    # without the engine dropping its graphs, 0.3 comes out 30 levels off).
    for weight in (0.8, 0.3):
        theirs = eager.generate(job(f"a lighthouse <lora:inkwash:{weight}>"))
        ours = compiled.generate(job(f"a lighthouse <lora:inkwash:{weight}>"))
        assert max_diff(ours.images[0], theirs.images[0]) <= 1, weight
        assert any(n.startswith("Compiled the UNet") for n in ours.notes)  # compiled again
        assert max_diff(plain.images[0], theirs.images[0]) > 1  # the LoRA shows


def test_without_a_cpp_compiler_the_job_runs_eager_and_says_so(
    monkeypatch: pytest.MonkeyPatch, eager: Engine
) -> None:
    monkeypatch.setattr(compile_mod, "find_cpp_compiler", lambda: None)
    e = engine(True)
    result = e.generate(job())
    assert result.notes == (
        "torch.compile is not available here (no C++ compiler found); running without it.",
    )
    assert "forward" not in e._pipes["base"].unet.__dict__
    assert max_diff(result.images[0], eager.generate(job()).images[0]) == 0
    assert e.generate(job()).notes == ()  # said once


def test_a_compile_error_at_the_first_call_falls_back_to_eager(
    monkeypatch: pytest.MonkeyPatch, eager: Engine
) -> None:
    # A backend that fails building the graph, as inductor does on a broken toolchain: dynamo
    # traces for real and raises BackendCompilerFailed at the first call.
    def unbuildable(gm: Any, inputs: Any, **options: Any) -> Any:
        raise RuntimeError("the C++ compiler crashed")

    monkeypatch.setattr(compile_mod, "BACKEND", unbuildable)
    e = engine(True)
    result = e.generate(job())
    assert result.notes == (
        "torch.compile failed on the UNet (RuntimeError: the C++ compiler crashed); running "
        "without it.",
    )
    assert "forward" not in e._pipes["base"].unet.__dict__
    assert max_diff(result.images[0], eager.generate(job()).images[0]) == 0
    assert e.generate(job()).notes == ()  # stays eager, said once


def test_the_installed_app_does_not_compile(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert compile_mod.compile_problem(CPU) == (
        "torch.compile is not available in the installed app; running without it."
    )


def test_setting_round_trips_and_bad_values_fall_back() -> None:
    import json

    from app.ui.settings import UiSettings, load_settings, save_settings, settings_path

    save_settings(UiSettings(compile_model=True))
    assert load_settings().compile_model is True
    settings_path().write_text(json.dumps({"compile_model": "yes"}), encoding="utf-8")
    assert load_settings().compile_model is False


def test_cli_compile_flag() -> None:
    from app.__main__ import build_parser

    parser = build_parser()
    assert parser.parse_args(["generate", "--prompt", "x", "--compile"]).compile is True
    assert parser.parse_args(["generate", "--prompt", "x"]).compile is False


def test_paged_weights_run_eager_and_say_so() -> None:
    e = engine(True)
    e.page_weights()
    result = e.generate(job())
    assert result.notes == (
        "torch.compile is off while the weights are paged from disk (too little RAM for a "
        "compiled copy); running without it.",
    )
    assert "forward" not in e._pipes["base"].unet.__dict__


def test_a_precision_change_drops_the_compiled_networks() -> None:
    e = engine(True)
    e._compile_notes()  # the wrappers go on; nothing compiles before their first call
    unet = e._pipes["base"].unet
    assert unet.__dict__["forward"] is e._compiled.wrappers[0]
    e.set_precision("bf16")
    assert e._compiled is None and "forward" not in unet.__dict__


def test_the_checkbox_and_the_worker_carry_the_setting(qtbot: Any) -> None:
    from app.ui.settings import UiSettings
    from app.ui.settings_panel import SettingsPanel
    from app.workers.engine_worker import _EngineLoop
    from app.workers.jobs import JobQueue, LoadCommand

    panel = SettingsPanel()
    qtbot.addWidget(panel)
    panel.apply(UiSettings(compile_model=True))
    assert panel.compile_model.isChecked()
    panel.compile_model.setChecked(False)
    assert panel.read_into(UiSettings(compile_model=True)).compile_model is False
    loop = _EngineLoop(JobQueue(), None, "cpu", 0.0, None)
    loop._engine = Engine(CPU)
    loop._load(LoadCommand(compile_model=True))
    assert loop._engine.compile_model is True
