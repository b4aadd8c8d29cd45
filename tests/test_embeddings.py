"""Textual-inversion embeddings, used when their file's stem is a word of the prompt: the same
picture as diffusers' own load_textual_inversion."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
import torch

from app.engine.tiny_networks import save_embedding
from app.errors import UnsafeModelFile
from app.library.infotext import parse_infotext
from app.models import registry
from app.models.checkpoints import inspect_checkpoint
from app.models.networks import list_networks
from tests.lora_helpers import diffusers_picture, engine_on, fresh_pipe, max_diff, request


@pytest.fixture
def emb_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "webui" / "embeddings"
    pipe = fresh_pipe()
    save_embedding(pipe, folder / "inkstyle.safetensors", vectors=3, seed=1)
    save_embedding(pipe, folder / "badhands.pt", vectors=2, seed=2)  # the webui's format
    registry.import_path(folder.parent)
    return folder


def test_webui_pt_embedding_is_an_embedding_not_an_unknown_file(emb_dir: Path) -> None:
    info = inspect_checkpoint(emb_dir / "badhands.pt")
    assert info.kind == "textual-inversion"
    kinds = {m.name: m.kind for m in registry.list_models(include_available=False)}
    assert kinds == {"inkstyle": "textual-inversion", "badhands": "textual-inversion"}


def test_embedding_word_equals_diffusers_load_textual_inversion(emb_dir: Path) -> None:
    engine = engine_on()
    result = engine.generate(request("a lighthouse, inkstyle, at dusk", "blurry"))
    theirs = diffusers_picture(
        "a lighthouse, inkstyle, at dusk",
        "blurry",
        embeddings=[(emb_dir / "inkstyle.safetensors", "inkstyle")],
    )
    assert max_diff(result.images[0], theirs) <= 1
    plain = engine.generate(request("a lighthouse, at dusk", "blurry"))
    assert max_diff(result.images[0], plain.images[0]) > 8
    # The webui matches names case-insensitively (CLIP lowercases), never inside other words.
    upper = engine.generate(request("a lighthouse, InkStyle, at dusk", "blurry"))
    assert max_diff(upper.images[0], result.images[0]) == 0
    inside = engine.generate(request("a lighthouse, inkstyles, at dusk", "blurry"))
    assert "TI hashes" not in inside.infotexts[0]
    assert engine.embeddings.loads == 1


def test_webui_pt_embedding_in_the_negative_prompt(emb_dir: Path) -> None:
    engine = engine_on()
    result = engine.generate(request("a lighthouse", "badhands, blurry"))
    theirs = diffusers_picture(
        "a lighthouse", "badhands, blurry", embeddings=[(emb_dir / "badhands.pt", "badhands")]
    )
    assert max_diff(result.images[0], theirs) <= 1
    info = parse_infotext(result.infotexts[0])
    digest = hashlib.sha256((emb_dir / "badhands.pt").read_bytes()).hexdigest()[:12]
    assert info.params["TI hashes"] == f"badhands: {digest}"
    assert info.negative_prompt == "badhands, blurry"  # the infotext keeps the word


def test_two_embeddings_and_a_lora_together(emb_dir: Path, tmp_path: Path) -> None:
    from app.engine.tiny_networks import save_kohya_lora

    lora = save_kohya_lora(fresh_pipe(), tmp_path / "l" / "Lora" / "ink.safetensors", seed=3)
    registry.import_path(lora.parent.parent)
    engine = engine_on()
    result = engine.generate(request("inkstyle lighthouse <lora:ink:0.6>", "badhands"))
    theirs = diffusers_picture(
        "inkstyle lighthouse ",
        "badhands",
        loras=[(lora, 0.6)],
        embeddings=[
            (emb_dir / "inkstyle.safetensors", "inkstyle"),
            (emb_dir / "badhands.pt", "badhands"),
        ],
    )
    assert max_diff(result.images[0], theirs) <= 1
    params = parse_infotext(result.infotexts[0]).params
    assert list(params)[-3:] == ["Lora hashes", "TI hashes", "Version"]
    assert params["TI hashes"].startswith("inkstyle: ") and "badhands: " in params["TI hashes"]


def test_sdxl_embedding_goes_into_both_text_encoders(tmp_path: Path) -> None:
    folder = tmp_path / "xl" / "embeddings"
    path = save_embedding(fresh_pipe("tiny-sdxl"), folder / "xlstyle.safetensors", vectors=2)
    registry.import_path(folder.parent)
    engine = engine_on("tiny-sdxl")
    result = engine.generate(request("a lighthouse, xlstyle"))
    theirs = diffusers_picture(
        "a lighthouse, xlstyle", arch="tiny-sdxl", embeddings=[(path, "xlstyle")]
    )
    assert max_diff(result.images[0], theirs) <= 1
    assert max_diff(result.images[0], diffusers_picture("a lighthouse,", arch="tiny-sdxl")) > 8


def test_embedding_for_another_family_stays_a_word(tmp_path: Path) -> None:
    folder = tmp_path / "xl" / "embeddings"
    save_embedding(fresh_pipe("tiny-sdxl"), folder / "xlstyle.safetensors")
    registry.import_path(folder.parent)
    engine = engine_on()  # SD 1.x: the SDXL embedding does not fit; the webui skips it too
    result = engine.generate(request("a lighthouse, xlstyle"))
    assert max_diff(result.images[0], diffusers_picture("a lighthouse, xlstyle")) <= 1
    assert "TI hashes" not in result.infotexts[0]


def test_embedding_that_runs_code_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "m" / "embeddings"
    folder.mkdir(parents=True)

    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, ("echo pwned",))

    torch.save({"string_to_param": {"*": Evil()}}, folder / "evil.pt")
    save_embedding(fresh_pipe(), folder / "fine.safetensors")
    registry.import_path(folder.parent)
    listed = {d["name"]: d for d in list_networks()}
    assert "calls os.system when it is loaded, so it is unsafe" in listed["evil"]["problem"]
    # A listed problem file is never opened; its word stays a word.
    result = engine_on().generate(request("evil fine"))
    assert "evil" not in parse_infotext(result.infotexts[0]).params.get("TI hashes", "")
    with pytest.raises(UnsafeModelFile):
        inspect_checkpoint(folder / "evil.pt")


def test_browser_listing_has_family_size_and_preview(emb_dir: Path, tmp_path: Path) -> None:
    from PIL import Image

    from app.engine.tiny_networks import save_kohya_lora

    lora = save_kohya_lora(fresh_pipe(), tmp_path / "l" / "Lora" / "ink.safetensors")
    Image.new("RGB", (8, 8), "red").save(lora.with_name("ink.preview.png"))
    Image.new("RGB", (8, 8), "blue").save(emb_dir / "inkstyle.png")
    registry.import_path(lora.parent.parent)
    listed = {d["name"]: d for d in list_networks()}
    assert [d["kind"] for d in list_networks()] == [
        "lora",
        "textual-inversion",
        "textual-inversion",
    ]
    assert listed["ink"]["preview"].endswith("ink.preview.png")
    assert listed["inkstyle"]["preview"].endswith("inkstyle.png")
    assert listed["badhands"]["preview"] == ""
    assert listed["ink"]["size_bytes"] == lora.stat().st_size
