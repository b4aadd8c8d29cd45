"""The webui's prompt language: its own parses, schedules, and what they do to the picture."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import diffusers
import numpy as np
import pytest
import torch

from app.engine.conditioning import PromptEncoder, build_conditioning
from app.engine.engine import Engine
from app.errors import InvalidRequest
from app.prompts.syntax import parse_attention, prompt_schedules
from app.request import GenerationRequest, validate

TESTDATA = Path(__file__).resolve().parents[2] / "shared" / "testdata"
ATTENTION = Path("/work/shared/testdata/a1111_prompt_attention.json")


def _cases() -> list[dict[str, Any]]:
    path = TESTDATA / "a1111_prompt_attention.json"
    path = path if path.is_file() else ATTENTION
    return json.loads(path.read_text(encoding="utf-8"))


def test_attention_parses_equal_the_webuis_own() -> None:
    cases = _cases()
    assert len(cases) == 40
    wrong = [c["prompt"] for c in cases if parse_attention(c["prompt"]) != c["expected"]]
    assert wrong == []


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("test", [(10, "test")]),
        ("a [b:3]", [(3, "a "), (10, "a b")]),
        ("a [b: 3]", [(3, "a "), (10, "a b")]),
        ("a [[[b]]:2]", [(2, "a "), (10, "a [[b]]")]),
        ("[(a:2):3]", [(3, ""), (10, "(a:2)")]),
        ("a [b : c : 1] d", [(1, "a b  d"), (10, "a  c  d")]),
        ("a[b:[c:d:2]:1]e", [(1, "abe"), (2, "ace"), (10, "ade")]),
        ("a [unbalanced", [(10, "a [unbalanced")]),
        ("a [b:.5] c", [(5, "a  c"), (10, "a b c")]),
        ("((a][:b:c [d:3]", [(3, "((a][:b:c "), (10, "((a][:b:c d")]),
        ("[cat:dog:0.5]", [(5, "cat"), (10, "dog")]),
        ("[cat::0.3] x", [(3, "cat x"), (10, " x")]),
        ("a | b", [(10, "a | b")]),
        ("[a|(b:1.1)]", [(s, "a" if s % 2 else "(b:1.1)") for s in range(1, 11)]),
        ("[fe|]male", [(s, "female" if s % 2 else "male") for s in range(1, 11)]),
    ],
)
def test_schedules_equal_the_webuis(prompt: str, expected: list[tuple[int, str]]) -> None:
    assert prompt_schedules(prompt, 10) == expected


def test_clip_skip_is_validated() -> None:
    with pytest.raises(InvalidRequest, match="Clip skip"):
        validate(GenerationRequest("x", clip_skip=13))
    assert validate(GenerationRequest("x", clip_skip=12)).clip_skip == 12


def _req(prompt: str, **kw: Any) -> GenerationRequest:
    base: dict[str, Any] = dict(
        negative_prompt="blurry",
        sampler="Euler",
        steps=4,
        cfg_scale=6.5,
        seed=1234,
        width=64,
        height=72,
    )
    base.update(kw)
    return GenerationRequest(prompt, **base)


def _pixels(engine: Engine, req: GenerationRequest) -> np.ndarray:
    return np.asarray(engine.generate(req).images[0], dtype=np.int16)


def _diff(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a - b).max())


LONG = "a lighthouse on a rocky cliff at dusk with waves and gulls and clouds and light " * 2


def test_words_after_token_80_change_the_picture(tiny_engine: Engine) -> None:
    enc = PromptEncoder(*_text_parts(tiny_engine))
    chunks, count = enc.chunks(LONG + "red boat")
    assert len(chunks) >= 2 and count > 80
    a = _pixels(tiny_engine, _req(LONG + "red boat", cfg_scale=2.0))
    b = _pixels(tiny_engine, _req(LONG + "big ship", cfg_scale=2.0))
    assert _diff(a, b) > 0


def _text_parts(engine: Engine) -> tuple[Any, Any]:
    pipe = engine.pipeline("text")
    return pipe.tokenizer, pipe.text_encoder


def test_weight_one_equals_plain_and_weights_change_the_picture(tiny_engine: Engine) -> None:
    plain = _pixels(tiny_engine, _req("a red boat"))
    same = _pixels(tiny_engine, _req("a (red:1.0) boat"))
    heavy = _pixels(tiny_engine, _req("a (red:1.6) boat"))
    assert _diff(plain, same) <= 1
    assert _diff(plain, heavy) > 0


def test_break_starts_a_chunk_and_negative_is_padded(tiny_engine: Engine) -> None:
    tok, text_encoder = _text_parts(tiny_engine)
    enc = PromptEncoder(tok, text_encoder)
    assert len(enc.chunks("a cat BREAK a dog")[0]) == 2
    cond = build_conditioning(tiny_engine.pipeline("text"), "a cat BREAK a dog", "", 4, 1)
    pos, neg = cond.at(0)
    assert pos.shape == neg.shape and pos.shape[1] == 154


def test_schedule_differs_from_both_and_equals_two_phases(tiny_engine: Engine) -> None:
    cat = _pixels(tiny_engine, _req("a cat"))
    dog = _pixels(tiny_engine, _req("a dog"))
    both = _pixels(tiny_engine, _req("a [cat:dog:0.5]"))
    assert _diff(both, cat) > 0 and _diff(both, dog) > 0
    # Reference: diffusers' pipeline with "a cat" embeddings, switched by hand to "a dog"
    # after the webui's step 2 (steps 0, 1, 2 use "a cat": the webui's `step <= 2`).
    pipe = tiny_engine.pipeline("text")
    c_cat = build_conditioning(pipe, "a cat", "blurry", 4, 1).at(0)
    c_dog = build_conditioning(pipe, "a dog", "blurry", 4, 1).at(0)

    def switch(p: Any, i: int, t: Any, kw: dict[str, Any]) -> dict[str, Any]:
        pos, neg = c_cat if i + 1 <= 2 else c_dog
        return {"prompt_embeds": torch.cat([neg, pos])}

    from app.samplers import SAMPLERS

    spec = SAMPLERS["Euler"]
    ref_pipe = diffusers.StableDiffusionPipeline(**pipe.components)
    ref_pipe.scheduler = getattr(diffusers, spec.scheduler).from_config(
        pipe.scheduler.config, **spec.options
    )
    ref_pipe.set_progress_bar_config(disable=True)
    out = ref_pipe(
        prompt_embeds=c_cat[0],
        negative_prompt_embeds=c_cat[1],
        num_inference_steps=4,
        guidance_scale=6.5,
        width=64,
        height=72,
        generator=torch.Generator("cpu").manual_seed(1234),
        callback_on_step_end=switch,
        output_type="np",
    ).images[0]
    ref = (out * 255).round().astype(np.int16)
    assert _diff(both, ref) <= 1


def test_clip_skip_2_equals_diffusers_clip_skip_1(tiny_engine: Engine) -> None:
    one = _pixels(tiny_engine, _req("a red boat"))
    two = _pixels(tiny_engine, _req("a red boat", clip_skip=2))
    assert _diff(one, two) > 0
    pipe = tiny_engine.pipeline("text")
    from app.samplers import SAMPLERS

    spec = SAMPLERS["Euler"]
    ref_pipe = diffusers.StableDiffusionPipeline(**pipe.components)
    ref_pipe.scheduler = getattr(diffusers, spec.scheduler).from_config(
        pipe.scheduler.config, **spec.options
    )
    ref_pipe.set_progress_bar_config(disable=True)

    # diffusers' clip_skip=1, done by hand (its own code path reaches for CLIPTextModel's
    # .text_model, which transformers 5 removed): hidden_states[-(1 + 1)], final layer norm.
    def embed(text: str) -> torch.Tensor:
        ids = pipe.tokenizer(
            text, padding="max_length", max_length=77, truncation=True, return_tensors="pt"
        ).input_ids
        with torch.inference_mode():
            hidden = pipe.text_encoder(ids, output_hidden_states=True)[-1][-(1 + 1)]
            norm = getattr(pipe.text_encoder, "text_model", pipe.text_encoder).final_layer_norm
            return norm(hidden)

    out = ref_pipe(
        prompt_embeds=embed("a red boat"),
        negative_prompt_embeds=embed("blurry"),
        num_inference_steps=4,
        guidance_scale=6.5,
        width=64,
        height=72,
        generator=torch.Generator("cpu").manual_seed(1234),
        output_type="np",
    ).images[0]
    assert _diff(two, (out * 255).round().astype(np.int16)) <= 1


def test_clip_skip_in_the_infotext_only_above_one_and_read_back() -> None:
    from app.library.infotext import infotext_from_request, parse_infotext, request_from_infotext

    plain = infotext_from_request(GenerationRequest("a cat", seed=1), 1)
    assert "Clip skip" not in plain
    text = infotext_from_request(GenerationRequest("a cat", seed=1, clip_skip=2), 1)
    assert "Clip skip: 2" in text
    assert request_from_infotext(parse_infotext(text)).clip_skip == 2
    assert request_from_infotext(parse_infotext(plain)).clip_skip == 1


def test_cli_clip_skip_and_prompt_command(
    tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.__main__ import build_parser, main
    from app.cli import build_request

    args = build_parser().parse_args(["generate", "--prompt", "x", "--clip-skip", "2"])
    assert build_request(args).clip_skip == 2
    assert main(["prompt", "a (cat:1.3) BREAK dog", "--model", str(tiny_model_dir), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["attention"] == [["a ", 1.0], ["cat", 1.3], ["", 1.0], ["BREAK", -1], ["dog", 1.0]]
    assert out["chunks"] == 2 and out["tokens"] == 75 + 3  # chunk one is full, then "dog"
