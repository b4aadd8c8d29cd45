"""More apps' PNG metadata as A1111 infotexts: Fooocus (either key spelling), NovelAI, legacy
InvokeAI (`Dream`, `sd-metadata`). ComfyUI and InvokeAI 3+ are in app.library.pngio.

Sampler names are mapped to the webui's where the meaning is the same; a name without a
webui equivalent is kept as written, so restoring the picture names it instead of swapping it
(app.samplers.substitute).
"""

from __future__ import annotations

import json
import re
import shlex

from app.library.infotext import InfoText, format_infotext

# k-diffusion aliases as the webui's samplers_map knows them (NovelAI and old InvokeAI use
# them), and ComfyUI/Fooocus names.
SAMPLER_ALIASES = {
    "k_euler_a": "Euler a",
    "k_euler_ancestral": "Euler a",
    "k_euler": "Euler",
    "k_lms": "LMS",
    "k_heun": "Heun",
    "k_dpm_2": "DPM2",
    "k_dpm_2_a": "DPM2 a",
    "k_dpm_2_ancestral": "DPM2 a",
    "k_dpmpp_2s_a": "DPM++ 2S a",
    "k_dpmpp_2s_ancestral": "DPM++ 2S a",
    "k_dpmpp_2m": "DPM++ 2M",
    "k_dpmpp_sde": "DPM++ SDE",
    "k_dpmpp_2m_sde": "DPM++ 2M SDE",
    "k_dpm_fast": "DPM fast",
    "k_dpm_ad": "DPM adaptive",
    "ddim": "DDIM",
    "plms": "PLMS",
    "euler": "Euler",
    "euler_ancestral": "Euler a",
    "heun": "Heun",
    "dpm_2": "DPM2",
    "dpm_2_ancestral": "DPM2 a",
    "lms": "LMS",
    "dpmpp_2m": "DPM++ 2M",
    "dpmpp_2m_sde": "DPM++ 2M SDE",
    "dpmpp_2m_sde_heun": "DPM++ 2M SDE Heun",
    "dpmpp_sde": "DPM++ SDE",
    "dpmpp_2s_ancestral": "DPM++ 2S a",
    "dpmpp_3m_sde": "DPM++ 3M SDE",
    "deis": "DEIS",
    "uni_pc": "UniPC",
    "lcm": "LCM",
    "dpm_fast": "DPM fast",
    "dpm_adaptive": "DPM adaptive",
    "restart": "Restart",
}


def webui_sampler(name: str) -> str:
    """A webui sampler name for another app's ("k_dpmpp_2m", "dpmpp_2m_sde_gpu")."""
    key = name.strip().lower().removesuffix("_gpu")
    return SAMPLER_ALIASES.get(key, name.strip())


def webui_schedule(name: str) -> str:
    """A webui "Schedule type" for ComfyUI's scheduler names ("normal" is evenly spaced in
    t from 999 to 0, which is the webui's Uniform)."""
    key = name.strip().lower()
    if key in ("", "normal"):
        return "Uniform" if key else ""
    if key == "sgm_uniform":
        return "SGM Uniform"
    return key.replace("_", " ").title()


def text_of(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def load_json(text: str) -> dict | None:
    try:
        data = json.loads(text)
    except (TypeError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def infotext_of(prompt: str, negative: str, fields: dict[str, object]) -> str | None:
    params = {k: str(v) for k, v in fields.items() if v not in (None, "")}
    if not prompt and not negative and len(params) < 2:
        return None
    return format_infotext(InfoText(prompt, negative, params))


def model_name(value: object) -> str:
    name = text_of(value).replace("\\", "/").rsplit("/", 1)[-1]
    for ext in (".safetensors", ".ckpt", ".pt", ".bin", ".gguf"):
        name = name.removesuffix(ext)
    return name


def _size(size: tuple[int, int] | None) -> str:
    return f"{size[0]}x{size[1]}" if size and size[0] > 0 and size[1] > 0 else ""


def from_fooocus(text: str) -> str | None:
    """Fooocus' JSON `parameters`, with its older "Guidance Scale" keys or its newer
    lowercase ones ("prompt", "steps", "guidance_scale", "base_model", ...)."""
    raw = load_json(text)
    if raw is None:
        return None
    data = {str(k).strip().lower().replace(" ", "_"): v for k, v in raw.items()}
    if "prompt" not in data:
        return None
    resolution = re.findall(r"\d+", str(data.get("resolution", "")))
    scheduler = text_of(data.get("scheduler"))
    return infotext_of(
        text_of(data.get("prompt")),
        text_of(data.get("negative_prompt")),
        {
            "Steps": data.get("steps"),
            "Sampler": webui_sampler(text_of(data.get("sampler"))),
            "Schedule type": webui_schedule(scheduler) if scheduler else None,
            "CFG scale": data.get("guidance_scale", data.get("cfg_scale")),
            "Seed": data.get("seed"),
            "Size": "x".join(resolution[:2]) if len(resolution) >= 2 else "",
            "Model": model_name(data.get("base_model")),
            "Version": text_of(data.get("version")) or "Fooocus",
        },
    )


def from_novelai(texts: dict[str, str], size: tuple[int, int] | None) -> str | None:
    """NovelAI's `Comment` JSON and `Description` prompt, read as the webui reads them
    (modules/images.py read_info_from_image: Clip skip 2, ENSD 31337)."""
    data = load_json(texts.get("Comment", ""))
    if data is None:
        return None
    prompt = text_of(texts.get("Description")) or text_of(data.get("prompt"))
    fields: dict[str, object] = {
        "Steps": data.get("steps"),
        "Sampler": webui_sampler(text_of(data.get("sampler"))) or "Euler a",
        "CFG scale": data.get("scale"),
        "Seed": data.get("seed"),
        "Size": _size(size)
        or (f"{data['width']}x{data['height']}" if "width" in data and "height" in data else ""),
        "Clip skip": 2,
        "ENSD": 31337,
    }
    fields["Version"] = "NovelAI"
    return infotext_of(prompt, text_of(data.get("uc")), fields)


_DREAM_FLAGS = {
    "-s": "Steps",
    "--steps": "Steps",
    "-S": "Seed",
    "--seed": "Seed",
    "-C": "CFG scale",
    "--cfg_scale": "CFG scale",
    "-A": "Sampler",
    "--sampler": "Sampler",
    "-f": "Denoising strength",
    "--strength": "Denoising strength",
}


def _split_negative(prompt: str) -> tuple[str, str]:
    # Legacy InvokeAI wrote the negative prompt inside square brackets.
    negatives = re.findall(r"\[([^\[\]]*)\]", prompt)
    positive = re.sub(r"\s*\[[^\[\]]*\]", "", prompt).strip()
    return positive, ", ".join(n.strip() for n in negatives if n.strip())


def from_invoke_dream(text: str, size: tuple[int, int] | None) -> str | None:
    """Legacy InvokeAI's `Dream` chunk: `"prompt" -s 50 -S 42 -W 512 -H 512 -C 7.5 -A k_lms`."""
    try:
        words = shlex.split(text)
    except ValueError:
        return None
    if not words:
        return None
    prompt_words: list[str] = []
    fields: dict[str, object] = {}
    width = height = ""
    i = 0
    while i < len(words):
        word = words[i]
        value = words[i + 1] if i + 1 < len(words) else ""
        if word in _DREAM_FLAGS and value:
            fields[_DREAM_FLAGS[word]] = value
            i += 2
        elif word in ("-W", "--width") and value:
            width, i = value, i + 2
        elif word in ("-H", "--height") and value:
            height, i = value, i + 2
        elif word.startswith("-") and len(word) > 1:
            i += 2 if value and not value.startswith("-") else 1  # a flag Easel does not use
        else:
            prompt_words.append(word)
            i += 1
    if "Sampler" in fields:
        fields["Sampler"] = webui_sampler(str(fields["Sampler"]))
    fields["Size"] = f"{width}x{height}" if width and height else _size(size)
    fields["Version"] = "InvokeAI"
    positive, negative = _split_negative(" ".join(prompt_words))
    return infotext_of(positive, negative, {"Steps": fields.pop("Steps", None), **fields})


def from_invoke_sd_metadata(text: str, size: tuple[int, int] | None) -> str | None:
    """Legacy InvokeAI's `sd-metadata` JSON (2.x): settings under "image"."""
    data = load_json(text)
    if data is None or not isinstance(data.get("image"), dict):
        return None
    image = data["image"]
    prompt = image.get("prompt")
    if isinstance(prompt, list):
        prompt = " ".join(text_of(p.get("prompt")) for p in prompt if isinstance(p, dict))
    positive, negative = _split_negative(text_of(prompt))
    width, height = image.get("width"), image.get("height")
    fields: dict[str, object] = {
        "Steps": image.get("steps"),
        "Sampler": webui_sampler(text_of(image.get("sampler"))),
        "CFG scale": image.get("cfg_scale"),
        "Seed": image.get("seed"),
        "Size": f"{width}x{height}" if width and height else _size(size),
        "Model": model_name(data.get("model_weights")),
    }
    if image.get("type") == "img2img" and image.get("strength") is not None:
        fields["Denoising strength"] = image.get("strength")
    fields["Version"] = f"InvokeAI {text_of(data.get('app_version'))}".strip()
    return infotext_of(positive, negative, fields)


def convert(texts: dict[str, str], size: tuple[int, int] | None) -> str | None:
    """The infotext from any of these apps' chunks, or None."""
    params = texts.get("parameters", "")
    if params.lstrip().startswith("{"):
        converted = from_fooocus(params)
        if converted:
            return converted
    if texts.get("Software") == "NovelAI" or ("Comment" in texts and "Description" in texts):
        converted = from_novelai(texts, size)
        if converted:
            return converted
    if "sd-metadata" in texts:
        converted = from_invoke_sd_metadata(texts["sd-metadata"], size)
        if converted:
            return converted
    if "Dream" in texts:
        return from_invoke_dream(texts["Dream"], size)
    return None
