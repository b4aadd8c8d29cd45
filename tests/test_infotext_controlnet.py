"""ControlNet units in the infotext: written as the webui's ControlNet extension writes them,
read back on restore."""

from __future__ import annotations

from PIL import Image

from app.library.infotext import infotext_from_request, parse_infotext, request_from_infotext
from app.request import ControlUnit, GenerationRequest

WEBUI = (
    'ControlNet 0: "Module: canny, Model: control_v11p_sd15_canny [d14c016b], Weight: 1, '
    "Resize Mode: Crop and Resize, Processor Res: 512, Threshold A: 100, Threshold B: 200, "
    'Guidance Start: 0, Guidance End: 1, Pixel Perfect: False, Control Mode: Balanced"'
)


def test_unit_is_written_as_the_extension_writes_it() -> None:
    unit = ControlUnit("control_v11p_sd15_canny", preprocessor="canny", model_hash="d14c016b")
    text = infotext_from_request(GenerationRequest("a cat", controlnets=(unit,)), 5)
    last = text.splitlines()[-1]
    assert WEBUI in last
    assert last.index("ControlNet 0") < last.index("Version")


def test_webui_infotext_restores_model_and_settings() -> None:
    text = (
        "a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512, "
        + WEBUI
        + ', ControlNet 1: "Module: none, Model: control_v11f1p_sd15_depth, Weight: 0.5, '
        'Guidance Start: 0.1, Guidance End: 0.8, Control Mode: My prompt is more important"'
    )
    drawing = Image.new("RGB", (8, 8))
    base = GenerationRequest("", controlnets=(ControlUnit("old", drawing),))
    req = request_from_infotext(parse_infotext(text), base)
    a, b = req.controlnets
    assert (a.model, a.model_hash, a.preprocessor, a.weight) == (
        "control_v11p_sd15_canny",
        "d14c016b",
        "canny",
        1.0,
    )
    assert (a.threshold_a, a.threshold_b, a.control_mode) == (100.0, 200.0, "Balanced")
    assert a.image is drawing  # the control image is not in the metadata: the base's stays
    assert (b.model, b.weight, b.guidance_start, b.guidance_end) == (
        "control_v11f1p_sd15_depth",
        0.5,
        0.1,
        0.8,
    )
    assert b.control_mode == "My prompt is more important" and b.image is None


def test_round_trip_and_no_units_clear_them() -> None:
    units = (
        ControlUnit(
            "/models/ControlNet/my_scribble.safetensors",
            preprocessor="scribble",
            weight=1.25,
            guidance_start=0.2,
            control_mode="ControlNet is more important",
        ),
    )
    req = GenerationRequest("x", controlnets=units)
    back = request_from_infotext(parse_infotext(infotext_from_request(req, 1)))
    assert back.controlnets[0] == units[0].replace(model="my_scribble")
    plain = request_from_infotext(
        parse_infotext(infotext_from_request(GenerationRequest("x"), 1)), req
    )
    assert plain.controlnets == ()
