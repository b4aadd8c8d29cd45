"""SDXL prompt conditioning the webui's way: both text encoders, the same rules as SD 1.x.

The webui (modules/sd_hijack_clip.py, sd_models_xl.py, sgm's GeneralConditioner) runs each
SDXL text encoder through the same chunker as SD 1.x: emphasis, 75-token chunks, BREAK,
prompt editing. CLIP-L and OpenCLIP bigG each give their penultimate layer's hidden states
(no final layer norm; the webui does not apply clip skip to SDXL by default), concatenated
along the feature axis; the pooled vector is bigG's projected output of each text's first
chunk, untouched by emphasis. An empty negative prompt is all zeros, as the webui forces
(and diffusers' ``force_zeros_for_empty_prompt`` does).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from app.engine.conditioning import Conditioning, PromptEncoder
from app.prompts.syntax import prompt_schedules, text_at_step


class PenultimateEncoder(PromptEncoder):
    """One SDXL text encoder: hidden_states[-2] per chunk; with ``pooled`` it also keeps the
    projected pooled output of the first chunk of each text (bigG's ``text_embeds``)."""

    def __init__(self, tokenizer: Any, text_encoder: Any, pooled: bool = False) -> None:
        super().__init__(tokenizer, text_encoder, 1)
        self.keep_pooled = pooled
        self.first_pooled: torch.Tensor | None = None

    def encode(self, texts: list[str], min_chunks: int = 1) -> torch.Tensor:
        self.first_pooled = None
        return super().encode(texts, min_chunks)

    def _hidden(self, ids: torch.Tensor) -> torch.Tensor:
        out = self.encoder(ids, output_hidden_states=True)
        if self.keep_pooled and self.first_pooled is None:
            self.first_pooled = out[0]  # chunk 0: the webui's zs[0].pooled
        return out.hidden_states[-2]


@dataclass
class SDXLConditioning(Conditioning):
    """Conditioning plus the pooled vector of each schedule entry."""

    positive_pooled: list[torch.Tensor] = field(default_factory=list)  # (1, dim) each
    negative_pooled: list[torch.Tensor] = field(default_factory=list)

    def pooled_at(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        i = text_at_step([(e, "") for e, _ in self.positive], step)
        j = text_at_step([(e, "") for e, _ in self.negative], step)
        return self.positive_pooled[i], self.negative_pooled[j]

    def call_kwargs(self) -> dict[str, Any]:
        """The pipeline's prompt arguments for the first step."""
        pos, neg = self.at(0)
        pos_pooled, neg_pooled = self.pooled_at(0)
        return {
            "prompt_embeds": pos,
            "negative_prompt_embeds": neg,
            "pooled_prompt_embeds": pos_pooled,
            "negative_pooled_prompt_embeds": neg_pooled,
        }

    def step_changes(self, pipe: Any, i: int, batch: int) -> dict[str, Any]:
        """The tensors for the next step (the webui's step i + 1), in the pipeline's layout:
        negative then positive when CFG is on, each repeated per image."""
        pos, neg = self.at(i + 1)
        pos_pooled, neg_pooled = self.pooled_at(i + 1)
        pos, pos_pooled = pos.repeat(batch, 1, 1), pos_pooled.repeat(batch, 1)
        if getattr(pipe, "do_classifier_free_guidance", False):
            return {
                "prompt_embeds": torch.cat([neg.repeat(batch, 1, 1), pos]),
                "add_text_embeds": torch.cat([neg_pooled.repeat(batch, 1), pos_pooled]),
            }
        return {"prompt_embeds": pos, "add_text_embeds": pos_pooled}


def _encoders(pipe: Any) -> tuple[PenultimateEncoder, PenultimateEncoder]:
    clip_l = PenultimateEncoder(pipe.tokenizer, pipe.text_encoder)
    clip_g = PenultimateEncoder(pipe.tokenizer_2, pipe.text_encoder_2, pooled=True)
    convert = getattr(pipe, "maybe_convert_prompt", None)
    clip_l.convert = clip_g.convert = convert
    return clip_l, clip_g


def build_sdxl_conditioning(pipe: Any, prompt: str, negative: str, steps: int) -> SDXLConditioning:
    """Encode prompt and negative (with their schedules) for an SDXL pipeline."""
    clip_l, clip_g = _encoders(pipe)
    pos_sched = prompt_schedules(prompt, steps)
    neg_sched = prompt_schedules(negative, steps)
    texts = [t for _e, t in pos_sched] + [t for _e, t in neg_sched]
    with torch.inference_mode():
        count = max(max(len(clip_l.chunks(t)[0]), len(clip_g.chunks(t)[0])) for t in texts)

        def both(sched: list[tuple[int, str]]) -> tuple[torch.Tensor, torch.Tensor]:
            batch = [t for _e, t in sched]
            z = torch.cat([clip_l.encode(batch, count), clip_g.encode(batch, count)], dim=-1)
            assert clip_g.first_pooled is not None
            return z, clip_g.first_pooled

        pos, pos_pooled = both(pos_sched)
        neg, neg_pooled = both(neg_sched)
        if all(t == "" for _e, t in neg_sched):
            neg, neg_pooled = torch.zeros_like(neg), torch.zeros_like(neg_pooled)
    dtype = getattr(pipe.unet, "dtype", pos.dtype)
    return SDXLConditioning(
        positive=[(e, pos[i : i + 1].to(dtype)) for i, (e, _t) in enumerate(pos_sched)],
        negative=[(e, neg[i : i + 1].to(dtype)) for i, (e, _t) in enumerate(neg_sched)],
        positive_pooled=[pos_pooled[i : i + 1].to(dtype) for i in range(len(pos_sched))],
        negative_pooled=[neg_pooled[i : i + 1].to(dtype) for i in range(len(neg_sched))],
    )
