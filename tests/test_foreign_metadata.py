"""Other apps' pictures restore as webui ones do: real PNG files with ComfyUI graphs,
Fooocus, NovelAI and legacy InvokeAI metadata, read and restored to a request."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PIL import Image
from PIL.PngImagePlugin import PngInfo

from app.library.infotext import parse_infotext, restore_request
from app.library.pngio import read_parameters
from app.request import GenerationRequest


def png(path: Path, chunks: dict[str, str], size: tuple[int, int] = (96, 80)) -> Path:
    info = PngInfo()
    for key, value in chunks.items():
        info.add_text(key, value)
    Image.new("RGB", size, (30, 60, 90)).save(path, pnginfo=info)
    return path


def restored(path: Path) -> tuple[GenerationRequest, list[str]]:
    text = read_parameters(path)
    assert text is not None
    return restore_request(parse_infotext(text), GenerationRequest(prompt=""))


def comfy_graph(sampler: str, scheduler: str, denoise: float, img2img: bool) -> dict[str, Any]:
    latent: dict[str, Any] = (
        {"class_type": "VAEEncode", "inputs": {"pixels": ["10", 0], "vae": ["4", 2]}}
        if img2img
        else {"class_type": "EmptyLatentImage", "inputs": {"width": 768, "height": 512}}
    )
    return {
        "3": {
            "class_type": "KSampler",
            "inputs": {
                "seed": 8675309,
                "steps": 28,
                "cfg": 6.5,
                "sampler_name": sampler,
                "scheduler": scheduler,
                "denoise": denoise,
                "model": ["4", 0],
                "positive": ["6", 0],
                "negative": ["7", 0],
                "latent_image": ["5", 0],
            },
        },
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd15/dreamy.ckpt"}},
        "5": latent,
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a harbour at dawn"}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "fog"}},
        "10": {"class_type": "LoadImage", "inputs": {"image": "in.png"}},
    }


def test_comfyui_txt2img_samplers_mapped_by_name(tmp_path: Path) -> None:
    graph = comfy_graph("dpmpp_2m", "karras", 1.0, img2img=False)
    req, messages = restored(png(tmp_path / "c.png", {"prompt": json.dumps(graph)}))
    assert messages == []
    assert (req.prompt, req.negative_prompt, req.mode) == ("a harbour at dawn", "fog", "txt2img")
    assert (req.sampler, req.schedule) == ("DPM++ 2M Karras", "Karras")
    assert (req.steps, req.cfg_scale, req.seed, req.width, req.height) == (
        28,
        6.5,
        8675309,
        768,
        512,
    )
    assert req.model == "dreamy"


def test_comfyui_img2img_denoise_is_the_strength(tmp_path: Path) -> None:
    graph = comfy_graph("euler", "normal", 0.55, img2img=True)
    req, _ = restored(png(tmp_path / "i.png", {"prompt": json.dumps(graph)}, size=(640, 448)))
    assert (req.mode, req.strength) == ("img2img", 0.55)
    assert (req.sampler, req.schedule) == ("Euler", "Uniform")
    assert (req.width, req.height) == (640, 448)  # the picture's own size


def test_comfyui_unknown_sampler_is_named_not_swapped_silently(tmp_path: Path) -> None:
    graph = comfy_graph("res_multistep_cfg_pp", "beta", 1.0, img2img=False)
    req, messages = restored(png(tmp_path / "u.png", {"prompt": json.dumps(graph)}))
    assert len(messages) == 1
    assert "res_multistep_cfg_pp" in messages[0] and "is used" in messages[0]
    assert req.sampler in ("DPM++ 2M Karras", "DPM++ 2M")


def test_fooocus_lowercase_keys(tmp_path: Path) -> None:
    data = {
        "prompt": "a red fox in snow",
        "negative_prompt": "blurry",
        "steps": 30,
        "guidance_scale": 4.0,
        "seed": "424242",
        "resolution": "(896, 1152)",
        "sampler": "dpmpp_2m_sde_gpu",
        "scheduler": "karras",
        "base_model": "juggernautXL_v8Rundiffusion.safetensors",
        "version": "Fooocus v2.5.0",
    }
    chunks = {"parameters": json.dumps(data), "fooocus_scheme": "fooocus"}
    req, messages = restored(png(tmp_path / "f.png", chunks))
    assert messages == []
    assert (req.prompt, req.negative_prompt, req.steps, req.cfg_scale, req.seed) == (
        "a red fox in snow",
        "blurry",
        30,
        4.0,
        424242,
    )
    assert (req.sampler, req.schedule, req.width, req.height) == (
        "DPM++ 2M SDE Karras",
        "Karras",
        896,
        1152,
    )
    assert req.model == "juggernautXL_v8Rundiffusion"


def test_novelai_comment_chunk(tmp_path: Path) -> None:
    comment = {
        "steps": 28,
        "sampler": "k_euler_ancestral",
        "seed": 1234,
        "scale": 11,
        "uc": "lowres",
    }
    chunks = {
        "Software": "NovelAI",
        "Description": "1girl, cherry blossoms",
        "Comment": json.dumps(comment),
    }
    req, _ = restored(png(tmp_path / "n.png", chunks, size=(512, 768)))
    assert (req.prompt, req.negative_prompt, req.sampler, req.steps, req.seed) == (
        "1girl, cherry blossoms",
        "lowres",
        "Euler a",
        28,
        1234,
    )
    assert (req.cfg_scale, req.clip_skip, req.width, req.height) == (11.0, 2, 512, 768)


def test_legacy_invokeai_dream_and_sd_metadata(tmp_path: Path) -> None:
    dream = '"a lighthouse [ugly, blurry]" -s 40 -S 99 -W 576 -H 448 -C 8.5 -A k_lms'
    req, _ = restored(png(tmp_path / "d.png", {"Dream": dream}))
    assert (req.prompt, req.negative_prompt, req.sampler, req.steps, req.seed) == (
        "a lighthouse",
        "ugly, blurry",
        "LMS",
        40,
        99,
    )
    assert (req.cfg_scale, req.width, req.height) == (8.5, 576, 448)
    meta = {
        "model_weights": "stable-diffusion-1.5",
        "app_version": "2.3.5",
        "image": {
            "prompt": [{"prompt": "a barn owl [cartoon]", "weight": 1}],
            "steps": 25,
            "cfg_scale": 7.5,
            "seed": 31337,
            "width": 512,
            "height": 512,
            "sampler": "k_dpmpp_2m",
            "type": "img2img",
            "strength": 0.6,
        },
    }
    req, _ = restored(png(tmp_path / "s.png", {"sd-metadata": json.dumps(meta)}))
    assert (req.prompt, req.negative_prompt, req.mode, req.strength) == (
        "a barn owl",
        "cartoon",
        "img2img",
        0.6,
    )
    assert (req.steps, req.seed, req.model) == (25, 31337, "stable-diffusion-1.5")
