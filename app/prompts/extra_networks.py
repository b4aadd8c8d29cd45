"""Extra-network tags in a prompt, read as the webui reads them: ``<lora:NAME:WEIGHT>``.

The webui (``modules/extra_networks.py``) takes every ``<kind:arg:arg...>`` out of the
positive prompt before anything else reads it: the tag is replaced by nothing (the spaces
and commas around it stay, CLIP ignores the extra space), and its arguments are split on
``:``. An argument ``key=value`` is named, the others positional. For a LoRA
(``extensions-builtin/Lora``, which also answers to ``<lyco:...>``):

- positional 1: the name (a file stem);
- positional 2: the text-encoder weight, default 1.0 (``te=`` overrides);
- positional 3: the UNet weight, default the text-encoder weight (``unet=`` overrides).

The negative prompt is not searched: the webui leaves tags there as text. Pure Python, so the
window, the CLI and the prompt parser share it without importing torch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from app.errors import InvalidRequest

# The webui's own pattern (modules/extra_networks.py: re_extra_net).
EXTRA_NETWORK = re.compile(r"<(\w+):([^>]+)>")
LORA_KINDS = ("lora", "lyco")


@dataclass(frozen=True)
class ExtraNetworkTag:
    """One ``<kind:...>`` tag as written, its arguments split the webui's way."""

    kind: str  # as written, lowercased ("lora", "lyco", "hypernet", ...)
    text: str  # the whole tag, for messages
    positional: tuple[str, ...]
    named: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LoraTag:
    name: str
    te_weight: float = 1.0
    unet_weight: float = 1.0
    text: str = ""  # the tag as written

    @property
    def weight(self) -> float:
        return self.unet_weight


def split_extra_networks(prompt: str) -> tuple[str, list[ExtraNetworkTag]]:
    """The prompt without its ``<kind:...>`` tags (each replaced by nothing), and the tags in
    the order they appear."""
    tags: list[ExtraNetworkTag] = []

    def found(m: re.Match[str]) -> str:
        positional: list[str] = []
        named: dict[str, str] = {}
        for item in m.group(2).split(":"):
            parts = item.split("=", 2)
            if len(parts) == 2:
                named[parts[0]] = parts[1]
            else:
                positional.append(item)
        tags.append(ExtraNetworkTag(m.group(1).lower(), m.group(0), tuple(positional), named))
        return ""

    return EXTRA_NETWORK.sub(found, prompt), tags


def _number(tag: ExtraNetworkTag, value: str) -> float:
    try:
        number = float(value.strip())
    except ValueError:
        raise InvalidRequest(
            f"The weight {value.strip()!r} in {tag.text} is not a number; write it like "
            f"<{tag.kind}:{(tag.positional or ('NAME',))[0]}:0.8>."
        ) from None
    if number != number or abs(number) == float("inf"):
        raise InvalidRequest(f"The weight in {tag.text} is not a finite number; use e.g. 0.8.")
    return number


def lora_tag(tag: ExtraNetworkTag) -> LoraTag:
    """A ``<lora:...>``/``<lyco:...>`` tag's name and weights, by the webui's rules."""
    if not tag.positional or not tag.positional[0].strip():
        raise InvalidRequest(f"{tag.text} names no LoRA; write it like <lora:NAME:0.8>.")
    te = _number(tag, tag.positional[1]) if len(tag.positional) > 1 else 1.0
    if "te" in tag.named:
        te = _number(tag, tag.named["te"])
    unet = _number(tag, tag.positional[2]) if len(tag.positional) > 2 else te
    if "unet" in tag.named:
        unet = _number(tag, tag.named["unet"])
    return LoraTag(tag.positional[0].strip(), te, unet, tag.text)


@dataclass(frozen=True)
class PromptNetworks:
    prompt: str  # what CLIP sees: the tags removed
    loras: tuple[LoraTag, ...]
    other: tuple[ExtraNetworkTag, ...]  # hypernetworks and other kinds Easel does not run


def parse_prompt_networks(prompt: str) -> PromptNetworks:
    """The prompt CLIP sees and the LoRAs it asks for; raises InvalidRequest for a malformed
    LoRA tag (a weight that is not a number, no name)."""
    text, tags = split_extra_networks(prompt)
    loras = tuple(lora_tag(t) for t in tags if t.kind in LORA_KINDS)
    other = tuple(t for t in tags if t.kind not in LORA_KINDS)
    return PromptNetworks(text, loras, other)


def strip_extra_networks(prompt: str) -> str:
    """The prompt CLIP sees (the webui's ``parse_prompt`` text), tags removed."""
    return split_extra_networks(prompt)[0]


def lora_names(prompt: str) -> list[str]:
    """The LoRA names a prompt mentions, in order, each once (for the UI and the infotext)."""
    seen: dict[str, None] = {}
    for tag in split_extra_networks(prompt)[1]:
        if tag.kind in LORA_KINDS and tag.positional and tag.positional[0].strip():
            seen.setdefault(tag.positional[0].strip(), None)
    return list(seen)
