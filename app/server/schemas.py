"""Request and response bodies in the webui's shapes (modules/api/models.py of
AUTOMATIC1111/stable-diffusion-webui): same field names and defaults; unknown fields are
ignored as the webui does, so its clients' full payloads are accepted.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, protected_namespaces=())


class Txt2ImgRequest(_Lenient):
    prompt: str | None = ""
    negative_prompt: str | None = ""
    styles: list[str] | None = None
    seed: int | None = -1
    subseed: int | None = -1
    subseed_strength: float | None = 0.0
    sampler_name: str | None = None
    sampler_index: str | None = "Euler"
    scheduler: str | None = None
    batch_size: int | None = 1
    n_iter: int | None = 1
    steps: int | None = 50
    cfg_scale: float | None = 7.0
    width: int | None = 512
    height: int | None = 512
    denoising_strength: float | None = None
    enable_hr: bool | None = False  # the hires fix (txt2img)
    hr_scale: float | None = 2.0
    hr_upscaler: str | None = None
    hr_second_pass_steps: int | None = 0
    hr_resize_x: int | None = 0
    hr_resize_y: int | None = 0
    override_settings: dict[str, Any] | None = None
    override_settings_restore_afterwards: bool | None = True
    send_images: bool | None = True
    save_images: bool | None = False
    alwayson_scripts: dict[str, Any] | None = None  # ControlNet units: controlnet.args
    # Easel's addition: "quality" (as sent) | "balanced" | "fast" (app/speed.py recipes)
    speed: str | None = None


class Img2ImgRequest(Txt2ImgRequest):
    init_images: list[str] | None = None
    resize_mode: int | None = 0
    denoising_strength: float | None = 0.75
    mask: str | None = None
    mask_blur: int | None = None
    mask_blur_x: int | None = 4
    mask_blur_y: int | None = 4
    inpainting_fill: int | None = 0
    inpaint_full_res: bool | int | None = True
    inpaint_full_res_padding: int | None = 0
    inpainting_mask_invert: int | None = 0
    include_init_images: bool | None = False


class ImagesResponse(BaseModel):
    images: list[str] | None = Field(default=None, description="base64 PNGs with parameters")
    parameters: dict[str, Any]
    info: str = Field(description="JSON: infotexts, seed, all_seeds, ...")


class ProgressResponse(BaseModel):
    progress: float
    eta_relative: float
    state: dict[str, Any]
    current_image: str | None = None
    textinfo: str | None = None


class PNGInfoRequest(_Lenient):
    image: str = ""


class PNGInfoResponse(BaseModel):
    info: str
    items: dict[str, Any] = {}
    parameters: dict[str, Any] = {}


class ExtrasSingleImageRequest(_Lenient):
    image: str = ""
    resize_mode: int = 0
    upscaling_resize: float = 2.0
    upscaling_resize_w: int = 512
    upscaling_resize_h: int = 512
    upscaling_crop: bool = True
    upscaler_1: str = "None"


class ExtrasSingleImageResponse(BaseModel):
    html_info: str = ""
    image: str | None = None


class OpenAIImagesRequest(_Lenient):
    prompt: str
    n: int = 1
    size: str = "512x512"
    response_format: str = "b64_json"
    model: str | None = None
    # Easel's additions (other OpenAI clients never send them):
    negative_prompt: str = ""
    steps: int | None = None
    seed: int = -1
