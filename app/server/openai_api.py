"""OpenAI's ``POST /v1/images/generations`` (Open WebUI and other OpenAI clients), on the same
queue: prompt, n (the batch), size, ``response_format`` b64_json (or url, as a data URL)."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request

from app.errors import InvalidRequest
from app.request import GenerationRequest
from app.server import choices
from app.server.convert import encode_image
from app.server.schemas import OpenAIImagesRequest

if TYPE_CHECKING:
    from app.server.api import Service

MAX_N = 10


def _size(text: str) -> tuple[int, int]:
    w, sep, h = text.lower().partition("x")
    if not sep or not w.isdigit() or not h.isdigit():
        raise InvalidRequest(f"size {text!r} is not WIDTHxHEIGHT, e.g. 512x512.")
    return int(w), int(h)


def build_request(body: OpenAIImagesRequest) -> GenerationRequest:
    if not 1 <= body.n <= MAX_N:
        raise InvalidRequest(f"n must be between 1 and {MAX_N}; got {body.n}.")
    if body.response_format not in ("b64_json", "url"):
        raise InvalidRequest("response_format must be b64_json or url.")
    width, height = _size(body.size)
    extra: dict[str, Any] = {"steps": body.steps} if body.steps is not None else {}
    return GenerationRequest(
        prompt=body.prompt,
        negative_prompt=body.negative_prompt,
        width=width,
        height=height,
        batch_size=body.n,
        seed=body.seed,
        **extra,  # type: ignore[arg-type]
    )


def add_openai_routes(api: FastAPI, svc: Service) -> None:
    @api.post("/v1/images/generations")
    async def images_generations(body: OpenAIImagesRequest, request: Request) -> dict[str, Any]:
        gen = build_request(body)
        model = svc.current
        if body.model:
            # OpenAI clients send their own model names ("dall-e-3"): only ours switch.
            try:
                model = choices.find_checkpoint(body.model, svc.current)
            except InvalidRequest:
                if "/" in body.model or "\\" in body.model or ".." in body.model:
                    raise
        outcome, _ = await svc.generate(request, gen, 1, model)

        def encode() -> list[dict[str, str]]:
            out = []
            for r in outcome.results:
                for im, text in zip(r.images, r.infotexts, strict=True):
                    data = encode_image(im, text)
                    key = "b64_json" if body.response_format == "b64_json" else "url"
                    value = data if key == "b64_json" else f"data:image/png;base64,{data}"
                    out.append({key: value, "revised_prompt": body.prompt})
            return out

        return {"created": int(time.time()), "data": await asyncio.to_thread(encode)}
