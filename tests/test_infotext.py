"""The A1111 infotext: parsing, writing, and restoring a request from it."""

from __future__ import annotations

import pytest

from app.library.infotext import (
    InfoText,
    format_infotext,
    infer_mode,
    infotext_from_request,
    parse_infotext,
    request_from_infotext,
)
from app.request import GenerationRequest

A1111_SAMPLE = (
    "a castle on a hill, golden hour\n"
    "Negative prompt: blurry, lowres\n"
    "Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 1234, "
    "Size: 768x512, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, "
    "Denoising strength: 0.45, Version: v1.10.1"
)


def test_parse_a1111_sample() -> None:
    info = parse_infotext(A1111_SAMPLE)
    assert info.prompt == "a castle on a hill, golden hour"
    assert info.negative_prompt == "blurry, lowres"
    assert list(info.params) == [
        "Steps",
        "Sampler",
        "Schedule type",
        "CFG scale",
        "Seed",
        "Size",
        "Model hash",
        "Model",
        "Denoising strength",
        "Version",
    ]
    assert info.params["Sampler"] == "DPM++ 2M"
    assert info.params["Size"] == "768x512"
    assert info.params["Version"] == "v1.10.1"
    assert format_infotext(info) == A1111_SAMPLE


def test_every_request_field_round_trips() -> None:
    req = GenerationRequest(
        prompt="a red fox\nin the snow",
        negative_prompt="blurry,\nwatermark",
        mode="outpaint",
        sampler="DPM++ 2M SDE Karras",
        steps=31,
        cfg_scale=6.5,
        seed=-1,
        width=640,
        height=448,
        strength=0.6,
        outpaint=(64, 0, 128, 32),
        mask_blur=12,
        model="my model, v2: final",
        model_hash="abcdef0123",
    )
    text = infotext_from_request(req, seed=987654321, version="9.9")
    assert "Sampler: DPM++ 2M SDE, Schedule type: Karras" in text
    assert 'Outpaint: "64,0,128,32"' in text
    assert "Version: Easel 9.9" in text
    assert "Mode" not in parse_infotext(text).params

    back = request_from_infotext(parse_infotext(text))
    assert back.prompt == req.prompt
    assert back.negative_prompt == req.negative_prompt
    assert back.mode == "outpaint"
    assert back.sampler == "DPM++ 2M SDE Karras"
    assert (back.steps, back.cfg_scale, back.seed) == (31, 6.5, 987654321)
    assert (back.width, back.height) == (640, 448)
    assert back.strength == 0.6
    assert back.outpaint == (64, 0, 128, 32)
    assert back.mask_blur == 12
    assert back.model == "my model, v2: final"
    assert back.model_hash == "abcdef0123"


def test_txt2img_writes_usual_keys_in_order_and_no_img2img_keys() -> None:
    req = GenerationRequest(prompt="a cat", sampler="Euler a", steps=20, cfg_scale=7.0)
    text = infotext_from_request(req, seed=42, version="0.1.0")
    assert text == (
        "a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 512x512, "
        "Version: Easel 0.1.0"
    )
    back = request_from_infotext(parse_infotext(text))
    assert back.mode == "txt2img"


def test_mode_is_inferred_from_keys() -> None:
    img2img = GenerationRequest(prompt="p", mode="img2img", strength=0.3)
    inpaint = GenerationRequest(prompt="p", mode="inpaint", strength=0.9)
    assert infer_mode(parse_infotext(infotext_from_request(img2img, 1))) == "img2img"
    assert infer_mode(parse_infotext(infotext_from_request(inpaint, 1))) == "inpaint"
    restored = request_from_infotext(parse_infotext(infotext_from_request(img2img, 1)))
    assert (restored.mode, restored.strength) == ("img2img", 0.3)


def test_extra_keys_are_appended() -> None:
    req = GenerationRequest(prompt="x")
    text = infotext_from_request(req, 5, extra={"Clip skip": "2", "Lora hashes": "a: 1, b: 2"})
    params = parse_infotext(text).params
    # Extras come before Version, which the webui always writes last.
    assert list(params)[-3:] == ["Clip skip", "Lora hashes", "Version"]
    assert params["Lora hashes"] == "a: 1, b: 2"


def test_unknown_keys_survive_read_write() -> None:
    text = (
        "portrait\nSteps: 30, Sampler: Euler, CFG scale: 5, Seed: 7, Size: 512x768, "
        'Hires upscale: 2, Hires upscaler: Latent, Lora hashes: "detail: 0123abcd", '
        "Future thing/x-y: on, Version: v1.9.0"
    )
    info = parse_infotext(text)
    assert info.params["Hires upscale"] == "2"
    assert info.params["Lora hashes"] == "detail: 0123abcd"
    assert info.params["Future thing/x-y"] == "on"
    assert format_infotext(info) == text
    assert parse_infotext(format_infotext(info)) == info


def test_quoted_values_with_comma_and_colon() -> None:
    info = InfoText(
        "p",
        "",
        {
            "Steps": "20",
            "Sampler": "Euler",
            "Model": "weird, name: v2",
            "Note": 'said "hi"\nthen left',
            "Starts": '"quoted',
        },
    )
    text = format_infotext(info)
    assert 'Model: "weird, name: v2"' in text
    assert text.count("\n") == 1  # the newline inside a value is escaped, not written
    assert parse_infotext(text) == info


def test_multiline_prompt_and_negative() -> None:
    info = InfoText(
        "line one\nline two, with comma\n\nline four",
        "bad hands\nbad feet",
        {"Steps": "20", "Sampler": "Euler", "CFG scale": "7", "Seed": "1"},
    )
    parsed = parse_infotext(format_infotext(info))
    assert parsed == info


def test_prompt_ending_like_params_with_fewer_than_3_pairs_stays_prompt() -> None:
    text = "a landscape\nstyle: watercolor, mood: calm"
    info = parse_infotext(text)
    assert info.prompt == text
    assert info.params == {}
    # ...and written back unchanged.
    assert format_infotext(info) == text


def test_both_sampler_forms_restore_the_same_sampler() -> None:
    old = parse_infotext("p\nSteps: 20, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 1")
    new = parse_infotext(
        "p\nSteps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 1"
    )
    assert request_from_infotext(old).sampler == "DPM++ 2M Karras"
    assert request_from_infotext(new).sampler == "DPM++ 2M Karras"


def test_unknown_sampler_and_bad_numbers_keep_base_values() -> None:
    base = GenerationRequest(prompt="old", sampler="Euler", steps=33, cfg_scale=4.5, seed=9)
    info = parse_infotext(
        "new\nSteps: many, Sampler: Magic Sampler 3000, CFG scale: nan, Seed: x12, "
        "Size: huge, Denoising strength: ?"
    )
    restored = request_from_infotext(info, base)
    assert restored.prompt == "new"
    assert restored.sampler == "Euler"
    assert (restored.steps, restored.cfg_scale, restored.seed) == (33, 4.5, 9)
    assert (restored.width, restored.height) == (512, 512)
    assert restored.strength == base.strength


def test_unknown_schedule_keeps_the_sampler() -> None:
    info = parse_infotext("p\nSteps: 20, Sampler: DPM++ 2M, Schedule type: Exponential, Seed: 3")
    assert request_from_infotext(info).sampler == "DPM++ 2M"


def test_empty_negative_omits_the_line() -> None:
    text = infotext_from_request(GenerationRequest(prompt="a dog", negative_prompt=""), 1)
    assert "Negative prompt" not in text
    assert parse_infotext(text).negative_prompt == ""


def test_non_latin1_prompt() -> None:
    req = GenerationRequest(prompt="猫が屋根の上で寝ている, ✨", negative_prompt="Ünschärfe")
    text = infotext_from_request(req, 77)
    restored = request_from_infotext(parse_infotext(text))
    assert restored.prompt == req.prompt
    assert restored.negative_prompt == "Ünschärfe"
    assert restored.seed == 77


@pytest.mark.parametrize(
    "junk",
    ["", "\n\n", "Negative prompt:", 'Steps: "unterminated, Seed: 1, CFG scale: 2', "::,,::"],
)
def test_junk_never_raises(junk: str) -> None:
    info = parse_infotext(junk)
    assert isinstance(info.prompt, str)
    request_from_infotext(info)  # lenient all the way through


def test_params_only_text() -> None:
    info = parse_infotext("Steps: 20, Sampler: Euler, CFG scale: 7, Seed: 5")
    assert info.prompt == ""
    assert info.params["Seed"] == "5"
