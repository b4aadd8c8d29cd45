"""``python -m app serve``'s API driven by real clients: the ``webuiapi`` package and plain
HTTP, against uvicorn on a free port and two tiny random models. Images must equal the
engine's own for the same request, pixel for pixel."""

from __future__ import annotations

import base64
import io
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from app.request import GenerationRequest
from tests.serverkit import (
    LiveServer,
    cpu_engine,
    make_runner,
    module_home_fixture,
    tiny_model_folders,
)

webuiapi = pytest.importorskip("webuiapi")
TIMEOUT = 60.0


easel_home = module_home_fixture()


@pytest.fixture(scope="module")
def models(easel_home: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return tiny_model_folders(tmp_path_factory.mktemp("server-models"))


@pytest.fixture(scope="module")
def runner(models: dict[str, Path]) -> Iterator[Any]:
    r = make_runner(models["tiny-a"], gallery=True)
    yield r
    assert r.stop()


@pytest.fixture(scope="module")
def server(runner: Any) -> Iterator[LiveServer]:
    from app.server.api import create_app

    live = LiveServer(create_app(runner)).start()
    yield live
    live.stop()


@pytest.fixture(scope="module")
def api(server: LiveServer) -> Any:
    return webuiapi.WebUIApi(host="127.0.0.1", port=server.port, sampler="Euler a", steps=2)


@pytest.fixture(scope="module")
def reference(models: dict[str, Path]) -> dict[str, Any]:
    """The engine on its own, for the images the API must reproduce."""
    return {name: cpu_engine(path) for name, path in models.items()}


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"))


def photo_and_mask() -> tuple[Image.Image, Image.Image]:
    y, x = np.mgrid[0:64, 0:64]
    arr = np.stack([x * 4, y * 4, (x + y) * 2], axis=-1).astype(np.uint8)
    mask = np.zeros((64, 64), np.uint8)
    mask[16:40, 24:48] = 255
    return Image.fromarray(arr, "RGB"), Image.fromarray(mask, "L")


def test_txt2img_equals_the_engine_and_lands_in_the_gallery(
    api: Any, reference: dict[str, Any], easel_home: Path
) -> None:
    from app.library.gallery import Gallery
    from app.library.infotext import parse_infotext

    with Gallery() as g:
        before = g.count()
    res = api.txt2img(
        prompt="a red fox, in snow",
        negative_prompt="blurry",
        seed=11,
        steps=2,
        cfg_scale=5.5,
        width=64,
        height=64,
        batch_size=2,
        sampler_name="Euler a",
        styles=["unknown fields are ignored"],
    )
    want = reference["tiny-a"].generate(
        GenerationRequest(
            "a red fox, in snow",
            "blurry",
            sampler="Euler a",
            steps=2,
            cfg_scale=5.5,
            seed=11,
            width=64,
            height=64,
            batch_size=2,
        )  # fmt: skip
    )
    assert len(res.images) == 2
    for got, exp in zip(res.images, want.images, strict=True):
        assert np.array_equal(pixels(got), pixels(exp))
    info = res.info
    assert info["seed"] == 11 and info["all_seeds"] == [11, 12]
    assert info["infotexts"] == want.infotexts
    assert info["sd_model_name"] == "tiny-a" and info["width"] == 64
    assert res.images[0].info["parameters"] == want.infotexts[0]  # the PNG's own chunk
    assert parse_infotext(info["infotexts"][1]).params["Seed"] == "12"
    assert res.parameters["prompt"] == "a red fox, in snow" and res.parameters["steps"] == 2
    with Gallery() as g:
        assert g.count() == before + 2


def engine_img2img(
    reference: dict[str, Any], prompt: str, init: Image.Image, **kw: Any
) -> Image.Image:
    """The engine's own img2img at 64x64 with Euler a: what the API must reproduce."""
    req = GenerationRequest(prompt, mode="img2img", sampler="Euler a", width=64, height=64)
    return reference["tiny-a"].generate(req.replace(init_image=init, **kw)).images[0]


def test_img2img_and_inpaint_equal_the_engine(api: Any, reference: dict[str, Any]) -> None:
    init, mask = photo_and_mask()
    res = api.img2img(
        images=[init], prompt="oil painting", seed=3, steps=4, width=64, height=64,
        denoising_strength=0.5, cfg_scale=7,
    )  # fmt: skip
    want = engine_img2img(reference, "oil painting", init, steps=4, seed=3, strength=0.5)
    assert np.array_equal(pixels(res.image), pixels(want))
    assert "Denoising strength: 0.5" in res.info["infotexts"][0]

    res = api.img2img(
        images=[init], mask_image=mask, inpaint_full_res=False, mask_blur=2, prompt="a moon",
        seed=5, steps=2, width=64, height=64, denoising_strength=1.0,
    )  # fmt: skip
    want = reference["tiny-a"].generate(
        GenerationRequest(
            "a moon",
            mode="inpaint",
            sampler="Euler a",
            steps=2,
            seed=5,
            width=64,
            height=64,
            strength=1.0,
            init_image=init,
            mask=mask,
            mask_blur=2,
        )  # fmt: skip
    )
    got = pixels(res.image)
    assert np.array_equal(got, pixels(want.images[0]))
    outside = np.asarray(mask) == 0
    assert np.array_equal(got[outside], np.asarray(init)[outside])


def test_img2img_resize_and_fill_equals_the_engine_on_the_filled_picture(
    api: Any, reference: dict[str, Any]
) -> None:
    """resize_mode 2: a wide picture fitted into 64x64 with its edges stretched into the
    bands above and below, then img2img on that, as the webui does."""
    from app.server.convert import resize_and_fill

    rng = np.random.default_rng(4)
    wide = Image.fromarray(rng.integers(0, 255, (40, 96, 3), dtype=np.uint8))
    res = api.img2img(
        images=[wide], prompt="a harbour", seed=8, steps=2, width=64, height=64,
        denoising_strength=0.6, resize_mode=2,
    )  # fmt: skip
    filled = resize_and_fill(wide, (64, 64), Image.Resampling.LANCZOS)
    want = engine_img2img(reference, "a harbour", filled, steps=2, seed=8, strength=0.6)
    assert np.array_equal(pixels(res.image), pixels(want))


def test_resize_and_fill_keeps_the_whole_picture_and_stretches_its_edges() -> None:
    from app.server.convert import resize_and_fill

    rng = np.random.default_rng(5)
    for w, h in ((96, 40), (30, 80)):  # wider, then taller, than the square asked
        image = Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
        out = np.asarray(resize_and_fill(image, (64, 64), Image.Resampling.NEAREST), np.int16)
        if w > h:
            src_h = h * 64 // w
            top = 32 - src_h // 2
            inner = np.asarray(image.resize((64, src_h), Image.Resampling.NEAREST), np.int16)
            assert np.array_equal(out[top : top + src_h], inner)  # the whole picture, centred
            assert (out[:top] == out[0]).all() and (out[top + src_h :] == out[-1]).all()
        else:
            src_w = w * 64 // h
            left = 32 - src_w // 2
            inner = np.asarray(image.resize((src_w, 64), Image.Resampling.NEAREST), np.int16)
            assert np.array_equal(out[:, left : left + src_w], inner)
            assert (out[:, :left] == out[:, :1]).all() and (
                out[:, left + src_w :] == out[:, -1:]
            ).all()


def test_inpaint_only_masked_keeps_every_pixel_outside_the_mask(api: Any) -> None:
    init, mask = photo_and_mask()
    res = api.img2img(
        images=[init], mask_image=mask, inpaint_full_res=True, inpaint_full_res_padding=4,
        mask_blur=2, prompt="a moon", seed=5, steps=2, width=64, height=64,
    )  # fmt: skip
    got = pixels(res.image)
    outside = np.asarray(mask) == 0
    assert got.shape == (64, 64, 3)
    assert np.array_equal(got[outside], np.asarray(init)[outside])
    assert not np.array_equal(got[~outside], np.asarray(init)[~outside])


def test_progress_with_live_preview_then_interrupt_within_one_step(api: Any, runner: Any) -> None:
    box: dict[str, Any] = {}
    t = threading.Thread(
        target=lambda: box.update(res=api.txt2img(prompt="long", steps=1000, width=64, height=64))
    )
    t.start()
    assert runner.wait_for(lambda s: s.sampling_step >= 2, TIMEOUT)
    progress = api.get_progress()
    state = progress["state"]
    assert state["job_count"] == 1 and state["sampling_steps"] == 1000
    assert state["sampling_step"] >= 2 and 0 < progress["progress"] < 1
    assert progress["eta_relative"] > 0
    preview = Image.open(io.BytesIO(base64.b64decode(progress["current_image"])))
    assert preview.size[0] > 0
    job_id = runner.snapshot()[0].job_id
    api.interrupt()
    t.join(TIMEOUT)
    res = box["res"]
    # the webui's answer: the picture as far as it got, flagged as interrupted
    assert len(res.images) == 1 and res.images[0].size == (64, 64)
    assert res.info["interrupted"] is True
    assert runner.outcomes[job_id] == "interrupted"
    # The step running when the interrupt came finishes; no other starts.
    assert runner.last_steps[job_id] - runner.interrupted_at[job_id] <= 1
    idle = api.get_progress()
    assert idle["progress"] == 0 and idle["state"]["job_count"] == 0


def test_skip_moves_to_the_next_image_of_the_job(api: Any, runner: Any) -> None:
    box: dict[str, Any] = {}
    t = threading.Thread(
        target=lambda: box.update(
            res=api.txt2img(prompt="two", steps=1000, n_iter=2, width=64, height=64)
        )
    )
    t.start()
    assert runner.wait_for(lambda s: s.job_no == 0 and s.sampling_step >= 1, TIMEOUT)
    api.skip()
    assert runner.wait_for(lambda s: s.job_no == 1 and s.sampling_step >= 1, TIMEOUT)
    assert api.get_progress()["state"]["job_no"] == 1
    api.interrupt()
    t.join(TIMEOUT)
    assert len(box["res"].images) == 1  # the second, as far as it got; the skipped one is not


def test_models_list_switch_and_per_request_override(api: Any, reference: dict[str, Any]) -> None:
    assert {"tiny-a", "tiny-b"} <= set(api.util_get_model_names())
    item = next(m for m in api.get_sd_models() if m["model_name"] == "tiny-b")
    assert "/" not in item["filename"]  # never the server's paths
    api.util_set_model("tiny-b")
    try:
        assert api.util_get_current_model() == "tiny-b"
        assert api.get_options()["sd_model_checkpoint"] == "tiny-b"
        small = {"prompt": "a cat", "seed": 1, "steps": 2, "width": 64, "height": 64}
        res = api.txt2img(**small)
        want = {
            k: e.generate(
                GenerationRequest("a cat", sampler="Euler a", steps=2, seed=1, width=64, height=64)
            ).images[0]
            for k, e in reference.items()
        }
        assert res.info["sd_model_name"] == "tiny-b"
        assert np.array_equal(pixels(res.image), pixels(want["tiny-b"]))
        res = api.txt2img(override_settings={"sd_model_checkpoint": "tiny-a"}, **small)
        assert res.info["sd_model_name"] == "tiny-a"
        assert np.array_equal(pixels(res.image), pixels(want["tiny-a"]))
        # The override held for that request only (the webui's restore-afterwards).
        assert api.txt2img(**small).info["sd_model_name"] == "tiny-b"
    finally:
        api.util_set_model("tiny-a")
    assert api.util_get_current_model() == "tiny-a"


def test_lists_and_options(api: Any) -> None:
    names = api.util_get_sampler_names()
    assert {"Euler a", "DPM++ 2M Karras", "DDIM"} <= set(names)
    assert {"automatic", "karras"} <= set(api.util_get_scheduler_names())
    assert [u["name"] for u in api.get_upscalers()][:3] == ["None", "Lanczos", "Nearest"]
    assert api.get_loras() == []
    options = api.get_options()
    assert options["CLIP_stop_at_last_layers"] == 1 and options["samples_format"] == "png"
    api.set_options({"samples_format": "png", "not_an_option": 3})
    assert "not_an_option" not in api.get_options()


def test_png_info_reads_back_the_parameters(api: Any) -> None:
    res = api.txt2img(prompt="a lighthouse", negative_prompt="fog", seed=9, steps=2,
                      width=64, height=64)  # fmt: skip
    info = api.png_info(res.image)
    assert info.info == res.info["infotexts"][0]
    params = info.parameters
    assert params["Prompt"] == "a lighthouse" and params["Negative prompt"] == "fog"
    assert params["Seed"] == "9" and params["Size-1"] == "64"


def test_extra_single_image_lanczos(api: Any) -> None:
    init, _ = photo_and_mask()
    res = api.extra_single_image(init, upscaler_1="Lanczos", upscaling_resize=2)
    assert res.image.size == (128, 128)
    want = init.resize((128, 128), Image.Resampling.LANCZOS)
    assert np.array_equal(pixels(res.image), pixels(want))


def test_model_upscaler_listed_run_by_extras_and_hires(api: Any, easel_home: Path) -> None:
    """An upscaler file in the models' folder: listed by name (never its path), run by
    extra-single-image (equal to the engine's tiles + Lanczos) and by hires fix."""
    from safetensors.torch import save_file

    from app.engine.upscale import upscale_tiled
    from app.models.store import models_dir
    from tests.test_upscale import state, tiny_net

    folder = models_dir() / "upscalers"
    folder.mkdir(parents=True, exist_ok=True)
    net = tiny_net()
    save_file(state(net), folder / "4x-TinyServe.safetensors")
    listed = {u["name"]: u for u in api.get_upscalers()}
    assert listed["4x-TinyServe"]["scale"] == 4 and listed["4x-TinyServe"]["model_path"] is None
    init, _ = photo_and_mask()
    res = api.extra_single_image(init, upscaler_1="4x-tinyserve", upscaling_resize=2)
    want = upscale_tiled(net, init).resize((128, 128), Image.Resampling.LANCZOS)
    assert np.array_equal(pixels(res.image), pixels(want))
    hires = api.txt2img(prompt="a red fox", width=64, height=64, steps=2, seed=3, enable_hr=True,
                        hr_scale=2, hr_upscaler="4x-tinyserve", hr_second_pass_steps=1,
                        denoising_strength=0.5)  # fmt: skip
    assert hires.image.size == (128, 128)
    assert "Hires upscaler: 4x-TinyServe" in hires.info["infotexts"][0]


def test_openai_images_generations(server: LiveServer, reference: dict[str, Any]) -> None:
    body = {"prompt": "a red fox", "n": 2, "size": "64x64", "response_format": "b64_json",
            "model": "dall-e-3", "steps": 2, "seed": 21}  # fmt: skip
    r = httpx.post(f"{server.url}/v1/images/generations", json=body, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    want = reference["tiny-a"].generate(
        GenerationRequest("a red fox", steps=2, seed=21, width=64, height=64, batch_size=2)
    )
    assert len(data) == 2 and data[0]["revised_prompt"] == "a red fox"
    for item, exp in zip(data, want.images, strict=True):
        got = Image.open(io.BytesIO(base64.b64decode(item["b64_json"])))
        assert np.array_equal(pixels(got), pixels(exp))
    r = httpx.post(
        f"{server.url}/v1/images/generations",
        json={**body, "n": 1, "response_format": "url"},
        timeout=TIMEOUT,
    )
    assert r.json()["data"][0]["url"].startswith("data:image/png;base64,")
    r = httpx.post(f"{server.url}/v1/images/generations", json={**body, "size": "huge"})
    assert r.status_code == 422
    assert r.json()["error"]["message"] == "size 'huge' is not WIDTHxHEIGHT, e.g. 512x512."


def test_docs_and_ping(server: LiveServer) -> None:
    assert httpx.get(f"{server.url}/internal/ping").json() == {}
    assert httpx.get(f"{server.url}/docs").status_code == 200
    spec = httpx.get(f"{server.url}/openapi.json").json()
    assert {"/sdapi/v1/txt2img", "/sdapi/v1/img2img", "/v1/images/generations"} <= set(
        spec["paths"]
    )


def test_info_is_a_json_string(server: LiveServer) -> None:
    body = {"prompt": "x", "steps": 2, "width": 64, "height": 64, "seed": 4}
    r = httpx.post(f"{server.url}/sdapi/v1/txt2img", json=body, timeout=TIMEOUT)
    payload = r.json()
    assert isinstance(payload["info"], str)
    assert json.loads(payload["info"])["all_seeds"] == [4]
