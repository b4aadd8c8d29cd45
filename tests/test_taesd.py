"""TAESD: full-resolution previews within 5% of the generation time, the matrix otherwise."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from app.engine import taesd
from app.engine.preview import latents_to_rgb
from app.engine.taesd import Previewer, TinyDecoder, build_tiny_taesd
from tests.lora_helpers import engine_on, request


class _Clock:
    """A clock the decoder moves: each TAESD preview costs ``cost`` seconds."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class _TimedDecoder(TinyDecoder):
    def __init__(self, clock: _Clock, cost: float) -> None:
        super().__init__(build_tiny_taesd())
        self.clock, self.cost = clock, cost

    def preview(self, latent: Any) -> np.ndarray:
        self.clock.now += self.cost
        return super().preview(latent)


@pytest.mark.parametrize("cost", [0.02, 0.1, 0.3, 1.5])
def test_previews_stay_within_five_percent(cost: float) -> None:
    """Steps of 1 s; a TAESD preview of ``cost`` s (the real one is ~0.1-0.2 of a step)."""
    clock = _Clock()
    previewer = Previewer(_TimedDecoder(clock, cost), "sd", clock=clock)
    latent = torch.randn(4, 8, 8)
    for i in range(60):
        clock.now += 1.0
        image = previewer.preview(latent, clock.now, i + 1)  # previews count as time too
        assert image.shape in ((64, 64, 3), (8, 8, 3))
        if cost <= taesd.FIRST_GUESS:  # the first guess holds: never over, at any step
            assert previewer.spent <= 0.05 * clock.now + 1e-9
    assert previewer.tiny_previews + previewer.matrix_previews == 60
    assert previewer.spent <= 0.05 * clock.now
    if cost <= 0.02:
        assert previewer.tiny_previews >= 55  # cheap enough for (nearly) every step
    else:
        assert previewer.tiny_previews >= 1
        assert previewer.spent >= 0.025 * clock.now - cost  # the budget is used, not wasted


def test_preview_is_taesds_picture_at_full_resolution() -> None:
    vae = build_tiny_taesd()
    latent = torch.randn(4, 8, 8, generator=torch.Generator().manual_seed(0))
    image = Previewer(TinyDecoder(vae), "sd", budget=1.0).preview(latent, 1.0)
    with torch.no_grad():
        expected = (vae.decode(latent[None]).sample[0].permute(1, 2, 0) / 2 + 0.5).clamp(0, 1)
    assert image.shape == (64, 64, 3)
    assert np.abs(image.astype(int) - (expected.numpy() * 255).round().astype(int)).max() <= 1


def test_without_taesd_the_matrix_previews_every_step() -> None:
    latent = torch.randn(4, 8, 8)
    previewer = Previewer(None, "sdxl")
    out = previewer.preview(latent, 5.0, 1)
    assert (out == latents_to_rgb(latent, "sdxl")).all() and previewer.matrix_previews == 1


def test_engine_previews_through_taesd_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = engine_on()
    assert engine.preview_decoder() is None  # nothing installed: matrix previews
    shapes: list[tuple[int, ...]] = []
    engine.generate(
        request("a boat", steps=3), on_progress=lambda p: shapes.append(p.preview.shape)
    )
    assert shapes == [(8, 8, 3)] * 3

    engine.set_preview_decoder(build_tiny_taesd())
    monkeypatch.setattr(taesd, "PREVIEW_BUDGET", 1.0)  # the tiny UNet is as cheap as TAESD
    shapes.clear()
    plain = engine.generate(
        request("a boat", steps=3), on_progress=lambda p: shapes.append(p.preview.shape)
    )
    assert (64, 64, 3) in shapes
    # previews never change the picture: Quality still decodes with the full VAE
    engine.set_preview_decoder(None)
    again = engine.generate(request("a boat", steps=3))
    assert np.array_equal(np.asarray(plain.images[0]), np.asarray(again.images[0]))


def test_installed_taesd_is_found_and_loaded(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.models import catalog, download
    from tests.hubserver import HubRepo, running_hub

    folder = tmp_path / "taesd"
    build_tiny_taesd().save_pretrained(folder)
    files = {p.name: p.read_bytes() for p in folder.iterdir()}
    entry = catalog.get("taesd")
    with running_hub(monkeypatch, tmp_path / "hf") as hub:
        hub.repos[entry.repo_id] = HubRepo.from_files(entry.repo_id, files)
        download.download_model(entry)
    engine = engine_on()
    decoder = engine.preview_decoder()
    assert isinstance(decoder, TinyDecoder) and decoder.name == "TAESD"
    latent = torch.randn(1, 4, 8, 8)
    assert decoder.decode_np(latent).shape == (1, 64, 64, 3)
