"""The webui's chunking of a prompt's tokens: 75 per chunk, BREAK, comma backtrack.

Pure Python: the tokenizer is passed in, so the window can count tokens without torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.prompts.syntax import parse_attention

CHUNK = 75  # prompt tokens per chunk; each chunk is encoded as BOS + 75 + EOS = 77
COMMA_BACKTRACK = 20  # the webui's default "comma padding backtrack"


@dataclass
class Chunk:
    tokens: list[int]
    weights: list[float]


def split_chunks(
    runs: list[list[str | float]],
    tokenize: Callable[[list[str]], list[list[int]]],
    comma_id: int | None,
) -> tuple[list[Chunk], int]:
    """Token ids of the attention runs, cut into chunks of 75 the webui's way.

    Returns the chunks (not yet padded) and the prompt's token count."""
    chunks: list[Chunk] = []
    chunk = Chunk([], [])
    last_comma = -1
    count = 0

    def close(is_last: bool = False) -> None:
        nonlocal chunk, last_comma, count
        count += len(chunk.tokens) if is_last else CHUNK
        chunks.append(chunk)
        chunk = Chunk([], [])
        last_comma = -1

    texts = [str(text) for text, _w in runs]
    ids = tokenize(texts) if texts else []
    for tokens, (text, weight) in zip(ids, runs, strict=True):
        if text == "BREAK" and weight == -1:
            close()
            continue
        for token in tokens:
            if token == comma_id:
                last_comma = len(chunk.tokens)
            elif (
                len(chunk.tokens) == CHUNK
                and last_comma != -1
                and len(chunk.tokens) - last_comma <= COMMA_BACKTRACK
            ):
                cut = last_comma + 1
                moved = Chunk(chunk.tokens[cut:], chunk.weights[cut:])
                chunk.tokens, chunk.weights = chunk.tokens[:cut], chunk.weights[:cut]
                close()
                chunk = moved
            if len(chunk.tokens) == CHUNK:
                close()
            chunk.tokens.append(token)
            chunk.weights.append(float(weight))
    if chunk.tokens or not chunks:
        close(is_last=True)
    return chunks, count


def token_count(tokenizer: Any, text: str) -> tuple[int, int]:
    """(tokens, chunks) of a prompt as the webui counts them, for a ``transformers`` or a
    ``tokenizers`` tokenizer (the window uses the light one)."""
    if hasattr(tokenizer, "get_vocab") and hasattr(tokenizer, "encode_batch"):  # tokenizers
        comma = tokenizer.token_to_id(",</w>")

        def tok(texts: list[str]) -> list[list[int]]:
            out = tokenizer.encode_batch(texts, add_special_tokens=False)
            return [list(e.ids) for e in out]
    else:
        comma = tokenizer.get_vocab().get(",</w>")

        def tok(texts: list[str]) -> list[list[int]]:
            out = tokenizer(texts, truncation=False, add_special_tokens=False)["input_ids"]
            return [list(x) for x in out]

    chunks, count = split_chunks(parse_attention(text), tok, comma)
    return count, len(chunks)
