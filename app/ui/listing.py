"""What the models worker's listing (``ModelsWorker.modelsListed``) offers each picker."""

from __future__ import annotations

from typing import Any


def installed(listing: dict[str, Any] | None, kind: str) -> list[dict[str, Any]]:
    """The installed, usable models of one kind (ControlNets, upscalers, ...), in the
    listing's order; a file with a problem (broken, unsafe) is never offered."""
    models = listing.get("models", []) if isinstance(listing, dict) else []
    return [
        m
        for m in models
        if isinstance(m, dict)
        and m.get("kind") == kind
        and m.get("installed")
        and not m.get("problem")
    ]
