"""Prompt conditioning the webui's way: emphasis, 75-token chunks, BREAK, clip skip, editing.

``needs_webui_conditioning`` says whether a prompt needs any of it; a plain short prompt at
clip skip 1 goes to diffusers untouched, so its pictures stay diffusers' own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from app.prompts.chunks import CHUNK, Chunk, split_chunks, token_count
from app.prompts.syntax import parse_attention, prompt_schedules, text_at_step

__all__ = ["CHUNK", "PromptEncoder", "build_conditioning", "split_chunks", "token_count"]


def needs_webui_conditioning(prompt: str, negative: str, clip_skip: int) -> bool:
    """False for plain text without emphasis/editing/BREAK at clip skip 1 that fits in 75
    tokens: diffusers' own encoding is then exactly the webui's, so we keep it."""
    if clip_skip > 1:
        return True
    return any(_special(text) for text in (prompt, negative))


def _special(text: str) -> bool:
    return any(c in text for c in "()[]\\") or "BREAK" in text


class PromptEncoder:
    """Encodes prompts with one CLIP text encoder (SD 1.x/2.x) the webui's way."""

    def __init__(self, tokenizer: Any, text_encoder: Any, clip_skip: int = 1) -> None:
        self.tokenizer = tokenizer
        self.encoder = text_encoder
        self.clip_skip = clip_skip
        self.convert: Any = None
        vocab = tokenizer.get_vocab()
        self.comma_id = vocab.get(",</w>")
        self.bos = tokenizer.bos_token_id
        self.eos = tokenizer.eos_token_id
        pad = tokenizer.pad_token_id
        self.pad = self.eos if pad is None else pad

    def tokenize(self, texts: list[str]) -> list[list[int]]:
        if self.convert is not None:  # multi-vector embeddings: "<ti>" -> "<ti> <ti>_1 ..."
            texts = [self.convert(t, self.tokenizer) for t in texts]
        out = self.tokenizer(texts, truncation=False, add_special_tokens=False)["input_ids"]
        return [list(x) for x in out]

    def chunks(self, text: str) -> tuple[list[Chunk], int]:
        return split_chunks(parse_attention(text), self.tokenize, self.comma_id)

    def encode(self, texts: list[str], min_chunks: int = 1) -> torch.Tensor:
        """(len(texts), 77 * K, dim): the texts encoded together, as the webui encodes the
        texts of one prompt's schedule (the emphasis mean is taken over the whole batch)."""
        per_text = [self.chunks(t)[0] for t in texts]
        count = max(min_chunks, max(len(c) for c in per_text))
        device = self.encoder.device
        zs = []
        for i in range(count):
            rows, weights = [], []
            for chunks in per_text:
                c = chunks[i] if i < len(chunks) else Chunk([], [])
                fill = CHUNK - len(c.tokens)
                if self.pad != self.eos:  # SD 2.x: EOS once, then the pad token
                    toks = [self.bos, *c.tokens, self.eos, *([self.pad] * fill)]
                else:
                    toks = [self.bos, *c.tokens, *([self.eos] * (fill + 1))]
                rows.append(toks)
                weights.append([1.0, *c.weights, *([1.0] * (fill + 1))])
            ids = torch.tensor(rows, device=device)
            z = self._hidden(ids)
            if any(x != 1.0 for row in weights for x in row):
                w = torch.tensor(weights, device=device, dtype=z.dtype)
                mean = z.mean()
                z = z * w.unsqueeze(-1)
                new_mean = z.mean()
                if new_mean != 0:  # all weights 0: nothing to rescale to
                    z = z * (mean / new_mean)
            zs.append(z)
        return torch.cat(zs, dim=1)

    def _hidden(self, ids: torch.Tensor) -> torch.Tensor:
        if self.clip_skip <= 1:
            return self.encoder(ids)[0]
        out = self.encoder(ids, output_hidden_states=True)
        z = out.hidden_states[-self.clip_skip]
        # transformers 5 flattened CLIPTextModel; 4.x keeps the layers under .text_model
        model = getattr(self.encoder, "text_model", self.encoder)
        return model.final_layer_norm(z)


@dataclass
class Conditioning:
    """Positive and negative embeddings per schedule entry, padded to one length."""

    positive: list[tuple[int, torch.Tensor]]  # (end_at_step, (1, T, dim))
    negative: list[tuple[int, torch.Tensor]]

    def at(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        pos = self.positive[text_at_step([(e, "") for e, _ in self.positive], step)][1]
        neg = self.negative[text_at_step([(e, "") for e, _ in self.negative], step)][1]
        return pos, neg

    @property
    def scheduled(self) -> bool:
        return len(self.positive) > 1 or len(self.negative) > 1


def build_conditioning(
    pipe: Any, prompt: str, negative: str, steps: int, clip_skip: int
) -> Conditioning:
    """Encode prompt and negative (with their schedules) for an SD 1.x/2.x pipeline."""
    enc = PromptEncoder(pipe.tokenizer, pipe.text_encoder, clip_skip)
    enc.convert = getattr(pipe, "maybe_convert_prompt", None)
    pos_sched = prompt_schedules(prompt, steps)
    neg_sched = prompt_schedules(negative, steps)
    with torch.inference_mode():
        count = max(
            len(enc.chunks(t)[0]) for t in [t for _e, t in pos_sched] + [t for _e, t in neg_sched]
        )
        pos = enc.encode([t for _e, t in pos_sched], count)
        neg = enc.encode([t for _e, t in neg_sched], count)
    dtype = getattr(pipe.unet, "dtype", pos.dtype)
    return Conditioning(
        positive=[(e, pos[i : i + 1].to(dtype)) for i, (e, _t) in enumerate(pos_sched)],
        negative=[(e, neg[i : i + 1].to(dtype)) for i, (e, _t) in enumerate(neg_sched)],
    )
