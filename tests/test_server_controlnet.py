"""ControlNet through the API as the webui's ControlNet extension takes it, driven by the
``webuiapi`` client's own ControlNetUnit: the image equals the engine's for the same unit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image, ImageDraw

from app.request import ControlUnit, GenerationRequest
from app.server.controlnet_api import MODULES, units_from
from tests.serverkit import (
    LiveServer,
    cpu_engine,
    make_runner,
    module_home_fixture,
    tiny_model_folders,
)
from tests.test_controlnet import tiny_controlnet

webuiapi = pytest.importorskip("webuiapi")
TIMEOUT = 60.0
easel_home = module_home_fixture()
NET = "controlnet-sd15-canny"  # the catalog id the webui's name control_v11p_sd15_canny maps to


@pytest.fixture(scope="module")
def setup(easel_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from app.engine.tiny import build_components
    from app.server.api import create_app

    models = tiny_model_folders(tmp_path_factory.mktemp("server-models"))
    net = tiny_controlnet(build_components("tiny", seed=0), 7)
    runner = make_runner(models["tiny-a"])
    runner.engine.add_controlnet(NET, net)
    reference = cpu_engine(models["tiny-a"])
    reference.add_controlnet(NET, net)
    live = LiveServer(create_app(runner)).start()
    yield {"runner": runner, "reference": reference, "server": live}
    live.stop()
    assert runner.stop()


def drawing() -> Image.Image:
    im = Image.new("RGB", (64, 64), "white")
    ImageDraw.Draw(im).ellipse((10, 10, 54, 54), outline="black", width=4)
    return im


def test_a_controlnet_unit_from_webuiapi_equals_the_engine(setup: dict[str, Any]) -> None:
    api = webuiapi.WebUIApi(host="127.0.0.1", port=setup["server"].port)
    unit = webuiapi.ControlNetUnit(
        image=drawing(), module="invert (from white bg & black line)",
        model="control_v11p_sd15_canny [d14c016b]", weight=0.8, guidance_end=0.9,
        control_mode=1,
    )  # fmt: skip
    res = api.txt2img(prompt="a ring", seed=3, steps=2, width=64, height=64,
                      sampler_name="Euler a", controlnet_units=[unit], alwayson_scripts={})  # fmt: skip
    want = setup["reference"].generate(
        GenerationRequest(
            "a ring",
            sampler="Euler a",
            steps=2,
            seed=3,
            width=64,
            height=64,
            controlnets=(
                ControlUnit(
                    NET,
                    drawing(),
                    "invert",
                    0.8,
                    0.0,
                    0.9,
                    "My prompt is more important",
                    64.0,
                    64.0,
                ),
            ),
        )  # fmt: skip
    )
    got = np.asarray(res.image.convert("RGB"))
    assert np.array_equal(got, np.asarray(want.images[0].convert("RGB")))
    # A fresh dict: webuiapi's default alwayson_scripts={} is shared between calls, so the
    # first call's units would be sent again.
    plain = api.txt2img(prompt="a ring", seed=3, steps=2, width=64, height=64,
                        sampler_name="Euler a", alwayson_scripts={})  # fmt: skip
    assert not np.array_equal(got, np.asarray(plain.image.convert("RGB")))
    assert 'ControlNet 0: "Module: invert' in res.info["infotexts"][0]


def test_the_extensions_list_endpoints(setup: dict[str, Any]) -> None:
    api = webuiapi.WebUIApi(host="127.0.0.1", port=setup["server"].port)
    assert api.controlnet_version() == 2
    assert {"canny", "depth_anything_v2", "openpose", "none"} <= set(api.controlnet_module_list())
    assert isinstance(api.controlnet_model_list(), list)


def _png() -> str:
    import base64
    import io

    buf = io.BytesIO()
    drawing().save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


PNG = _png()


@pytest.mark.parametrize(
    ("arg", "message"),
    [
        ({"module": "hed", "model": "x", "image": ""}, "'hed' is not available in Easel"),
        ({"module": "canny", "model": "../../etc/passwd"}, "paths and URLs are not accepted"),
        ({"module": "canny", "model": "None"}, "has no model"),
        ({"module": "canny", "model": "x"}, "has no image"),
        ({"module": "canny", "model": "x", "image": "bm90IGFuIGltYWdl"}, "image"),
        (
            {"module": "canny", "model": "x", "control_mode": 7, "image": PNG},
            "control_mode must be",
        ),
    ],
)
def test_bad_units_are_one_sentence_422(setup: dict[str, Any], arg: dict, message: str) -> None:
    body = {"prompt": "x", "steps": 2, "width": 64, "height": 64,
            "alwayson_scripts": {"controlnet": {"args": [arg]}}}  # fmt: skip
    r = httpx.post(f"{setup['server'].url}/sdapi/v1/txt2img", json=body, timeout=TIMEOUT)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert message in detail and "\n" not in detail and "Traceback" not in r.text


def test_units_parse_as_the_extension_writes_them() -> None:
    init = drawing()
    units = units_from(
        {"ControlNet": {"args": [
            {"enabled": False, "module": "canny", "model": "x"},
            {"module": "depth_midas", "model": "my_depth [abcdef12]", "threshold_a": -1,
             "control_mode": "ControlNet is more important"},
        ]}},
        fallback=init,
    )  # fmt: skip
    assert len(units) == 1  # the disabled one is dropped
    (u,) = units
    assert (u.model, u.preprocessor, u.control_mode) == (
        "my_depth", "depth", "ControlNet is more important",
    )  # fmt: skip
    assert u.image is init and u.threshold_a == 100.0  # img2img: the init image by default
    assert units_from({"ControlNet": {"args": []}}) == ()
    assert set(MODULES.values()) <= {"none", "canny", "invert", "lineart", "scribble", "depth",
                                      "openpose"}  # fmt: skip
