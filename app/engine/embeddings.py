"""Textual-inversion embeddings, the webui's way: a file's stem written in the prompt.

An embedding applies wherever its name appears in the prompt or the negative prompt as a word
(case-insensitive, as the webui's CLIP tokens are), so ``easynegative`` in a negative prompt
uses ``embeddings/easynegative.safetensors``. Formats: the webui's ``.pt`` (``string_to_param``,
opened through the allow-list loader only), ``.safetensors`` with ``emb_params`` (SD 1.x/2.x)
or ``clip_l`` + ``clip_g`` (SDXL: one vector set per text encoder) and diffusers' single-tensor
files. An embedding made for another family (width) is left as a plain word, as the webui
does.

Each file goes into the tokenizer(s) and text encoder(s) once, through diffusers'
``load_textual_inversion``, under a private token (``<easel-ti-3>``); the prompt the pipeline
sees has the name replaced by that token, which diffusers expands to one token per vector.
A private token never matches inside other words, and loaded embeddings cost nothing in
prompts that don't use them.
"""

from __future__ import annotations

import logging
import re
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.errors import ModelLoadError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Loaded:
    token: str
    hash: str


class EmbeddingManager:
    """The embeddings loaded into one base pipeline. ``loads`` counts files loaded."""

    def __init__(self) -> None:
        self._pipe: weakref.ref[Any] | None = None
        self._loaded: dict[tuple[str, int, int], _Loaded | None] = {}  # None: does not fit
        self._index: dict[str, Path] = {}
        self._fingerprint: tuple[tuple[str, int], ...] | None = None
        self._counter = 0
        self.loads = 0

    def _bind(self, pipe: Any) -> None:
        if self._pipe is None or self._pipe() is not pipe:
            self._pipe = weakref.ref(pipe)
            self._loaded.clear()

    def names(self) -> dict[str, Path]:
        """Installed embeddings by lowercased name, listed again only when a folder changed."""
        from app.models import registry

        fingerprint = registry.library_fingerprint()
        if fingerprint != self._fingerprint:
            index: dict[str, Path] = {}
            for m in registry.list_models(include_available=False, kind="textual-inversion"):
                path = registry.model_file(m)
                if m.installed and not m.problem and path is not None:
                    index.setdefault(m.name.lower(), path)
            self._index, self._fingerprint = index, fingerprint
        return self._index

    def apply(self, pipe: Any, prompt: str, negative: str) -> tuple[str, str, dict[str, str]]:
        """The prompt and negative prompt with embedding names swapped for their tokens (the
        files loaded on first use), and the infotext's ``TI hashes``."""
        self._bind(pipe)
        index = self.names()
        if not index or not (prompt or negative):
            return prompt, negative, {}
        used: list[tuple[tuple[int, int], str, str]] = []  # (where first seen, name, hash)
        texts = [prompt, negative]
        # Longest names first, so "bad_hands_v2" is never read as "bad_hands" + "_v2".
        for lowered in sorted(index, key=len, reverse=True):
            pattern = re.compile(rf"(?<!\w){re.escape(lowered)}(?!\w)", re.IGNORECASE)
            found = [(i, m.start()) for i, t in enumerate(texts) if (m := pattern.search(t))]
            if not found:
                continue
            path = index[lowered]
            loaded = self._ensure(pipe, path)
            if loaded is None:
                continue
            texts = [pattern.sub(loaded.token, t) for t in texts]
            stem = path.name[: -len(path.suffix)] if path.suffix else path.name
            used.append((found[0], stem, loaded.hash))
        hashes = ", ".join(
            f"{n.replace(':', '').replace(',', '')}: {h}" for _, n, h in sorted(used)
        )
        return texts[0], texts[1], ({"TI hashes": hashes} if hashes else {})

    def _ensure(self, pipe: Any, path: Path) -> _Loaded | None:
        st = path.stat()
        key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
        if key in self._loaded:
            return self._loaded[key]
        from app.models.hashes import embedding_hash

        vectors = _vectors(path)
        targets = _targets(pipe, vectors)
        if targets is None:
            log.warning("embedding %s does not fit this model; left as a word", path.name)
            self._loaded[key] = None
            return None
        token = self._new_token(pipe)
        try:
            for vector, text_encoder, tokenizer in targets:
                pipe.load_textual_inversion(
                    vector, token=token, text_encoder=text_encoder, tokenizer=tokenizer
                )
        except (ValueError, RuntimeError, KeyError, TypeError) as exc:
            raise ModelLoadError(
                f"The embedding {path.name} could not be loaded ({type(exc).__name__}); it is "
                "damaged or made for another model."
            ) from exc
        self.loads += 1
        loaded = _Loaded(token, embedding_hash(path))
        self._loaded[key] = loaded
        return loaded

    def _new_token(self, pipe: Any) -> str:
        vocab = set(pipe.tokenizer.get_vocab())
        tokenizer_2 = getattr(pipe, "tokenizer_2", None)
        if tokenizer_2 is not None:
            vocab |= set(tokenizer_2.get_vocab())
        while True:
            self._counter += 1
            token = f"<easel-ti-{self._counter}>"
            if token not in vocab:
                return token


def _vectors(path: Path) -> dict[str, Any]:
    """The vectors of an embedding file: {"clip_l", "clip_g"} (SDXL) or {"emb"}, each (n, d)."""
    if path.suffix.lower() in (".pt", ".bin", ".ckpt", ".pth"):
        from app.models.safeload import load_pickle_state_dict

        state, _ = load_pickle_state_dict(path)  # UnsafeModelFile for a file that runs code
    else:
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        from app.models.safeload import read_safetensors_header

        read_safetensors_header(path)  # a sentence for a truncated or corrupt file
        try:
            state = load_file(str(path))
        except (SafetensorError, OSError) as exc:
            raise ModelLoadError(f"{path.name} could not be read ({exc}); get it again.") from exc
    out: dict[str, Any]
    if "clip_l" in state or "clip_g" in state:
        out = {k: state[k] for k in ("clip_l", "clip_g") if k in state}
    elif "emb_params" in state:
        out = {"emb": state["emb_params"]}
    elif "string_to_param.*" in state:
        out = {"emb": state["string_to_param.*"]}
    elif len(state) == 1:
        out = {"emb": next(iter(state.values()))}
    else:
        raise ModelLoadError(
            f"{path.name} is not a textual-inversion embedding Easel can read; "
            "use the webui's .pt or a .safetensors embedding."
        )
    return {k: (v.unsqueeze(0) if v.dim() == 1 else v).detach().float() for k, v in out.items()}


def _width(text_encoder: Any) -> int:
    return int(text_encoder.get_input_embeddings().weight.shape[-1])


def _targets(pipe: Any, vectors: dict[str, Any]) -> list[tuple[Any, Any, Any]] | None:
    """(vectors, text encoder, tokenizer) for each encoder, or None when it does not fit."""
    te, te2 = pipe.text_encoder, getattr(pipe, "text_encoder_2", None)
    if te2 is not None:
        l_vec, g_vec = vectors.get("clip_l"), vectors.get("clip_g")
        if l_vec is None or g_vec is None or pipe.tokenizer is pipe.tokenizer_2:
            return None
        if l_vec.shape[-1] != _width(te) or g_vec.shape[-1] != _width(te2):
            return None
        return [(l_vec, te, pipe.tokenizer), (g_vec, te2, pipe.tokenizer_2)]
    vec = vectors.get("emb", vectors.get("clip_l") if "clip_g" not in vectors else None)
    if vec is None or vec.shape[-1] != _width(te):
        return None
    return [(vec, te, pipe.tokenizer)]
