"""Samplers and schedules as the webui names them: the table, Automatic, substitutes."""

from __future__ import annotations

import pytest

from app.errors import InvalidRequest
from app.request import GenerationRequest, validate
from app.samplers import (
    SAMPLER_NAMES,
    SCHEDULES,
    resolve_sampler,
    schedules_for,
    split_sampler,
    substitute,
)


@pytest.mark.parametrize(
    ("sampler", "automatic"),
    [
        # modules/sd_samplers_kdiffusion.py (webui 1.10): the 'scheduler' option per sampler
        ("DPM++ 2M", "Karras"),
        ("DPM++ SDE", "Karras"),
        ("DPM++ 2M SDE", "Exponential"),
        ("DPM++ 2M SDE Heun", "Exponential"),
        ("DPM++ 3M SDE", "Exponential"),
        ("DPM2", "Karras"),
        ("DPM2 a", "Karras"),
        ("Euler a", "Uniform"),
        ("Euler", "Uniform"),
        ("LMS", "Uniform"),
        ("Heun", "Uniform"),
    ],
)
def test_automatic_is_the_webuis_default_schedule(sampler: str, automatic: str) -> None:
    spec = resolve_sampler(sampler, "Automatic")
    assert spec is not None and spec.schedule == automatic
    assert resolve_sampler(sampler, "") == spec


def test_both_spellings_resolve_to_the_same_config() -> None:
    old = resolve_sampler("DPM++ 2M Karras")
    new = resolve_sampler("DPM++ 2M", "Karras")
    assert old == new
    assert old is not None and old.options["use_karras_sigmas"] is True
    assert split_sampler("dpm++ 2m sde karras") == ("DPM++ 2M SDE", "Karras")
    assert split_sampler("Euler a") == ("Euler a", "")
    # An explicit schedule wins over one in the old name.
    exp = resolve_sampler("DPM++ 2M Karras", "Exponential")
    assert exp is not None and exp.options.get("use_exponential_sigmas") is True
    assert "use_karras_sigmas" not in exp.options


@pytest.mark.parametrize(
    ("schedule", "option"),
    [
        ("Karras", {"use_karras_sigmas": True}),
        ("Exponential", {"use_exponential_sigmas": True}),
        ("Beta", {"use_beta_sigmas": True}),
        ("SGM Uniform", {"timestep_spacing": "trailing"}),
        ("Uniform", {"timestep_spacing": "linspace"}),
    ],
)
def test_schedules_map_to_diffusers_options(schedule: str, option: dict) -> None:
    spec = resolve_sampler("Euler", schedule)
    assert spec is not None
    assert option.items() <= spec.options.items()


def test_euler_a_runs_any_schedule_through_easels_subclass() -> None:
    uniform = resolve_sampler("Euler a")
    karras = resolve_sampler("Euler a", "Karras")
    assert uniform is not None and uniform.scheduler == "EulerAncestralDiscreteScheduler"
    assert karras is not None and karras.scheduler == "EulerAncestralSigmasScheduler"


def test_every_schedule_offered_resolves() -> None:
    assert SCHEDULES[0] == "Automatic"
    for sampler in SAMPLER_NAMES:
        for schedule in schedules_for(sampler):
            assert resolve_sampler(sampler, schedule) is not None, (sampler, schedule)
    assert schedules_for("DDIM") == ("Automatic", "Uniform")


def test_a_schedule_the_sampler_cannot_run_is_refused_with_the_choices() -> None:
    with pytest.raises(InvalidRequest, match=r"^DDIM cannot run the schedule 'Karras'; choose"):
        validate(GenerationRequest("p", sampler="DDIM", schedule="Karras"))
    with pytest.raises(InvalidRequest, match="schedule 'Wobbly'"):
        validate(GenerationRequest("p", sampler="Euler", schedule="Wobbly"))


def test_webui_samplers_diffusers_cannot_run_are_named_not_swapped_silently() -> None:
    r = substitute("DPM++ 2S a", "Karras")
    assert (r.sampler, r.schedule) == ("DPM++ SDE", "Karras")
    assert r.message == "The sampler DPM++ 2S a is not available in Easel; DPM++ SDE is used."
    r = substitute("Restart", "")
    assert r.sampler == "Heun" and "Restart" in r.message
    r = substitute("Magic 3000", "", fallback="Euler")
    assert r.sampler == "Euler" and "'Magic 3000' is unknown" in r.message
    r = substitute("DPM++ 2M", "Align Your Steps")
    assert r.sampler == "DPM++ 2M Karras" and "Align Your Steps is not available" in r.message
    r = substitute("DDIM", "Karras")
    assert (
        r.sampler == "DDIM" and r.message == "DDIM cannot run the Karras schedule; Uniform is used."
    )
    # What runs as written says nothing.
    assert substitute("DPM++ 2M", "Karras").message == ""
    assert substitute("DPM++ 2M Karras", "").message == ""


def test_variation_fields_are_validated() -> None:
    with pytest.raises(InvalidRequest, match="Variation strength must be between 0 and 1"):
        validate(GenerationRequest("p", subseed_strength=1.5))
    with pytest.raises(InvalidRequest, match="Variation seed must be -1"):
        validate(GenerationRequest("p", subseed=-7, subseed_strength=0.5))
    with pytest.raises(InvalidRequest, match="txt2img only"):
        validate(GenerationRequest("p", mode="img2img", subseed_strength=0.5))
