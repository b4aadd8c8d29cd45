"""A CLIP tokenizer from a model's ``tokenizer/tokenizer.json`` (or ``vocab.json`` +
``merges.txt``) with the Rust
``tokenizers`` library only (no torch, no transformers), so the window can count tokens.

Built the way transformers converts CLIP's slow tokenizer to its fast one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CLIP_SPLIT = r"""'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""


def load_clip_tokenizer(model_dir: str | Path) -> Any | None:
    """The tokenizer of a diffusers model folder, or None when it has none we can read."""
    folder = Path(model_dir) / "tokenizer"
    if (folder / "tokenizer.json").is_file():  # the fast tokenizer itself
        from tokenizers import Tokenizer as _Tokenizer

        return _Tokenizer.from_file(str(folder / "tokenizer.json"))
    vocab_file, merges_file = folder / "vocab.json", folder / "merges.txt"
    if not (vocab_file.is_file() and merges_file.is_file()):
        return None
    from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers
    from tokenizers.models import BPE

    vocab = json.loads(vocab_file.read_text(encoding="utf-8"))
    lines = merges_file.read_text(encoding="utf-8").splitlines()
    merges = [tuple(line.split()) for line in lines if line and not line.startswith("#version")]
    tok = Tokenizer(
        BPE(
            vocab=vocab,
            merges=[m for m in merges if len(m) == 2],
            continuing_subword_prefix="",
            end_of_word_suffix="</w>",
            fuse_unk=False,
            unk_token="<|endoftext|>",
        )
    )
    tok.normalizer = normalizers.Sequence(
        [normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Lowercase()]
    )
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(CLIP_SPLIT), behavior="removed", invert=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    return tok
