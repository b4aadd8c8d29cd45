"""Restoring a picture's settings from a webui infotext pasted into the prompt box.

``looks_like_infotext`` tells a pasted infotext from a prompt; ``plan_restore`` turns it into
the request to show, the sentences to say (a sampler Easel cannot run and the one used
instead), and the model the picture names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.library.infotext import parse_infotext, restore_request
from app.request import GenerationRequest

# Keys a webui infotext always writes; a prompt that merely ends in "a: b, c: d, e: f" is
# not taken for one.
_TELLING = ("Steps", "Sampler", "CFG scale", "Seed")


def looks_like_infotext(text: str) -> bool:
    if "Steps:" not in text and "Seed:" not in text:
        return False
    params = parse_infotext(text).params
    return sum(k in params for k in _TELLING) >= 2


@dataclass
class RestorePlan:
    request: GenerationRequest
    messages: list[str] = field(default_factory=list)
    model: str = ""  # the picture's model name as written ("" when it names none)
    model_hash: str = ""


def plan_restore(text: str, base: GenerationRequest) -> RestorePlan:
    info = parse_infotext(text)
    request, messages = restore_request(info, base)
    return RestorePlan(
        request=request,
        messages=messages,
        model=info.params.get("Model", "").strip(),
        model_hash=info.params.get("Model hash", "").strip(),
    )
