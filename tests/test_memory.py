"""Adaptive memory: a faked small device takes measures up front; a forced OOM retries once."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from app.engine import memory
from app.engine.device import DeviceInfo
from app.engine.engine import Engine
from app.errors import OutOfMemory
from tests.lora_helpers import fresh_pipe, max_diff, request


def _engine(total_memory: int = 0) -> Engine:
    engine = Engine(DeviceInfo(kind="cpu", dtype="float32", name="CPU", total_memory=total_memory))
    engine.load_pipeline(fresh_pipe(), "tiny-sd")
    return engine


def _fits(pipe: Any, req: Any, measures: list[str]) -> int:
    """A device size the job fits in with exactly these measures (and not with fewer)."""
    return int(memory.estimate_peak(pipe, req, (), measures).total / memory.HEADROOM) + 1


def test_estimate_grows_with_size_batch_and_controlnets() -> None:
    pipe = fresh_pipe()
    small = memory.estimate_peak(pipe, request("x", width=64, height=64))
    big = memory.estimate_peak(pipe, request("x", width=128, height=128))
    batch = memory.estimate_peak(pipe, request("x", width=64, height=64, batch_size=4))
    net = memory.estimate_peak(pipe, request("x", width=64, height=64), [pipe.unet])
    assert small.weights == big.weights and big.vae == 4 * small.vae and big.unet == 4 * small.unet
    assert batch.total > small.total and batch.vae == 4 * small.vae
    assert net.weights > small.weights and net.unet == 2 * small.unet
    tiled = memory.estimate_peak(pipe, request("x", width=128, height=128), (), [memory.TILING])
    assert tiled.vae == small.vae  # one 64x64 tile of the tiny VAE at a time
    offload = memory.estimate_peak(pipe, request("x"), (), [memory.OFFLOAD])
    assert offload.weights < small.weights


def test_vae_tiling_is_chosen_when_it_alone_fits(monkeypatch: pytest.MonkeyPatch) -> None:
    req = request("a castle", width=128, height=128, seed=2)
    total = _fits(fresh_pipe(), req, [memory.TILING])
    engine = _engine(total)
    pipe = engine._pipes["base"]
    assert memory.plan(engine.device, pipe, req)[0] == [memory.TILING]
    seen: list[bool] = []
    decode = pipe.vae.decode

    def watching(*args: Any, **kwargs: Any) -> Any:
        seen.append(pipe.vae.use_tiling)
        return decode(*args, **kwargs)

    monkeypatch.setattr(pipe.vae, "decode", watching)
    result = engine.generate(req)
    assert seen == [True]
    assert result.notes == (f"Used VAE tiling to fit 128x128 in {total * 0.9 / 1024**2:.0f} MB.",)
    assert not pipe.vae.use_tiling  # taken off again for the next job
    roomy = _engine(0).generate(req)  # 0: the real RAM, plenty for the tiny model
    assert roomy.notes == ()
    # tiles blend at their seams, so the picture is close to, not equal to, the untiled one
    diff = np.abs(np.asarray(result.images[0], int) - np.asarray(roomy.images[0], int))
    assert diff.mean() < 8


def test_a_tight_fit_takes_several_measures_and_splits_the_batch() -> None:
    req = request("a castle", width=128, height=128, batch_size=2, seed=2)
    pipe = fresh_pipe()
    # a CPU pages its weights from disk where a GPU would offload them
    everything = [memory.SLICING, memory.TILING, memory.PAGED, memory.SPLIT]
    engine = _engine(_fits(pipe, req, everything))
    taken, _, _ = memory.plan(engine.device, engine._pipes["base"], req)
    assert taken == everything
    result = engine.generate(req)
    assert len(result.images) == 2 and result.seeds == [2, 3]
    assert result.notes[0].startswith(
        "Used attention slicing and VAE tiling and weights paged from disk and batch split "
        "to fit 128x128, batch 2"
    )
    # one image at a time, each with its own seed: the second equals a batch of 1 from seed 3
    one = _engine(_fits(pipe, req.replace(batch_size=1), [memory.SLICING, memory.TILING]))
    alone = one.generate(req.replace(batch_size=1, seed=3))
    assert max_diff(result.images[1], alone.images[0]) <= 1


def test_oom_on_the_first_try_retries_once_with_the_next_measure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = _engine()
    req = request("a castle", seed=9)
    expected = engine.generate(req)
    unet = engine._pipes["base"].unet
    forward = unet.forward
    calls = {"n": 0, "sliced": []}

    def oom_once(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        calls["sliced"].append(_sliced(unet))
        if calls["n"] == 1:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return forward(*args, **kwargs)

    monkeypatch.setattr(unet, "forward", oom_once)
    result = engine.generate(req)
    assert result.notes == ("Ran out of memory at 64x64; used attention slicing and tried again.",)
    assert calls["sliced"][0] is False and all(calls["sliced"][1:])
    assert max_diff(result.images[0], expected.images[0]) <= 1
    assert not _sliced(unet)  # off again afterwards


def test_oom_twice_fails_with_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = _engine()
    unet = engine._pipes["base"].unet

    def always(*args: Any, **kwargs: Any) -> Any:
        raise torch.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(unet, "forward", always)
    with pytest.raises(OutOfMemory, match="ran out of memory at 64x64, batch 1; lower the size"):
        engine.generate(request("a castle"))


def _sliced(unet: Any) -> bool:
    from diffusers.models.attention_processor import SlicedAttnProcessor

    return any(isinstance(p, SlicedAttnProcessor) for p in unet.attn_processors.values())
