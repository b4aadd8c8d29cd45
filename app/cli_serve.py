"""``python -m app serve``: Easel as a server speaking AUTOMATIC1111's ``/sdapi/v1`` API.

Nothing here imports FastAPI at module level: the window's start-up never pays for it, and
without the ``server`` extra the command says how to install it.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import TYPE_CHECKING

from app.errors import EaselError

if TYPE_CHECKING:
    from app.server.api import ServerSettings
    from app.server.runner import EngineRunner, ModelChoice


def add_serve_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "serve",
        help="serve the webui's /sdapi/v1 API (and OpenAI images) to other apps",
        description=(
            "Serve AUTOMATIC1111's /sdapi/v1 API and OpenAI's /v1/images/generations on this "
            "computer's engine, for Open WebUI, SillyTavern, Krita/GIMP plugins and scripts. "
            "Listening beyond this computer needs --api-auth or --token."
        ),
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=7860, help="port (default: 7860)")
    p.add_argument(
        "--model", metavar="ID", help="model id from 'models list' (default: the default model)"
    )
    p.add_argument(
        "--api-auth",
        metavar="USER:PASS[,USER:PASS]",
        help="HTTP Basic credentials, as the webui's flag",
    )
    p.add_argument("--token", metavar="TOKEN", help="a bearer token clients send")
    p.add_argument("--no-gallery", action="store_true", help="do not save images to the gallery")
    p.add_argument(
        "--cors-allow-origins",
        metavar="ORIGINS",
        help="comma-separated origins browsers may call from (default: none, CORS off)",
    )
    p.add_argument(
        "--max-body-mb", type=float, default=50.0, metavar="MB", help="largest request body (50)"
    )
    p.add_argument(
        "--device", choices=["auto", "cpu", "cuda", "mps"], default="auto", help="where to run"
    )
    p.add_argument(
        "--ray",
        action="store_true",
        help="serve on Ray Serve: one engine per GPU of the Ray cluster (needs easel[cluster])",
    )
    p.add_argument(
        "--replicas",
        type=int,
        metavar="N",
        help="with --ray: number of engine replicas (default: one per GPU, else 1 CPU replica)",
    )
    return p


def _startup_model(model: str | None) -> ModelChoice | None:
    from app.cli import resolve_model
    from app.engine.engine_model import display_name
    from app.server.runner import ModelChoice

    if not model:
        from app.models import registry

        info = registry.default_model()
        if info is None or not info.path:
            return None
        return ModelChoice(info.name, info.name, info.path, id=info.id)
    path = resolve_model(model)  # the operator's own option: a path is fine here
    name = display_name(path)
    return ModelChoice(name, name, str(path))


def build_runner(args: argparse.Namespace) -> EngineRunner:
    from app.engine.device import detect_device
    from app.engine.engine import Engine
    from app.server.runner import EngineRunner, ModelChoice

    choice = _startup_model(args.model)
    engine = Engine(detect_device(None if args.device == "auto" else args.device))
    if choice is not None:
        print(f"Loading {choice.name} on {engine.device.describe()}…", file=sys.stderr, flush=True)
        engine.load(choice.path, name=choice.name)
        choice = ModelChoice(choice.title, choice.name, choice.path, engine.model_hash, choice.id)
    else:
        print(
            "No model is installed yet; the API starts without one (download one with "
            "'python -m app models download sd15').",
            file=sys.stderr,
        )
    gallery = None
    if not args.no_gallery:
        from app.library.gallery import Gallery

        gallery = Gallery
    return EngineRunner(engine, gallery_factory=gallery, current=choice)


def run_serve(args: argparse.Namespace) -> int:
    from app.server.security import ConfigError, Credentials, check_bind, parse_api_auth

    try:
        credentials = Credentials(
            parse_api_auth(args.api_auth), (args.token,) if args.token else ()
        )
        check_bind(args.host, credentials)
        if not 0 < args.max_body_mb <= 4096:
            raise ConfigError("--max-body-mb must be between 0 and 4096.")
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        import uvicorn

        from app.server.api import ServerSettings, create_app
    except ImportError:
        print(
            "error: the server needs its extra; install it with: pip install 'easel[server]'.",
            file=sys.stderr,
        )
        return 1
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    origins = tuple(o.strip() for o in (args.cors_allow_origins or "").split(",") if o.strip())
    if args.ray or args.replicas is not None:
        return _run_on_ray(args, ServerSettings(credentials, args.max_body_mb, origins))
    try:
        runner = build_runner(args)
    except EaselError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    app = create_app(runner, ServerSettings(credentials, args.max_body_mb, origins))
    runner.start()
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    finally:
        runner.stop()
    return 0


def _run_on_ray(args: argparse.Namespace, settings: ServerSettings) -> int:
    if args.replicas is not None and not args.ray:
        print("error: --replicas needs --ray.", file=sys.stderr)
        return 2
    if args.replicas is not None and not 1 <= args.replicas <= 1024:
        print("error: --replicas must be between 1 and 1024.", file=sys.stderr)
        return 2
    try:
        from app.server.ray_serve import run_cluster
    except ImportError:
        print(
            "error: --ray needs its extra; install it with: pip install 'easel[cluster]'.",
            file=sys.stderr,
        )
        return 1
    return run_cluster(args, settings)
