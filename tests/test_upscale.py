"""Upscaling through spandrel: a tiny random ESRGAN saved as .pth and .safetensors (both key
layouts) and a Compact (SRVGGNet) model, tiled equals untiled, progress and cancel, a pickle
that would run code refused before spandrel sees it, Lanczos."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from app.engine.upscale import (
    Upscaler,
    build_esrgan,
    from_state_dict,
    load_upscaler,
    upscale,
    upscale_tiled,
)
from app.errors import Cancelled, ModelLoadError


def tiny_net(scale: int = 4) -> Upscaler:
    torch.manual_seed(0)
    net = build_esrgan(num_filters=8, num_blocks=1, scale=scale)
    with torch.no_grad():
        for p in net.descriptor.model.parameters():
            p.normal_(0, 0.1)
    return net


def state(net: Upscaler) -> dict[str, torch.Tensor]:
    return {k: v.contiguous() for k, v in net.descriptor.model.state_dict().items()}


def picture(w: int = 40, h: int = 24) -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8))


def test_tiled_equals_untiled_and_reports_progress() -> None:
    net = tiny_net()
    whole = upscale_tiled(net, picture(), tile=1000)
    steps: list[tuple[int, int]] = []
    tiled = upscale_tiled(
        net, picture(), tile=16, overlap=24, on_progress=lambda a, b: steps.append((a, b))
    )
    assert whole.size == (160, 96)
    diff = np.abs(np.asarray(whole, np.int16) - np.asarray(tiled, np.int16)).max()
    assert diff <= 1
    assert steps[-1] == (6, 6) and len(steps) == 6


def test_cancel_stops_between_tiles() -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        upscale_tiled(tiny_net(), picture(), tile=16, cancel=cancel)


def test_pth_and_safetensors_and_new_layout_load_the_same(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    net = tiny_net()
    old = state(net)
    torch.save({"params_ema": old}, tmp_path / "x4.pth")
    save_file(old, tmp_path / "x4.safetensors")
    # Real-ESRGAN's key layout (conv_first, body.N.rdbK.convJ, ...), as its releases ship
    names = {"model.0": "conv_first", "model.3": "conv_up1", "model.6": "conv_up2"}
    names.update({"model.8": "conv_hr", "model.10": "conv_last", "model.1.sub.1": "conv_body"})
    new = {}
    for k, v in old.items():
        head, leaf = k.rsplit(".", 1)
        if head in names:
            new[f"{names[head]}.{leaf}"] = v
        else:  # model.1.sub.B.RDBk.convj.0
            _, _, _, b, rdb, conv, _ = head.split(".")
            new[f"body.{b}.rdb{rdb[-1]}.{conv}.{leaf}"] = v
    assert len(new) == len(old)
    save_file(new, tmp_path / "new.safetensors")
    ref = upscale_tiled(net, picture())
    for name in ("x4.pth", "x4.safetensors", "new.safetensors"):
        got = load_upscaler(tmp_path / name)
        assert got.scale == 4 and got.descriptor.architecture.id == "ESRGAN"
        assert np.array_equal(np.asarray(upscale_tiled(got, picture())), np.asarray(ref)), name


def test_a_compact_model_runs_like_its_network(tmp_path: Path) -> None:
    """spandrel's other architectures: a tiny SRVGGNetCompact (realesr-animevideov3's kind)
    found from its tensors, its tiled output equal to the bare network's on the whole."""
    from safetensors.torch import save_file

    from app.engine.upscale import _spandrel

    _spandrel()
    from spandrel.architectures.Compact import Compact

    torch.manual_seed(1)
    bare = Compact(num_feat=8, num_conv=2, upscale=2).eval()
    save_file({k: v.contiguous() for k, v in bare.state_dict().items()}, tmp_path / "c.safetensors")
    net = load_upscaler(tmp_path / "c.safetensors")
    assert net.scale == 2 and net.descriptor.architecture.id == "Compact"
    x = torch.from_numpy(np.asarray(picture(), np.float32) / 255).permute(2, 0, 1)[None]
    with torch.inference_mode():
        want = bare(x).clamp(0, 1)[0].permute(1, 2, 0).numpy()
    got = np.asarray(upscale_tiled(net, picture(), tile=16, overlap=16), np.float32) / 255
    assert np.abs(got - want).max() <= 1.5 / 255


def test_a_pickle_that_runs_code_is_refused_before_spandrel(tmp_path: Path) -> None:
    import pickle

    class Boom:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (print, ("pwned",))

    bad = tmp_path / "evil.pth"
    with bad.open("wb") as f:
        pickle.dump({"model.0.weight": Boom()}, f)
    from app.errors import UnsafeModelFile

    with pytest.raises(UnsafeModelFile):
        load_upscaler(bad)


def test_torchvision_stays_absent_after_spandrel() -> None:
    import importlib.util
    import sys

    from app.engine.upscale import _spandrel

    _spandrel()
    assert "torchvision" not in sys.modules
    if importlib.util.find_spec("torchvision") is None:  # this machine: none installed
        assert not any(m.startswith("torchvision") for m in sys.modules)


def test_not_an_upscaler_gets_a_sentence(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    save_file({"foo": torch.zeros(2)}, tmp_path / "foo.safetensors")
    with pytest.raises(ModelLoadError, match="foo.safetensors is not an upscaler Easel can run"):
        load_upscaler(tmp_path / "foo.safetensors")
    (tmp_path / "cut.safetensors").write_bytes(b"\x10\x00")
    with pytest.raises(ModelLoadError, match="damaged or incomplete"):
        load_upscaler(tmp_path / "cut.safetensors")
    with pytest.raises(ModelLoadError, match="grey pictures"):
        from spandrel.architectures.Compact import Compact

        from_state_dict(Compact(num_in_ch=1, num_out_ch=1, num_feat=4, num_conv=1).state_dict())


def test_scale_2_from_a_4x_model_and_lanczos() -> None:
    im = picture()
    assert upscale(im, "Lanczos", 2).size == (80, 48)
    assert upscale(im, "x", 2, load=lambda _: tiny_net()).size == (80, 48)
    assert upscale_tiled(tiny_net(2), im).size == (80, 48)


def test_cli_upscale_to_the_gallery(tmp_path: Path, easel_home: Path) -> None:
    from app.library.gallery import Gallery
    from app.library.pngio import read_parameters, write_png
    from tests.test_cli import run

    model = tmp_path / "4x-tiny.pth"
    torch.save(state(tiny_net()), model)
    src = tmp_path / "in.png"
    write_png(
        picture(), src, "a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 5, Size: 40x24"
    )
    res = run(
        "upscale",
        str(src),
        "--upscaler",
        str(model),
        "--scale",
        "4",
        "--tile",
        "16",
        home=easel_home,
    )
    assert res.returncode == 0, res.stderr
    out = Path(res.stdout.strip().splitlines()[-1])
    text = read_parameters(out) or ""
    assert "Postprocess upscale by: 4, Postprocess upscaler: 4x-tiny" in text
    assert text.startswith("a cat") and "Seed: 5" in text
    with Image.open(out) as im:
        assert im.size == (160, 96)
    gallery = Gallery()
    try:
        assert [Path(i.path) for i in gallery.items()] == [out]
    finally:
        gallery.close()
    lanczos = run(
        "upscale", str(src), "--scale", "2", "--out", str(tmp_path / "o"), home=easel_home
    )
    assert lanczos.returncode == 0, lanczos.stderr
    missing = run("upscale", str(src), "--upscaler", "nope", home=easel_home)
    assert missing.returncode == 1 and "is not installed" in missing.stderr


def test_a_catalog_download_folder_resolves_to_its_weights(tmp_path: Path) -> None:
    """The Models tab's downloads are snapshot folders; the window passes the folder's path."""
    from safetensors.torch import save_file

    from app.engine.upscale_job import resolve_upscaler

    snapshot = tmp_path / "RealESRGAN_x4plus" / "snapshots" / "abc"
    snapshot.mkdir(parents=True)
    save_file(state(tiny_net()), snapshot / "RealESRGAN_x4plus.safetensors")
    found = resolve_upscaler(str(tmp_path / "RealESRGAN_x4plus"))
    assert found == str(snapshot / "RealESRGAN_x4plus.safetensors")
    assert load_upscaler(found).scale == 4
    assert resolve_upscaler("Lanczos") == "Lanczos"
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="has no weights file"):
        resolve_upscaler(str(tmp_path / "empty"))
