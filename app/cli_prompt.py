"""``python -m app prompt TEXT [--model ID] [--json]``: the webui's parse of a prompt and its
token count, without loading a model's weights (only its tokenizer)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from app.prompts.chunks import token_count
from app.prompts.syntax import parse_attention

NO_TOKENIZER = (
    "no tokenizer: no model given and no default model installed, so tokens and chunks "
    "are not counted (chunks is the number of BREAK sections, a lower bound)"
)


def add_prompt_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "prompt",
        help="show how a prompt is read: emphasis weights, tokens, chunks",
        description="The webui's parse of a prompt ((x:1.3), [x], BREAK) and its token count.",
    )
    p.add_argument("text", metavar="TEXT", help="the prompt")
    p.add_argument("--model", metavar="ID", help="count with this model's tokenizer")
    p.add_argument("--json", action="store_true", help="print JSON")
    return p


def find_tokenizer(model: str | None) -> tuple[Any, str] | None:
    """The model's CLIP tokenizer (the first one for SDXL) and where it came from, or None."""
    from app.cli import resolve_model
    from app.errors import EaselError

    try:
        path = resolve_model(model)
    except (EaselError, OSError):
        if model is not None:
            raise
        return None
    folder = Path(path) / "tokenizer"
    if not folder.is_dir():
        return None
    from transformers import CLIPTokenizer

    return CLIPTokenizer.from_pretrained(folder), str(path)


def describe(text: str, tokenizer: Any | None) -> dict[str, Any]:
    attention = parse_attention(text)
    out: dict[str, Any] = {"attention": attention}
    if tokenizer is None:
        out["tokens"] = None
        out["chunks"] = 1 + sum(1 for t, w in attention if t == "BREAK" and w == -1)
        out["note"] = NO_TOKENIZER
        return out
    out["tokens"], out["chunks"] = token_count(tokenizer, text)
    return out


def run_prompt(args: argparse.Namespace) -> int:
    from app.errors import EaselError

    try:
        found = find_tokenizer(args.model)
    except EaselError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    info = describe(args.text, found[0] if found else None)
    if found:
        info["tokenizer"] = found[1]
    if args.json:
        print(json.dumps(info, ensure_ascii=False))
        return 0
    for text, weight in info["attention"]:
        print(f"{weight:g}\t{text!r}")
    if info["tokens"] is None:
        print(info["note"])
    else:
        print(f"{info['tokens']} tokens, {info['chunks']} chunk(s)")
    return 0
