"""The prompt boxes count tokens as you type, with the tokenizers library (no torch)."""

from __future__ import annotations

from pathlib import Path

from app.prompts.chunks import token_count
from app.prompts.light_tokenizer import load_clip_tokenizer
from app.ui.prompt_panel import PromptPanel, count_text


def test_count_text() -> None:
    assert count_text(43, 1) == "43/75"
    assert count_text(98, 2) == "98/150 · 2 chunks"


def test_prompt_box_shows_the_count(qtbot, tiny_model_dir: Path) -> None:
    panel = PromptPanel()
    qtbot.addWidget(panel)
    with qtbot.waitSignal(panel.tokenizerReady, timeout=20_000):
        panel.set_model_dir(str(tiny_model_dir))
    panel.prompt.setPlainText("a cat BREAK a dog")
    panel.update_counts()
    tok = load_clip_tokenizer(tiny_model_dir)
    tokens, chunks = token_count(tok, "a cat BREAK a dog")
    assert chunks == 2
    assert panel.prompt_count.text() == count_text(tokens, chunks)
    assert panel.negative_count.text() == "0/75"


def test_light_tokenizer_counts_like_transformers(tiny_model_dir: Path) -> None:
    from transformers import CLIPTokenizer

    slow = CLIPTokenizer.from_pretrained(tiny_model_dir / "tokenizer")
    light = load_clip_tokenizer(tiny_model_dir)
    for text in ["a (cat:1.3), BREAK dog", "Hello  World!! 12 ümlaut, it's", "x, " * 60]:
        assert token_count(light, text) == token_count(slow, text)
