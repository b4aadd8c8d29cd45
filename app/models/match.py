"""Which installed model a picture's "Model" / "Model hash" names (restoring its settings)."""

from __future__ import annotations

from pathlib import Path

from app.models.store import cached_digest


class _NotHashed(LookupError):
    pass


def _known_hash(path: str) -> str:
    """The model's webui hash when Easel has hashed it before (the engine does at each load);
    "" otherwise: restoring never hashes a multi-GB file on the UI's behalf."""

    def refuse(_p: Path) -> str:
        raise _NotHashed

    try:
        return cached_digest(path, "", refuse)
    except (_NotHashed, OSError):
        return ""


def _names(path: str, label: str) -> set[str]:
    p = Path(path)
    names = {label, p.stem, p.name}
    if p.parent.name == "snapshots":  # a Hugging Face cache snapshot: its repo's name
        names.add(p.parent.parent.name.split("--")[-1])
    return {n.strip().lower() for n in names if n and n.strip()}


def find_installed_model(models: dict[str, str], name: str, model_hash: str) -> str:
    """The path of the installed model (``{path: label}``) a picture names, by hash first
    (the webui's 10 hex digits, or the old 8), then by name; "" when none is installed."""
    wanted_hash = model_hash.strip().lower()
    if wanted_hash:
        for path in models:
            known = _known_hash(path).lower()
            if known and (known == wanted_hash or known.startswith(wanted_hash)):
                return path
    wanted = name.strip().lower()
    if wanted:
        for path, label in models.items():
            if wanted in _names(path, label) or Path(wanted).stem in _names(path, label):
                return path
    return ""
