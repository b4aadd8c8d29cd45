"""The A1111 "infotext": generation parameters as text, the de-facto standard in PNGs.

Three parts, newline separated: the prompt (any number of lines), an optional
"Negative prompt: ..." (any number of lines), and a last line of "key: value" pairs joined
by ", ". Values containing a comma, a colon or a newline are JSON-quoted. A reader treats
the last line as parameters only when it yields at least 3 pairs, so a prompt that happens
to end in "style: anime" stays a prompt. Unknown keys survive a read-write round trip.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import app
from app.request import ControlUnit, GenerationRequest, Mode
from app.samplers import AUTOMATIC, Restored, default_schedule, resolve_sampler, substitute

NEGATIVE_PREFIX = "Negative prompt:"

# The same pattern A1111 reads with, so files round-trip between the two apps: a key is a
# word character followed by word characters, spaces, dashes or slashes; a value is either
# a JSON string or anything up to the next comma.
_PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
_SIZE = re.compile(r"^\s*(\d+)\s*x\s*(\d+)\s*$")
_MIN_PARAM_PAIRS = 3


@dataclass
class InfoText:
    prompt: str = ""
    negative_prompt: str = ""
    params: dict[str, str] = field(default_factory=dict)  # file order; unknown keys kept


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        try:
            loaded = json.loads(value)
        except ValueError:
            return value  # junk that merely looks quoted: keep it as written
        return loaded if isinstance(loaded, str) else value
    return value


def _quote(value: str) -> str:
    # A leading quote would be taken for a JSON string on the way back in, so quote it too.
    if any(c in value for c in ",:\n\r") or value.startswith('"'):
        return json.dumps(value, ensure_ascii=False)
    return value


def _parse_params(line: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for key, value in _PARAM.findall(line):
        params[key.strip()] = _unquote(value.strip())
    return params


def parse_infotext(text: str) -> InfoText:
    """Split an infotext into prompt, negative prompt and parameters; never raises."""
    if not isinstance(text, str):
        return InfoText()
    lines = text.replace("\r\n", "\n").replace("\r", "\n").strip().split("\n")
    params: dict[str, str] = {}
    if len(_PARAM.findall(lines[-1])) >= _MIN_PARAM_PAIRS:
        params = _parse_params(lines.pop())
    prompt_lines: list[str] = []
    negative_lines: list[str] = []
    in_negative = False
    for line in lines:
        # The webui strips every line (modules/infotext_utils.py), so a line ending in spaces
        # (or starting with them) means what it means there.
        line = line.strip()
        if not in_negative and line.startswith(NEGATIVE_PREFIX):
            in_negative = True
            line = line[len(NEGATIVE_PREFIX) :].lstrip()
        (negative_lines if in_negative else prompt_lines).append(line)
    return InfoText(
        prompt="\n".join(prompt_lines).strip(),
        negative_prompt="\n".join(negative_lines).strip(),
        params=params,
    )


def format_infotext(info: InfoText) -> str:
    """The inverse of parse_infotext: the text A1111 and its readers expect."""
    lines = [info.prompt.strip()]
    if info.negative_prompt.strip():
        lines.append(f"{NEGATIVE_PREFIX} {info.negative_prompt.strip()}")
    if info.params:
        lines.append(", ".join(f"{k}: {_quote(str(v))}" for k, v in info.params.items()))
    return "\n".join(lines)


def _num(value: float) -> str:
    return f"{value:g}"


def infotext_from_request(
    req: GenerationRequest,
    seed: int,
    version: str = app.__version__,
    extra: dict[str, str] | None = None,
) -> str:
    """The infotext for one generated image, keys in A1111's usual order.

    `seed` is the seed actually used (the request may say -1, random). The mode is not
    written (no A1111 key for it); readers infer it from the keys present.
    """
    params: dict[str, str] = {"Steps": str(req.steps)}
    spec = resolve_sampler(req.sampler, getattr(req, "schedule", AUTOMATIC))
    if spec is None:
        params["Sampler"] = req.sampler
    else:
        # The modern split form, with the schedule that ran (never "Automatic", whose meaning
        # differs between webui versions). Left out only where every reader, old or new,
        # takes its absence for the same schedule: a Uniform sampler running Uniform.
        params["Sampler"] = spec.base or spec.name
        if spec.schedule and not (
            spec.schedule == "Uniform" and default_schedule(spec.base) == "Uniform"
        ):
            params["Schedule type"] = spec.schedule
    params["CFG scale"] = _num(req.cfg_scale)
    params["Seed"] = str(seed)
    params["Size"] = f"{req.width}x{req.height}"
    if req.model_hash:
        params["Model hash"] = req.model_hash
    if req.model:
        params["Model"] = req.model
    if getattr(req, "subseed_strength", 0.0) > 0:
        params["Variation seed"] = str(req.subseed)
        params["Variation seed strength"] = _num(req.subseed_strength)
    if req.mode != "txt2img":
        params["Denoising strength"] = _num(req.strength)
    elif getattr(req, "hires", False):
        params["Denoising strength"] = _num(req.hires_denoise)
    if req.clip_skip > 1:
        params["Clip skip"] = str(req.clip_skip)
    if getattr(req, "hires", False):
        from app.library.infotext_hires import hires_params

        params.update(hires_params(req))
    if req.mode in ("inpaint", "outpaint"):
        params["Mask blur"] = str(req.mask_blur)
    if req.mode == "outpaint":
        params["Outpaint"] = ",".join(str(int(v)) for v in req.outpaint)
    if req.controlnets:
        from app.library.infotext_controlnet import unit_params

        params.update(unit_params(tuple(req.controlnets)))
    for key, value in (extra or {}).items():
        params[key] = str(value)  # "Lora hashes", "TI hashes": before Version, as the webui
    params.setdefault("Version", f"Easel {version}")
    return format_infotext(InfoText(req.prompt, req.negative_prompt, params))


def infer_mode(info: InfoText) -> Mode:
    """The mode an image was made in, from the keys present (no A1111 key says it)."""
    if "Outpaint" in info.params:
        return "outpaint"
    if "Denoising strength" in info.params:
        # Hires fix also writes a denoising strength, but always with its upscale key.
        if any(k in info.params for k in ("Hires upscale", "Hires upscaler", "First pass size")):
            return "txt2img"
        return "inpaint" if "Mask blur" in info.params else "img2img"
    return "txt2img"


def _int(value: str | None, default: int) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        try:
            as_float = float(str(value).strip())
        except (TypeError, ValueError):
            return default
        return int(as_float) if as_float.is_integer() else default


def _float(value: str | None, default: float) -> float:
    try:
        result = float(str(value).strip())
    except (TypeError, ValueError):
        return default
    return result if result == result else default  # NaN keeps the default


def restored_sampler(params: dict[str, str], default: str, default_schedule: str) -> Restored:
    """The sampler and schedule a file names, as Easel runs them, with a sentence when
    something else runs (never swapped silently)."""
    name = params.get("Sampler", "").strip()
    schedule = params.get("Schedule type", "").strip()
    if not name:
        return Restored(default, default_schedule)
    if not schedule and params.get("Version", "").startswith("Easel"):
        # Easel before "Schedule type" was its own setting wrote none for Uniform.
        schedule = "Uniform"
    restored = substitute(name, schedule, fallback=default)
    if resolve_sampler(restored.sampler, restored.schedule) is None:
        return Restored(default, default_schedule, restored.message)
    return restored


def _outpaint(value: str | None, default: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    parts = str(value or "").split(",")
    if len(parts) != 4:
        return default
    sides = [_int(p, -1) for p in parts]
    if any(v < 0 for v in sides):
        return default
    return (sides[0], sides[1], sides[2], sides[3])


def request_from_infotext(
    info: InfoText, base: GenerationRequest | None = None
) -> GenerationRequest:
    """Restore an image's settings onto `base`; see `restore_request` for the messages."""
    return restore_request(info, base)[0]


def restore_request(
    info: InfoText, base: GenerationRequest | None = None
) -> tuple[GenerationRequest, list[str]]:
    """Restore an image's settings onto `base` (prompt, sampler, steps, CFG, seed, size...).

    Lenient: a missing or unreadable value keeps the base's. The mode is inferred from the
    keys present; the init image and mask are not in the metadata, so they stay the base's.
    Returns the request and one sentence per setting that could not be restored as written
    (a sampler Easel cannot run and the one used instead).
    """
    base = base if base is not None else GenerationRequest(prompt="")
    p = info.params
    sampler = restored_sampler(p, base.sampler, base.schedule)
    messages = [sampler.message] if sampler.message else []
    extra: dict[str, object] = {}
    if "Variation seed strength" in p or "Variation seed" in p:
        extra["subseed"] = _int(p.get("Variation seed"), base.subseed)
        strength = _float(p.get("Variation seed strength"), base.subseed_strength)
        extra["subseed_strength"] = min(max(strength, 0.0), 1.0)
    else:
        extra["subseed_strength"] = 0.0
    if hasattr(base, "clip_skip"):
        # Absent means 1, as the webui reads it (it writes the key only when > 1).
        extra["clip_skip"] = min(12, max(1, _int(p.get("Clip skip"), 1)))
    if hasattr(base, "speed"):
        speed = p.get("Speed", "Quality").strip().lower()
        extra["speed"] = speed if speed in ("quality", "balanced", "fast") else "quality"
    width, height = base.width, base.height
    size = _SIZE.match(p.get("Size", ""))
    if size:
        width, height = int(size.group(1)), int(size.group(2))
    from app.library.infotext_hires import restore_hires

    hires = restore_hires(p, base)
    width, height = int(hires.pop("width", width)), int(hires.pop("height", height))  # type: ignore[call-overload]
    extra.update(hires)
    request = base.replace(
        prompt=info.prompt,
        negative_prompt=info.negative_prompt,
        mode=infer_mode(info),
        sampler=sampler.sampler,
        schedule=sampler.schedule,
        steps=_int(p.get("Steps"), base.steps),
        cfg_scale=_float(p.get("CFG scale"), base.cfg_scale),
        seed=_int(p.get("Seed"), base.seed),
        width=width,
        height=height,
        strength=_float(p.get("Denoising strength"), base.strength),
        mask_blur=_int(p.get("Mask blur"), base.mask_blur),
        outpaint=_outpaint(p.get("Outpaint"), base.outpaint),
        model=p.get("Model", base.model),
        model_hash=p.get("Model hash", base.model_hash),
        controlnets=_controlnets(p, base),
        **extra,
    )
    return request, messages


def _controlnets(params: dict[str, str], base: GenerationRequest) -> tuple[ControlUnit, ...]:
    """The image's units (none when it was made without ControlNet); the control image is
    not in the metadata, so a restored unit keeps the image of the base's unit at its place."""
    from app.library.infotext_controlnet import units_from_params

    units = units_from_params(params)
    old = base.controlnets
    return tuple(u.replace(image=old[i].image) if i < len(old) else u for i, u in enumerate(units))
