"""LoRAs through <lora:NAME:WEIGHT>: the same picture as diffusers' own LoRA loading, loaded
once, refused with one sentence before any step when they can't apply."""

from __future__ import annotations

import hashlib
import os
import struct
from pathlib import Path

import pytest
import torch

from app.engine.tiny_networks import kohya_lora, save_kohya_lora, save_peft_lora, save_safetensors
from app.errors import InvalidRequest, ModelLoadError, UnsafeModelFile
from app.library.infotext import parse_infotext, request_from_infotext
from app.models import registry
from app.prompts.extra_networks import lora_names, parse_prompt_networks, strip_extra_networks
from tests.lora_helpers import diffusers_picture, engine_on, fresh_pipe, max_diff, request

# -- the tags, as the webui reads them ---------------------------------------------------------


def test_tags_are_removed_and_read_the_webui_way() -> None:
    parsed = parse_prompt_networks(
        "a cat, <lora:ink:0.8> by the sea <lora:Paper Cut> <lyco:film:0.5:0.25>"
        " <lora:split:te=0.3:unet=0.9>"
    )
    assert parsed.prompt == "a cat,  by the sea   "
    got = [(t.name, t.te_weight, t.unet_weight) for t in parsed.loras]
    assert got == [("ink", 0.8, 0.8), ("Paper Cut", 1.0, 1.0), ("film", 0.5, 0.25),
                   ("split", 0.3, 0.9)]  # fmt: skip
    assert strip_extra_networks("x <hypernet:h:1> y") == "x  y"
    assert parse_prompt_networks("x <hypernet:h:1>").other[0].kind == "hypernet"
    assert lora_names("<lora:a:1> <lora:b> <lora:a:0.2>") == ["a", "b"]
    with pytest.raises(InvalidRequest, match="not a number"):
        parse_prompt_networks("<lora:ink:strong>")


# -- files on disk -------------------------------------------------------------------------------


@pytest.fixture
def lora_dir(tmp_path: Path) -> Path:
    """An A1111-style models folder with a Lora subfolder, added to Easel's library."""
    folder = tmp_path / "webui-models" / "Lora"
    pipe = fresh_pipe()
    save_kohya_lora(pipe, folder / "inkwash.safetensors", alpha=2.0, seed=1)
    save_kohya_lora(pipe, folder / "noalpha.safetensors", seed=2, scale=0.1)
    save_peft_lora(pipe, folder / "peftstyle.safetensors", seed=3)
    registry.import_path(folder.parent)
    return folder


@pytest.mark.parametrize("name", ["inkwash", "noalpha", "peftstyle"])
def test_lora_picture_equals_diffusers_load_lora_weights(lora_dir: Path, name: str) -> None:
    engine = engine_on()
    result = engine.generate(request(f"a lighthouse <lora:{name}:0.8>", "blurry"))
    theirs = diffusers_picture(
        "a lighthouse ", "blurry", loras=[(lora_dir / f"{name}.safetensors", 0.8)]
    )
    assert max_diff(result.images[0], theirs) <= 1
    plain = engine.generate(request("a lighthouse", "blurry"))
    assert max_diff(result.images[0], plain.images[0]) > 8  # the LoRA did something
    assert max_diff(plain.images[0], diffusers_picture("a lighthouse", "blurry")) <= 1


def _addnet_hash(path: Path) -> str:
    data = path.read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    return hashlib.sha256(data[8 + length :]).hexdigest()[:12]


def test_infotext_keeps_tags_and_writes_lora_hashes(lora_dir: Path) -> None:
    engine = engine_on()
    prompt = "a lighthouse <lora:inkwash:0.8> <lora:peftstyle:0.5>"
    result = engine.generate(request(prompt))
    info = parse_infotext(result.infotexts[0])
    assert info.prompt == prompt
    expected = (
        f"inkwash: {_addnet_hash(lora_dir / 'inkwash.safetensors')}, "
        f"peftstyle: {_addnet_hash(lora_dir / 'peftstyle.safetensors')}"
    )
    assert info.params["Lora hashes"] == expected
    assert 'Lora hashes: "inkwash: ' in result.infotexts[0]  # quoted, as the webui writes it
    assert list(info.params)[-1] == "Version"
    # Restoring the picture's settings re-applies the LoRAs: same picture.
    again = engine.generate(request_from_infotext(info, request("")))
    assert max_diff(again.images[0], result.images[0]) == 0


def test_weight_zero_equals_no_lora(lora_dir: Path) -> None:
    engine = engine_on()
    plain = engine.generate(request("a lighthouse")).images[0]
    with_lora = engine.generate(request("a lighthouse <lora:inkwash:0.8>")).images[0]
    zero = engine.generate(request("a lighthouse <lora:inkwash:0>")).images[0]
    after = engine.generate(request("a lighthouse")).images[0]
    assert max_diff(with_lora, plain) > 8
    assert max_diff(zero, plain) == 0
    assert max_diff(after, plain) == 0  # a job without LoRAs has none, whatever ran before


def test_two_loras_at_once_equal_diffusers(lora_dir: Path) -> None:
    engine = engine_on()
    result = engine.generate(request("a lighthouse <lora:inkwash:0.8> <lora:peftstyle:0.5>"))
    theirs = diffusers_picture(
        "a lighthouse  ",
        loras=[(lora_dir / "inkwash.safetensors", 0.8), (lora_dir / "peftstyle.safetensors", 0.5)],
    )
    assert max_diff(result.images[0], theirs) <= 1
    one = diffusers_picture("a lighthouse ", loras=[(lora_dir / "inkwash.safetensors", 0.8)])
    assert max_diff(result.images[0], one) > 8


def test_same_loras_are_not_loaded_again(lora_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = engine_on()
    pipe = engine.pipeline("text")
    calls: list[str] = []
    real = pipe.load_lora_weights

    def counting(*args: object, **kwargs: object) -> None:
        calls.append(str(kwargs.get("weight_name")))
        real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pipe, "load_lora_weights", counting)
    first = engine.generate(request("a lighthouse <lora:inkwash:0.8>")).images[0]
    second = engine.generate(request("a lighthouse <lora:inkwash:0.8>")).images[0]
    engine.generate(request("a lighthouse <lora:inkwash:0.3> <lora:peftstyle:1>"))
    engine.generate(request("a lighthouse"))
    third = engine.generate(request("a lighthouse <lora:inkwash:0.8>")).images[0]
    assert calls == ["inkwash.safetensors", "peftstyle.safetensors"]
    assert engine.loras.loads == 2
    assert max_diff(first, second) == 0 and max_diff(first, third) == 0
    # The file changes on disk: it is a new file, loaded again.
    path = lora_dir / "inkwash.safetensors"
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    engine.generate(request("a lighthouse <lora:inkwash:0.8>"))
    assert engine.loras.loads == 3


def test_lora_applies_to_every_mode_without_reloading(lora_dir: Path, photo: Path) -> None:
    engine = engine_on()
    txt = engine.generate(request("a lighthouse <lora:inkwash:0.8>"))
    img = engine.generate(request("a lighthouse <lora:inkwash:0.8>", mode="img2img",
                                  init_image=photo, strength=0.7))  # fmt: skip
    plain = engine.generate(request("a lighthouse", mode="img2img", init_image=photo,
                                    strength=0.7))  # fmt: skip
    assert engine.pipeline("image").unet is engine.pipeline("text").unet
    assert max_diff(img.images[0], plain.images[0]) > 8
    assert engine.loras.loads == 1 and txt.images


def test_old_adapters_are_deleted(tmp_path: Path) -> None:
    from app.engine.lora import KEEP_UNUSED

    folder = tmp_path / "loras" / "Lora"
    pipe = fresh_pipe()
    for i in range(KEEP_UNUSED + 3):
        save_kohya_lora(pipe, folder / f"style{i}.safetensors", seed=i, text_encoder=False)
    registry.import_path(folder.parent)
    engine = engine_on()
    for i in range(KEEP_UNUSED + 3):
        engine.generate(request(f"x <lora:style{i}:1>", steps=1))
    assert len(engine.loras.adapter_names) == KEEP_UNUSED + 1
    names = set(engine.pipeline("text").get_list_adapters()["unet"])
    assert names == set(engine.loras.adapter_names)


def test_pickled_lora_loads_through_the_allow_list(tmp_path: Path) -> None:
    folder = tmp_path / "m" / "Lora"
    folder.mkdir(parents=True)
    state = kohya_lora(fresh_pipe(), alpha=4.0, seed=5)
    torch.save(state, folder / "oldstyle.pt")
    registry.import_path(folder.parent)
    result = engine_on().generate(request("a lighthouse <lora:oldstyle:0.7>"))
    theirs = diffusers_picture("a lighthouse ", loras=[(dict(state), 0.7)])
    assert max_diff(result.images[0], theirs) <= 1
    full = hashlib.sha256((folder / "oldstyle.pt").read_bytes()).hexdigest()[:12]
    assert f"oldstyle: {full}" in result.infotexts[0]


# -- SDXL ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["kohya-sgm", "peft"])
def test_sdxl_lora_equals_diffusers(tmp_path: Path, fmt: str) -> None:
    folder = tmp_path / "xl" / "loras"
    pipe = fresh_pipe("tiny-sdxl")
    path = folder / f"xl-{fmt}.safetensors"
    if fmt == "peft":
        save_peft_lora(pipe, path, seed=4)
    else:
        save_kohya_lora(pipe, path, alpha=2.0, seed=4, sgm=True)
    registry.import_path(folder.parent)
    engine = engine_on("tiny-sdxl")
    result = engine.generate(request(f"a lighthouse <lora:xl-{fmt}:0.8>"))
    theirs = diffusers_picture("a lighthouse ", arch="tiny-sdxl", loras=[(path, 0.8)])
    assert max_diff(result.images[0], theirs) <= 1
    plain = diffusers_picture("a lighthouse", arch="tiny-sdxl")
    assert max_diff(result.images[0], plain) > 8


# -- refused before any step, in one sentence ---------------------------------------------------


def _refused(engine: object, prompt: str, error: type[Exception], match: str) -> str:
    steps: list[int] = []
    with pytest.raises(error, match=match) as info:
        engine.generate(request(prompt), on_progress=lambda p: steps.append(p.step))  # type: ignore[attr-defined]
    assert steps == []
    message = str(info.value)
    assert "\n" not in message and message.endswith((".", "?"))
    return message


def test_sdxl_lora_on_sd15_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "m" / "Lora"
    save_kohya_lora(fresh_pipe("tiny-sdxl"), folder / "xlonly.safetensors")
    # A real-sized SDXL LoRA's header: cross-attention 2048 wide, second text encoder.
    save_safetensors(
        {
            "lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_k.lora_down.weight":
                torch.zeros(4, 2048),
            "lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_k.lora_up.weight":
                torch.zeros(640, 4),
        },
        folder / "realxl.safetensors",
        ss_base_model_version="sdxl_base_v1-0",
    )  # fmt: skip
    registry.import_path(folder.parent)
    engine = engine_on()
    msg = _refused(engine, "x <lora:xlonly:1>", InvalidRequest, "SDXL LoRA")
    assert "SD 1.x" in msg
    _refused(
        engine, "x <lora:realxl:1>", InvalidRequest, "an SDXL LoRA and the loaded model is SD 1.x"
    )
    assert engine.loras.loads == 0


def test_unknown_lora_offers_the_closest_names(lora_dir: Path) -> None:
    msg = _refused(engine_on(), "x <lora:inkwsh:1>", InvalidRequest, "No LoRA called 'inkwsh'")
    assert "did you mean 'inkwash'" in msg


def test_broken_and_unsafe_and_lycoris_files_are_refused(tmp_path: Path) -> None:
    folder = tmp_path / "m" / "Lora"
    good = save_kohya_lora(fresh_pipe(), folder / "good.safetensors")
    data = good.read_bytes()
    (folder / "truncated.safetensors").write_bytes(data[: len(data) // 2])

    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, ("echo pwned",))

    torch.save({"lora_unet_x.lora_down.weight": Evil()}, folder / "evil.pt")
    save_safetensors(
        {"lora_unet_down_blocks_1_attentions_0_proj_in.hada_w1_a": torch.zeros(4, 4),
         "lora_unet_down_blocks_1_attentions_0_proj_in.hada_w1_b": torch.zeros(4, 4)},
        folder / "loha.safetensors",
    )  # fmt: skip
    registry.import_path(folder.parent)
    engine = engine_on()
    _refused(engine, "x <lora:truncated:1>", ModelLoadError, "incomplete")
    _refused(engine, "x <lora:evil:1>", UnsafeModelFile, "so it is unsafe")
    _refused(engine, "x <lora:loha:1>", ModelLoadError, "LyCORIS LoHa")
    _refused(engine, "x <hypernet:h:1>", InvalidRequest, "cannot use <hypernet")
    assert engine.loras.loads == 0
    # None of that left anything on the model: a good LoRA still equals diffusers.
    result = engine.generate(request("x <lora:good:1>"))
    assert max_diff(result.images[0], diffusers_picture("x ", loras=[(good, 1.0)])) <= 1


# -- the catalog's LCM-LoRA ---------------------------------------------------------------------


def test_catalog_lcm_lora_works_as_a_lora(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.models import catalog, download
    from tests.hubserver import HubRepo, running_hub

    entry = catalog.get("lcm-lora-sd15")
    file = save_kohya_lora(fresh_pipe(), tmp_path / "lcm" / "pytorch_lora_weights.safetensors")
    with running_hub(monkeypatch, tmp_path / "hf") as hub:
        engine = engine_on()
        _refused(engine, "x <lora:lcm-lora-sd15:1>", InvalidRequest, "not downloaded")
        hub.repos[entry.repo_id] = HubRepo.from_files(entry.repo_id, {file.name: file.read_bytes()})
        download.download_model(entry)
    result = engine.generate(request("a lighthouse <lora:lcm-lora-sd15:1>"))
    assert max_diff(result.images[0], diffusers_picture("a lighthouse ", loras=[(file, 1.0)])) <= 1
    assert f"lcm-lora-sd15: {_addnet_hash(file)}" in result.infotexts[0]


def test_fused_weights_come_back_bit_for_bit_and_unfused_path_matches(lora_dir: Path) -> None:
    engine = engine_on()
    unet = engine.pipeline("text").unet
    before = {k: v.clone() for k, v in unet.state_dict().items() if "lora" not in k}
    fused = engine.generate(request("a lighthouse <lora:inkwash:0.8>")).images[0]
    engine.generate(request("a lighthouse <lora:peftstyle:0.4>"))
    engine.generate(request("a lighthouse"))
    after = {
        k.replace(".base_layer", ""): v for k, v in unet.state_dict().items() if "lora" not in k
    }
    assert all(torch.equal(before[k], after[k]) for k in before)
    engine.loras.fuse = False  # PEFT's unmerged adapters: the same picture
    unfused = engine.generate(request("a lighthouse <lora:inkwash:0.8>")).images[0]
    assert max_diff(fused, unfused) <= 1
