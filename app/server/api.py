"""The FastAPI app: the webui's ``/sdapi/v1`` endpoints and OpenAI's ``/v1/images/generations``
on one ``EngineRunner``. ``create_app`` returns it wrapped in the ``Guard`` (credentials, body
limit) and, only when origins are given, CORS.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import Body, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from PIL import Image

from app import __version__
from app.errors import Cancelled, EaselError, InvalidRequest
from app.request import GenerationRequest, validate
from app.server import choices, controlnet_api, convert
from app.server.convert import decode_image, encode_image, info_json
from app.server.openai_api import add_openai_routes
from app.server.runner import EngineRunner, JobOutcome, ModelChoice
from app.server.schemas import (
    ImagesResponse,
    Img2ImgRequest,
    PNGInfoRequest,
    PNGInfoResponse,
    ProgressResponse,
    Txt2ImgRequest,
)
from app.server.security import ASGIApp, Credentials, Guard

log = logging.getLogger(__name__)
DISCONNECT_POLL = 0.25  # seconds between checks that the waiting client is still there


@dataclass
class ServerSettings:
    credentials: Credentials = field(default_factory=Credentials)
    max_body_mb: float = 50.0
    cors_origins: tuple[str, ...] = ()


class Service:
    """What the handlers share: the runner, the model chosen in the options, the options."""

    def __init__(self, runner: EngineRunner) -> None:
        self.runner = runner
        self.options: dict[str, Any] = {
            "CLIP_stop_at_last_layers": 1,
            "samples_format": "png",
            "sd_vae": "Automatic",
        }

    @property
    def current(self) -> ModelChoice | None:
        """The model jobs run on: the runner's (a window sharing its engine moves it)."""
        return self.runner.current_model

    @current.setter
    def current(self, model: ModelChoice | None) -> None:
        self.runner.current_model = model

    def model_for(self, overrides: dict[str, Any] | None) -> ModelChoice | None:
        name = (overrides or {}).get("sd_model_checkpoint")
        if name is None:
            return self.current
        return choices.find_checkpoint(name, self.current)

    async def generate(
        self,
        request: Request,
        gen: GenerationRequest,
        n_iter: int,
        model: ModelChoice | None,
        finish: Any = None,
    ) -> tuple[JobOutcome, GenerationRequest]:
        gen = await asyncio.to_thread(validate, gen)  # 422 now, not after waiting in the queue
        if model is None and not self.runner.engine.loaded:
            raise InvalidRequest(
                "No model is loaded; set sd_model_checkpoint with POST /sdapi/v1/options."
            )
        job = self.runner.submit(gen, n_iter=n_iter, model=model, finish=finish)
        waiting = asyncio.wrap_future(job.future)
        while True:
            try:
                return await asyncio.wait_for(asyncio.shield(waiting), DISCONNECT_POLL), gen
            except TimeoutError:
                if await request.is_disconnected():
                    log.info("client left; cancelling job %d", job.id)
                    self.runner.cancel(job)
                    raise Cancelled("The client went away.") from None

    def images_response(
        self, body: Txt2ImgRequest, outcome: JobOutcome, gen: GenerationRequest
    ) -> dict[str, Any]:
        results = outcome.results
        images = []
        if body.send_images is not False:
            images = [
                encode_image(im, text)
                for r in results
                for im, text in zip(r.images, r.infotexts, strict=True)
            ]
        ran = results[0].request if results else gen
        params = body.model_dump()
        if isinstance(body, Img2ImgRequest) and not body.include_init_images:
            params["init_images"], params["mask"] = None, None
        info = info_json(ran, results, outcome.seed, ran.model, ran.model_hash, outcome.interrupted)
        return {"images": images, "parameters": params, "info": info}


def _sentence(exc: RequestValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return "The request is not valid."
    first = errors[0]
    if first.get("type") == "json_invalid":
        return "The request body is not valid JSON."
    loc = [str(p) for p in first.get("loc", ()) if p != "body"]
    if not loc:
        return "The request needs a JSON object body."
    return f"The field {'.'.join(loc)!r} is not valid: {first.get('msg', 'bad value')}."


def _error(request: Request, status: int, kind: str, detail: str) -> JSONResponse:
    if request.url.path.startswith("/v1/"):  # OpenAI's error shape for OpenAI's endpoint
        body: dict[str, Any] = {"error": {"message": detail, "type": "invalid_request_error"}}
    else:
        body = {"error": kind, "detail": detail}
    return JSONResponse(body, status_code=status)


def build_api(runner: EngineRunner) -> tuple[FastAPI, Service]:
    api = FastAPI(
        title="Easel",
        version=__version__,
        description="AUTOMATIC1111-compatible /sdapi/v1 API and OpenAI images on Easel's engine.",
    )
    svc = Service(runner)

    @api.exception_handler(RequestValidationError)
    async def _invalid_body(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(request, 422, "InvalidRequest", _sentence(exc))

    @api.exception_handler(InvalidRequest)
    async def _invalid(request: Request, exc: InvalidRequest) -> JSONResponse:
        return _error(request, 422, "InvalidRequest", str(exc))

    @api.exception_handler(EaselError)
    async def _failed(request: Request, exc: EaselError) -> JSONResponse:
        return _error(request, 500, type(exc).__name__, str(exc))

    @api.exception_handler(Exception)
    async def _crashed(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s", request.url.path)
        return _error(request, 500, "InternalError", "The server failed; see its log.")

    @api.get("/internal/ping")
    async def ping() -> dict[str, Any]:
        return {}

    @api.post("/sdapi/v1/txt2img", response_model=ImagesResponse)
    async def txt2img(body: Txt2ImgRequest, request: Request) -> dict[str, Any]:
        gen = _with_clip_skip(convert.base_request(body), svc, body)
        gen = await asyncio.to_thread(_with_controlnets, gen, body)
        outcome, ran = await svc.generate(
            request, gen, body.n_iter or 1, svc.model_for(body.override_settings)
        )
        return await asyncio.to_thread(svc.images_response, body, outcome, ran)

    @api.post("/sdapi/v1/img2img", response_model=ImagesResponse)
    async def img2img(body: Img2ImgRequest, request: Request) -> dict[str, Any]:
        gen, finish = await asyncio.to_thread(convert.img2img_request, body)
        gen = _with_clip_skip(gen, svc, body)
        gen = await asyncio.to_thread(_with_controlnets, gen, body)
        outcome, ran = await svc.generate(
            request, gen, body.n_iter or 1, svc.model_for(body.override_settings), finish
        )
        return await asyncio.to_thread(svc.images_response, body, outcome, ran)

    @api.get("/sdapi/v1/progress", response_model=ProgressResponse)
    async def progress(skip_current_image: bool = False) -> dict[str, Any]:
        state, queued = runner.snapshot()
        snapshot = {
            "skipped": state.skipped,
            "interrupted": state.interrupted,
            "stopping_generation": False,
            "job": state.job,
            "job_count": state.job_count,
            "job_timestamp": state.job_timestamp,
            "job_no": state.job_no,
            "sampling_step": state.sampling_step,
            "sampling_steps": state.sampling_steps,
            "queued": queued,
        }
        if state.job_count == 0:
            return {"progress": 0.0, "eta_relative": 0.0, "state": snapshot}
        steps = max(state.sampling_steps, 1)
        done = steps * state.job_no + state.sampling_step
        fraction = done / (steps * state.job_count) if done > 0 else 0.0
        elapsed = time.time() - state.time_start
        eta = elapsed / fraction - elapsed if fraction > 0 else 0.0
        image = None
        if state.preview is not None and not skip_current_image:
            image = await asyncio.to_thread(encode_image, Image.fromarray(state.preview), None)
        return {
            "progress": min(fraction, 1.0),
            "eta_relative": eta,
            "state": snapshot,
            "current_image": image,
        }

    @api.post("/sdapi/v1/interrupt")
    async def interrupt() -> dict[str, Any]:
        runner.interrupt()
        return {}

    @api.post("/sdapi/v1/skip")
    async def skip() -> dict[str, Any]:
        runner.skip()
        return {}

    @api.get("/sdapi/v1/sd-models")
    async def sd_models() -> list[dict[str, Any]]:
        models = await asyncio.to_thread(choices.checkpoints, svc.current)
        return [choices.sd_model_item(m) for m in models]

    @api.get("/sdapi/v1/samplers")
    async def samplers() -> list[dict[str, Any]]:
        from app.samplers import SAMPLERS

        return [
            {
                "name": s.name,
                "aliases": [],
                "options": {"scheduler": "karras"} if s.schedule else {},
            }
            for s in SAMPLERS.values()
        ]

    @api.get("/sdapi/v1/schedulers")
    async def schedulers() -> list[dict[str, Any]]:
        return [
            {
                "name": n.lower(),
                "label": n,
                "aliases": None,
                "default_rho": rho,
                "need_inner_model": False,
            }  # fmt: skip
            for n, rho in (("Automatic", -1.0), ("Uniform", -1.0), ("Karras", 7.0))
        ]

    @api.get("/controlnet/model_list")
    async def controlnet_models() -> dict[str, Any]:
        return await asyncio.to_thread(controlnet_api.model_list)

    @api.get("/controlnet/module_list")
    async def controlnet_modules() -> dict[str, Any]:
        return controlnet_api.module_list()

    @api.get("/controlnet/version")
    async def controlnet_version() -> dict[str, Any]:
        return {"version": 2}

    @api.get("/sdapi/v1/loras")
    async def loras() -> list[dict[str, Any]]:
        return await asyncio.to_thread(choices.loras)

    @api.get("/sdapi/v1/upscalers")
    async def upscalers() -> list[dict[str, Any]]:
        return await asyncio.to_thread(choices.upscalers, UPSCALERS)

    @api.get("/sdapi/v1/options")
    async def get_options() -> dict[str, Any]:
        current = svc.current
        return {
            **svc.options,
            "sd_model_checkpoint": current.title if current else None,
            "sd_checkpoint_hash": (current.hash or None) if current else None,
        }

    @api.post("/sdapi/v1/options")
    async def set_options(options: dict[str, Any] = Body(...)) -> None:  # noqa: B008
        name = options.get("sd_model_checkpoint")
        clip = options.get("CLIP_stop_at_last_layers")
        if clip is not None and (not isinstance(clip, int) or isinstance(clip, bool)):
            raise InvalidRequest("CLIP_stop_at_last_layers must be a whole number.")
        if name is not None:
            model = await asyncio.to_thread(choices.find_checkpoint, name, svc.current)
            previous, svc.current = svc.current, model  # jobs queued from now on use it
            try:
                await asyncio.wrap_future(runner.load(model))
            except BaseException:
                svc.current = previous
                raise
        for key, value in options.items():
            if key in svc.options and isinstance(value, str | int | float | bool):
                svc.options[key] = value
        return None

    @api.post("/sdapi/v1/png-info", response_model=PNGInfoResponse)
    async def png_info(body: PNGInfoRequest) -> dict[str, Any]:
        if not body.image.strip():
            return {"info": "", "items": {}, "parameters": {}}
        return await asyncio.to_thread(_png_info, body.image)

    from app.server.extras import add_extras_routes

    add_extras_routes(api)
    add_openai_routes(api, svc)
    return api, svc


UPSCALERS = ("None", "Lanczos", "Nearest")


def _with_clip_skip(
    gen: GenerationRequest, svc: Service, body: Txt2ImgRequest
) -> GenerationRequest:
    overrides = body.override_settings or {}
    if convert.has_field("clip_skip") and "CLIP_stop_at_last_layers" not in overrides:
        return gen.replace(clip_skip=int(svc.options["CLIP_stop_at_last_layers"]))
    return gen


def _with_controlnets(gen: GenerationRequest, body: Txt2ImgRequest) -> GenerationRequest:
    fallback = gen.init_image if isinstance(gen.init_image, Image.Image) else None
    units = controlnet_api.units_from(body.alwayson_scripts, fallback)
    return gen.replace(controlnets=units) if units else gen


def _png_info(data: str) -> dict[str, Any]:
    from app.library.infotext import parse_infotext
    from app.library.pngio import parameters_from_texts

    image = decode_image(data, "image")
    texts = {str(k): v for k, v in image.info.items() if isinstance(v, str)}
    geninfo = parameters_from_texts(texts, image.size) or ""
    items = {k: v for k, v in texts.items() if k != "parameters"}
    parsed: dict[str, Any] = {}
    if geninfo:
        info = parse_infotext(geninfo)
        parsed = {"Prompt": info.prompt, "Negative prompt": info.negative_prompt, **info.params}
        if "x" in info.params.get("Size", ""):
            parsed["Size-1"], _, parsed["Size-2"] = info.params["Size"].partition("x")
    return {"info": geninfo, "items": items, "parameters": parsed}


def create_app(runner: EngineRunner, settings: ServerSettings | None = None) -> ASGIApp:
    settings = settings or ServerSettings()
    api, _ = build_api(runner)
    app: ASGIApp = Guard(
        api, settings.credentials, max_body=int(settings.max_body_mb * 1024 * 1024)
    )
    if settings.cors_origins:
        from starlette.middleware.cors import CORSMiddleware

        app = CORSMiddleware(
            app,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type"],
        )
    return app
