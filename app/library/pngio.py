"""PNG files with generation parameters: encoding, naming, and reading other apps' metadata.

Writes are atomic (`app.library.atomic`: temp file, fsync, rename), so a crash or a full disk
never leaves a half-written picture under a real name. Reading understands A1111's `parameters` chunk (also in JPEG/WebP EXIF), and
converts InvokeAI's and ComfyUI's JSON into the same infotext form, best effort.
"""

from __future__ import annotations

import io
import os
import re
import struct
import zlib
from pathlib import Path

from PIL import Image, PngImagePlugin

from app.errors import LibraryError
from app.library import foreign
from app.library.atomic import write_bytes

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PARAMETERS_KEY = "parameters"
_PNG_MODES = {"1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA"}
_COUNTER = re.compile(r"^(\d{5,})-")
# Characters Windows refuses in file names, and control characters anywhere.
_BAD_NAME_CHARS = re.compile(r'[<>:"/\\|?*\x00-\x1f]')


def encode_png(
    image: Image.Image, parameters: str | None, extra_text: dict[str, str] | None = None
) -> bytes:
    """The PNG bytes for an image with its `parameters` chunk (tEXt, or iTXt when not Latin-1).

    Separate from the write so callers can encode (slow) outside any lock.
    """
    info = PngImagePlugin.PngInfo()
    chunks = dict(extra_text or {})
    if parameters is not None:
        chunks[PARAMETERS_KEY] = parameters
    for key, value in chunks.items():
        try:
            value.encode("latin-1")
        except UnicodeEncodeError:
            info.add_itxt(key, value)
        else:
            info.add_text(key, value)
    if image.mode not in _PNG_MODES:
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info, compress_level=4)
    return buffer.getvalue()


def write_png(
    image: Image.Image,
    path: Path,
    parameters: str | None,
    extra_text: dict[str, str] | None = None,
) -> Path:
    """Write `image` as a PNG at `path` atomically, with the A1111 `parameters` chunk."""
    try:
        data = encode_png(image, parameters, extra_text)
    except (OSError, ValueError) as exc:
        raise LibraryError(f"The image could not be encoded as PNG ({exc}).") from exc
    return write_bytes(data, Path(path))


def unique_path(directory: Path, stem: str, start: int | None = None) -> Path:
    """A free name like `00042-1234567.png`: the next counter after the folder's highest.

    `stem` is what follows the counter (A1111 uses the seed). `start` lets a caller that
    remembers the last counter skip rescanning a big folder.
    """
    directory = Path(directory)
    stem = _BAD_NAME_CHARS.sub("_", stem).strip(" .")[:120]
    counter = start if start is not None else next_counter(directory)
    while True:
        name = f"{counter:05d}-{stem}.png" if stem else f"{counter:05d}.png"
        candidate = directory / name
        if not candidate.exists():
            return candidate
        counter += 1


def next_counter(directory: Path) -> int:
    """One more than the highest `NNNNN-` prefix among the folder's files (0 when none)."""
    highest = -1
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                match = _COUNTER.match(entry.name)
                if match:
                    highest = max(highest, int(match.group(1)))
    except OSError:
        pass  # no folder (yet): the write that follows reports the real problem
    return highest + 1


def counter_of(path: Path) -> int | None:
    match = _COUNTER.match(Path(path).name)
    return int(match.group(1)) if match else None


def read_png_header(path: Path) -> tuple[int, int, dict[str, str]]:
    """Width, height and every text chunk of a PNG, without decoding a pixel.

    Walks the chunks and seeks over image data, so it also finds text written after IDAT,
    which Pillow only reports after decoding the whole image. OSError when not a PNG.
    """
    texts: dict[str, str] = {}
    width = height = 0
    with open(path, "rb") as f:
        if f.read(8) != PNG_SIGNATURE:
            raise OSError(f"{Path(path).name} is not a PNG file")
        while True:
            head = f.read(8)
            if len(head) < 8:
                break
            length, kind = struct.unpack(">I4s", head)
            if kind in (b"tEXt", b"zTXt", b"iTXt", b"IHDR"):
                body = f.read(length)
                f.seek(4, os.SEEK_CUR)  # CRC
                if kind == b"IHDR" and len(body) >= 8:
                    width, height = struct.unpack(">II", body[:8])
                    continue
                key, value = _text_chunk(kind, body)
                if key and key not in texts:
                    texts[key] = value
            elif kind == b"IEND":
                break
            else:
                f.seek(length + 4, os.SEEK_CUR)
    return width, height, texts


def _text_chunk(kind: bytes, body: bytes) -> tuple[str, str]:
    key, sep, rest = body.partition(b"\x00")
    if not sep:
        return "", ""
    try:
        if kind == b"tEXt":
            return key.decode("latin-1"), rest.decode("latin-1")
        if kind == b"zTXt":
            return key.decode("latin-1"), zlib.decompress(rest[1:]).decode("latin-1")
        # iTXt: compression flag, method, language\0, translated keyword\0, UTF-8 text
        compressed = rest[:1] == b"\x01"
        _lang, _, rest = rest[2:].partition(b"\x00")
        _translated, _, text = rest.partition(b"\x00")
        if compressed:
            text = zlib.decompress(text)
        return key.decode("latin-1"), text.decode("utf-8", errors="replace")
    except (zlib.error, ValueError):
        return "", ""


def _exif_user_comment(image: Image.Image) -> str | None:
    # A1111 stores parameters in JPEG/WebP files as EXIF UserComment (tag 0x9286).
    try:
        comment = image.getexif().get_ifd(0x8769).get(0x9286)
    except Exception:  # noqa: BLE001 - malformed EXIF is common; it only means "no metadata"
        return None
    if isinstance(comment, str):
        return comment.strip("\x00").strip() or None
    if not isinstance(comment, bytes) or len(comment) < 8:
        return None
    prefix, body = comment[:8], comment[8:]
    if prefix.startswith(b"UNICODE"):
        # The standard says big-endian; some writers use little-endian. Infotexts are mostly
        # ASCII ("Steps: 20, ..."), so the right byte order is the one with more of it.
        candidates = [body.decode("utf-16-be", "replace"), body.decode("utf-16-le", "replace")]
        text = max(candidates, key=lambda s: sum(1 for c in s if " " <= c <= "~"))
    else:
        text = body.decode("utf-8", "replace")
    return text.strip("\x00").strip() or None


def read_texts(path: Path) -> tuple[tuple[int, int], dict[str, str]]:
    """A picture's size and text items (PNG chunks; for JPEG/WebP, EXIF UserComment is
    reported as `parameters`, where A1111 puts it). OSError when the file cannot be read."""
    with open(path, "rb") as f:
        is_png = f.read(8) == PNG_SIGNATURE
    if is_png:
        width, height, texts = read_png_header(path)
        return (width, height), texts
    try:
        with Image.open(path) as image:
            texts = {
                k: v for k, v in image.info.items() if isinstance(k, str) and isinstance(v, str)
            }
            comment = _exif_user_comment(image)
            size = image.size
    except (ValueError, Image.DecompressionBombError, Image.UnidentifiedImageError):
        return (0, 0), {}
    if comment and PARAMETERS_KEY not in texts:
        texts[PARAMETERS_KEY] = comment
    return size, texts


def parameters_from_texts(texts: dict[str, str], size: tuple[int, int] | None = None) -> str | None:
    """The infotext among a file's text items: A1111's own, else converted from another app.

    `size` (the picture's) fills in "Size" when the other app's metadata does not say it.
    """
    params = texts.get(PARAMETERS_KEY)
    if params and texts.get("fooocus_scheme") == "fooocus":
        return foreign.from_fooocus(params) or params
    converted = foreign.convert(texts, size)
    if converted is not None:
        return converted
    if params and params.strip():
        return params
    converted = None
    if "invokeai_metadata" in texts:
        converted = _from_invokeai(texts["invokeai_metadata"], size)
    if converted is None and "prompt" in texts:
        converted = _from_comfyui(texts["prompt"], size)
    return converted


def read_parameters(path: Path) -> str | None:
    """A file's generation parameters as an A1111 infotext, or None when it has none.

    Raises LibraryError only when the file cannot be read at all.
    """
    try:
        size, texts = read_texts(Path(path))
    except OSError as exc:
        raise LibraryError(f"Could not read {Path(path).name} ({exc.strerror or exc}).") from exc
    return parameters_from_texts(texts, size)


# --- Other apps' metadata, converted best effort --------------------------------------------

_INVOKE_SAMPLERS = {
    "euler": "Euler",
    "euler_a": "Euler a",
    "heun": "Heun",
    "kdpm_2": "DPM2",
    "kdpm_2_a": "DPM2 a",
    "lms": "LMS",
    "dpmpp_2m": "DPM++ 2M",
    "dpmpp_2m_sde": "DPM++ 2M SDE",
    "dpmpp_sde": "DPM++ SDE",
    "dpmpp_3m": "DPM++ 3M",
    "ddim": "DDIM",
    "pndm": "PLMS",
    "unipc": "UniPC",
    "lcm": "LCM",
}


def _size(width: object, height: object, fallback: tuple[int, int] | None) -> str:
    if isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0:
        return f"{width}x{height}"
    if fallback and fallback[0] > 0 and fallback[1] > 0:
        return f"{fallback[0]}x{fallback[1]}"
    return ""


def _from_invokeai(text: str, size: tuple[int, int] | None = None) -> str | None:
    data = foreign.load_json(text)
    if data is None:
        return None
    scheduler = foreign.text_of(data.get("scheduler"))
    karras = scheduler.endswith("_k")
    base = scheduler.removesuffix("_k")
    model = data.get("model")
    if isinstance(model, dict):
        model = model.get("name") or model.get("model_name")
    version = foreign.text_of(data.get("app_version"))
    return foreign.infotext_of(
        foreign.text_of(data.get("positive_prompt")),
        foreign.text_of(data.get("negative_prompt")),
        {
            "Steps": data.get("steps"),
            "Sampler": _INVOKE_SAMPLERS.get(base, scheduler),
            "Schedule type": "Karras" if karras and base in _INVOKE_SAMPLERS else None,
            "CFG scale": data.get("cfg_scale"),
            "Seed": data.get("seed"),
            "Size": _size(data.get("width"), data.get("height"), size),
            "Model": foreign.model_name(model),
            "Version": f"InvokeAI {version}".strip(),
        },
    )


def _comfy_schedule(name: str) -> str | None:
    # ComfyUI's "normal" is evenly spaced from t=999 to 0: the webui's Uniform, not its
    # Automatic (which is Karras for DPM++ 2M).
    return foreign.webui_schedule(name) or None


def _from_comfyui(text: str, size: tuple[int, int] | None = None) -> str | None:
    graph = foreign.load_json(text)
    if graph is None:
        return None
    nodes = {str(k): v for k, v in graph.items() if isinstance(v, dict)}

    def node_of(link: object) -> dict:
        # A link is [node id, output slot]; anything else is a literal.
        if isinstance(link, list) and link:
            node = nodes.get(str(link[0]))
            if isinstance(node, dict):
                return node
        return {}

    def inputs(node: dict) -> dict:
        value = node.get("inputs")
        return value if isinstance(value, dict) else {}

    def literal(value: object, keys: tuple[str, ...], depth: int = 0) -> object:
        # Follow primitive/widget nodes until a literal value turns up.
        if not isinstance(value, list) or depth > 8:
            return value
        node_inputs = inputs(node_of(value))
        for key in keys:
            if key in node_inputs:
                return literal(node_inputs[key], keys, depth + 1)
        return None

    def prompt_text(link: object, depth: int = 0) -> str:
        node_inputs = inputs(node_of(link))
        if depth > 8 or not node_inputs:
            return ""
        for key in ("text", "text_g", "prompt"):
            value = literal(node_inputs.get(key), ("text", "value", "string", "prompt"))
            if isinstance(value, str) and value.strip():
                return value.strip()
        # Conditioning that passes through (ControlNet, combine, area): follow it back.
        for key in ("conditioning", "conditioning_1", "conditioning_to", "positive"):
            if key in node_inputs:
                return prompt_text(node_inputs[key], depth + 1)
        return ""

    def checkpoint(link: object, depth: int = 0) -> str:
        node_inputs = inputs(node_of(link))
        if depth > 16 or not node_inputs:
            return ""
        for key in ("ckpt_name", "unet_name", "model_name"):
            if isinstance(node_inputs.get(key), str):
                return foreign.model_name(node_inputs[key])
        return checkpoint(node_inputs.get("model"), depth + 1)

    def order(item: tuple[str, dict]) -> tuple[int, str]:
        return (int(item[0]) if item[0].isdigit() else 1 << 30, item[0])

    samplers = [
        node
        for _, node in sorted(nodes.items(), key=order)
        if "KSampler" in str(node.get("class_type", ""))
    ]
    if not samplers:
        return None
    ks = inputs(samplers[0])
    latent = inputs(node_of(ks.get("latent_image")))
    sampler_name = foreign.text_of(literal(ks.get("sampler_name"), ("sampler_name", "value")))
    denoise = literal(ks.get("denoise"), ("denoise", "value", "float"))
    img2img = "VAEEncode" in str(node_of(ks.get("latent_image")).get("class_type", ""))
    strength = denoise if isinstance(denoise, int | float) and (img2img or denoise < 1) else None
    return foreign.infotext_of(
        prompt_text(ks.get("positive")),
        prompt_text(ks.get("negative")),
        {
            "Steps": literal(ks.get("steps"), ("steps", "value", "int")),
            "Sampler": foreign.webui_sampler(sampler_name),
            "Schedule type": _comfy_schedule(
                foreign.text_of(literal(ks.get("scheduler"), ("value",)))
            ),
            "CFG scale": literal(ks.get("cfg"), ("cfg", "value", "float")),
            "Seed": literal(
                ks.get("seed", ks.get("noise_seed")), ("seed", "noise_seed", "value", "int")
            ),
            "Size": _size(latent.get("width"), latent.get("height"), size),
            "Model": checkpoint(ks.get("model")),
            "Denoising strength": strength,
            "Version": "ComfyUI",
        },
    )
