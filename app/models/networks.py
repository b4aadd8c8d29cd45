"""LoRA and embedding files: finding one by the name a prompt gives it, and what it fits.

A prompt names a LoRA (``<lora:NAME:0.8>``) or an embedding (a word) by its file's stem, in
any folder the registry knows: imported files, the user's A1111 ``models/Lora`` and
``embeddings``, ComfyUI's ``models/loras``, a catalog download (the LCM-LoRA, also by its
catalog id). What a LoRA fits is read from its tensor names and shapes (the header alone for
safetensors), so a wrong family is refused before any weight is loaded.

No torch at import; a pickle (``.pt``) is opened only through the allow-list loader.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.errors import InvalidRequest, ModelLoadError
from app.models import registry
from app.models.checkpoints import PICKLE_SUFFIXES
from app.models.safeload import load_pickle_state_dict, read_safetensors_header

KIND_LABEL = {"lora": "LoRA", "textual-inversion": "embedding"}
_LYCORIS = {".hada_w1_a": "LoHa", ".hada_w1_b": "LoHa", ".lokr_w1": "LoKr", ".lokr_w2": "LoKr"}
_FAMILY_BY_CONTEXT = {768: "SD 1.x", 1024: "SD 2.x", 2048: "SDXL"}
PREVIEW_SUFFIXES = (".preview.png", ".png", ".preview.jpg", ".jpg", ".preview.webp", ".webp")


@dataclass(frozen=True)
class NetworkFile:
    """One LoRA or embedding file, found by the name the prompt used."""

    name: str  # as the prompt wrote it
    path: Path
    kind: str  # "lora" | "textual-inversion"
    size_bytes: int
    mtime_ns: int

    @property
    def key(self) -> tuple[str, int, int]:
        """Identity for caches: a file replaced on disk is a new file."""
        return (str(self.path.resolve()), self.size_bytes, self.mtime_ns)

    @property
    def is_pickle(self) -> bool:
        return self.path.suffix.lower() in PICKLE_SUFFIXES


@dataclass(frozen=True)
class LoraFacts:
    """What a LoRA file targets, from its tensor names and shapes."""

    context_dim: int | None  # the UNet's cross-attention width it was made for
    text_encoder_2: bool  # has SDXL second-encoder weights (lora_te2_ / text_encoder_2.)
    lycoris: str | None  # "LoHa" / "LoKr" when it is one of those
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def family(self) -> str | None:
        if self.text_encoder_2 or self.metadata.get("ss_base_model_version", "").startswith("sdxl"):
            return "SDXL"
        if self.context_dim is not None:
            return _FAMILY_BY_CONTEXT.get(self.context_dim)
        if self.metadata.get("ss_v2") == "True":
            return "SD 2.x"
        return None


def model_family_label(xl: bool, context_dim: int | None) -> str:
    if xl:
        return "SDXL"
    return "SD 2.x" if context_dim == 1024 else "SD 1.x"


def _installed(kind: str) -> list[registry.ModelInfo]:
    return [m for m in registry.list_models(include_available=False, kind=kind) if m.installed]


def resolve(kind: str, name: str) -> NetworkFile:
    """The file a prompt's name stands for; InvalidRequest (with the closest names) when no
    installed file has that name, ModelLoadError when the file is there but unreadable."""
    what = KIND_LABEL.get(kind, kind)
    found = registry.find_named(kind, name)
    if found is None:
        for m in registry.list_models(include_available=True, kind=kind):
            if not m.installed and name.lower() in (m.id.lower(), m.name.lower()):
                raise InvalidRequest(
                    f"The {what} {name!r} is in the catalog but not downloaded; download "
                    "it in Models first."
                )
        raise unknown_name(kind, name, [m.name for m in _installed(kind)])
    path = registry.model_file(found)
    if path is None:
        raise ModelLoadError(
            f"The {what} {name!r} has no weights file on disk any more; download or import it "
            "again."
        )
    st = path.stat()
    return NetworkFile(name, path, kind, st.st_size, st.st_mtime_ns)


def unknown_name(kind: str, name: str, names: list[str]) -> InvalidRequest:
    what = KIND_LABEL.get(kind, kind)
    lowered = {n.lower(): n for n in names}
    close = [lowered[n] for n in difflib.get_close_matches(name.lower(), list(lowered), n=3)]
    if close:
        hint = "did you mean " + " or ".join(repr(n) for n in close) + "?"
    elif names:
        hint = "the Models tab lists the ones installed."
    else:
        hint = "import one in Models or add your A1111/ComfyUI models folder."
    return InvalidRequest(f"No {what} called {name!r} is installed; {hint}")


def _shapes(file: NetworkFile) -> tuple[dict[str, tuple[int, ...]], dict[str, str]]:
    if file.is_pickle:
        state, metadata = load_pickle_state_dict(file.path)  # UnsafeModelFile for code
        return {k: tuple(v.shape) for k, v in state.items()}, metadata
    tensors, metadata = read_safetensors_header(file.path)  # ModelLoadError when broken
    return {k: t.shape for k, t in tensors.items()}, metadata


def lora_facts(file: NetworkFile) -> LoraFacts:
    shapes, metadata = _shapes(file)
    if not shapes:
        raise ModelLoadError(f"{file.path.name} holds no weights; download it again.")
    lycoris = next((label for k in shapes for m, label in _LYCORIS.items() if m in k), None)
    context = None
    for key, shape in shapes.items():
        down = any(m in key for m in ("lora_down", "lora_A", "lora.down", "_lora.down"))
        if down and "attn2" in key and "to_k" in key and len(shape) == 2:
            context = int(shape[1])
            break
    te2 = any(k.startswith(("lora_te2_", "text_encoder_2.")) for k in shapes)
    return LoraFacts(context, te2, lycoris, metadata)


def check_lora_fits(file: NetworkFile, facts: LoraFacts, xl: bool, context_dim: int) -> None:
    """Refuse, with one sentence, a LoRA that cannot apply to the loaded model."""
    if facts.lycoris:
        raise ModelLoadError(
            f"{file.name} is a LyCORIS {facts.lycoris} file, which Easel cannot apply yet; "
            "use a plain LoRA (or LoCon) version of it."
        )
    model = model_family_label(xl, context_dim)
    lora = facts.family
    wrong = (facts.text_encoder_2 and not xl) or (
        facts.context_dim is not None and facts.context_dim != context_dim
    )
    if not wrong and facts.context_dim is None and lora is not None:
        wrong = (lora == "SDXL") != xl
    if wrong:
        made_for = f"an {lora}" if lora else "another kind of"
        raise InvalidRequest(
            f"The LoRA {file.name} is {made_for} LoRA and the loaded model is {model}; pick a "
            f"LoRA made for {model} or switch to a model it was made for."
        )


def preview_image(path: str | Path) -> Path | None:
    """The picture that sits next to a LoRA or embedding (``NAME.preview.png``, ``NAME.png``,
    as the webui and Civitai helpers save them), when there is one."""
    p = Path(path)
    stem = p.name[: -len(p.suffix)] if p.suffix else p.name
    for suffix in PREVIEW_SUFFIXES:
        candidate = p.with_name(stem + suffix)
        if candidate.is_file():
            return candidate
    return None


def list_networks() -> list[dict[str, Any]]:
    """Every installed LoRA and embedding for the window's browser: name, kind, family,
    size, path, preview picture (or ""), and the sentence when a file can't be used."""
    out: list[dict[str, Any]] = []
    for kind in ("lora", "textual-inversion"):
        for m in _installed(kind):
            file = registry.model_file(m)
            name = m.name if m.source != "catalog" else m.id
            out.append(
                {
                    "name": name,
                    "title": m.name,
                    "kind": kind,
                    "family": _family_label(m.family),
                    "size_bytes": m.size_bytes,
                    "path": str(file or m.path or ""),
                    "preview": str(preview_image(file) or "") if file else "",
                    "problem": m.problem,
                }
            )
    return sorted(out, key=lambda d: (d["kind"] != "lora", d["name"].lower()))


def _family_label(family: str | None) -> str:
    base = (family or "").removeprefix("lora-")
    return {"sd1": "SD 1.x", "sd2": "SD 2.x", "sd2-v": "SD 2.x", "sdxl": "SDXL"}.get(base, "")
