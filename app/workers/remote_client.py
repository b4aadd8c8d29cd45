"""A plain HTTP client for an Easel (or AUTOMATIC1111) server's ``/sdapi/v1`` API.

Standard library only (``http.client``, what ``urllib`` is built on): the desktop installers
carry no web stack. No Qt here either; ``RemoteWorker`` runs these calls in its thread.
Every failure is a ``RemoteError`` whose message is one sentence for the window's banner.
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import socket
import ssl
import threading
import urllib.parse
from dataclasses import dataclass
from typing import Any

from PIL import Image

from app.errors import EaselError
from app.library.pngio import PARAMETERS_KEY, encode_png
from app.request import GenerationRequest, load_image

CONNECT_TIMEOUT = 10.0  # seconds for a quick call (ping, options, progress)
GENERATE_TIMEOUT = 3600.0  # a job may wait behind others on a busy server


class RemoteError(EaselError):
    """The server could not be used; the message says why and what to do."""


class RemoteAborted(RemoteError):
    """We dropped the connection ourselves (the job was cancelled)."""


@dataclass(frozen=True)
class RemoteImage:
    image: Image.Image
    parameters: str  # the PNG's ``parameters`` chunk as the server wrote it
    seed: int | None
    png: bytes  # the file as the server sent it


@dataclass(frozen=True)
class RemoteResult:
    images: list[RemoteImage]
    interrupted: bool


def normalize_url(url: str) -> str:
    """``host:port`` or ``http(s)://host:port[/prefix]``, without a trailing slash."""
    text = (url or "").strip()
    if not text:
        raise RemoteError("Enter the server's address, for example http://192.168.1.20:7860.")
    if "://" not in text:
        text = "http://" + text
    parts = urllib.parse.urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RemoteError(
            f"{url.strip()!r} is not a server address; use one like http://192.168.1.20:7860."
        )
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


class Call:
    """One HTTP exchange whose connection another thread may cut (``abort``)."""

    def __init__(self) -> None:
        self._conn: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()
        self.aborted = False

    def attach(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            self._conn = conn
            if self.aborted:
                conn.close()

    def abort(self) -> None:
        """Close the socket under a blocked request; the server drops or stops the job."""
        with self._lock:
            self.aborted = True
            conn = self._conn
        sock = getattr(conn, "sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class RemoteClient:
    """Calls one server with one token. Thread-safe: every call opens its own connection."""

    def __init__(self, url: str, token: str = "", timeout: float = CONNECT_TIMEOUT) -> None:
        self.url = normalize_url(url)
        self.token = (token or "").strip()
        self.timeout = timeout
        parts = urllib.parse.urlsplit(self.url)
        self._https = parts.scheme == "https"
        self._netloc = parts.netloc
        self._prefix = parts.path

    # -- plumbing ----------------------------------------------------------------------------
    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        if self._https:
            return http.client.HTTPSConnection(
                self._netloc, timeout=timeout, context=ssl.create_default_context()
            )
        return http.client.HTTPConnection(self._netloc, timeout=timeout)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        timeout: float | None = None,
        call: Call | None = None,
        auth: bool = True,
    ) -> Any:
        """Send JSON, return the decoded JSON answer; a ``RemoteError`` sentence otherwise."""
        limit = self.timeout if timeout is None else timeout
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if auth and self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        conn = self._connection(limit)
        if call is not None:
            call.attach(conn)
        try:
            conn.request(method, self._prefix + path, body=data, headers=headers)
            if call is not None:
                call.attach(conn)  # the socket exists now: abort can cut it
            response = conn.getresponse()
            status, raw = response.status, response.read()
        except TimeoutError:
            raise RemoteError(
                f"The Easel server at {self.url} did not answer within {limit:g} seconds; "
                "check that it is running and reachable."
            ) from None
        except ssl.SSLError as exc:
            raise RemoteError(
                f"A secure connection to {self.url} failed ({exc.reason or exc}); "
                "check the address (http or https)."
            ) from None
        except (OSError, http.client.HTTPException) as exc:
            if call is not None and call.aborted:
                raise RemoteAborted("The job was cancelled.") from None
            raise RemoteError(self._unreachable(exc)) from None
        finally:
            conn.close()
        return self._decode(status, raw)

    def _unreachable(self, exc: BaseException) -> str:
        if isinstance(exc, ConnectionRefusedError):
            why = "nothing is listening there"
        elif isinstance(exc, socket.gaierror):
            why = "the name is not known"
        elif isinstance(exc, ConnectionResetError | http.client.RemoteDisconnected):
            why = "it closed the connection"
        else:
            why = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        return (
            f"Could not reach the Easel server at {self.url} ({why}); "
            "check that it is running and that the address is right."
        )

    def _decode(self, status: int, raw: bytes) -> Any:
        if status == 401:
            what = "the token is wrong" if self.token else "it needs a token"
            raise RemoteError(
                f"The Easel server at {self.url} refused the connection because {what}; "
                "enter the token shown on the server in Settings → Engine."
            )
        try:
            payload = json.loads(raw.decode("utf-8")) if raw else None
        except (UnicodeDecodeError, ValueError):
            payload = None
            if status < 400:
                raise RemoteError(
                    f"{self.url} answered, but not as an Easel server does; check the address."
                ) from None
        if status == 404:
            raise RemoteError(
                f"{self.url} answered, but has no Easel or webui API there; check the address "
                "and that the webui was started with --api."
            )
        if status >= 400:
            detail: Any = ""
            if isinstance(payload, dict):
                detail = payload.get("detail") or (payload.get("error") or {})
                if isinstance(detail, dict):
                    detail = detail.get("message", "")
            text = str(detail).strip() if detail else f"error {status}"
            if not text.endswith((".", "!", "?")):
                text += "."
            if status >= 500:
                raise RemoteError(f"The Easel server could not run the job: {text}")
            raise RemoteError(f"The Easel server refused the job: {text}")
        return payload

    # -- the API -----------------------------------------------------------------------------
    def ping(self) -> None:
        self.request("GET", "/internal/ping", auth=False)

    def check(self) -> str:
        """The model the server has loaded; raises with the reason when it cannot be used."""
        self.ping()
        options = self.request("GET", "/sdapi/v1/options")
        if not isinstance(options, dict):
            raise RemoteError(f"{self.url} answered, but not as an Easel server does.")
        return str(options.get("sd_model_checkpoint") or "")

    def models(self) -> list[dict[str, Any]]:
        items = self.request("GET", "/sdapi/v1/sd-models")
        return [m for m in items or [] if isinstance(m, dict)]

    def progress(self) -> dict[str, Any]:
        data = self.request("GET", "/sdapi/v1/progress")
        return data if isinstance(data, dict) else {}

    def interrupt(self) -> None:
        self.request("POST", "/sdapi/v1/interrupt")

    def generate(
        self, request: GenerationRequest, model: str = "", call: Call | None = None
    ) -> RemoteResult:
        path, body = payload_for(request, model)
        answer = self.request("POST", path, body, timeout=GENERATE_TIMEOUT, call=call)
        return parse_images(answer)


def _b64_png(image: Any, what: str) -> str:
    return base64.b64encode(encode_png(load_image(image, what).convert("RGB"), None)).decode()


def _b64_mask(image: Any) -> str:
    return base64.b64encode(encode_png(load_image(image, "mask").convert("L"), None)).decode()


def payload_for(req: GenerationRequest, model: str = "") -> tuple[str, dict[str, Any]]:
    """The webui endpoint and JSON body for a request (``model``: a title from sd-models)."""
    if req.mode == "outpaint":
        raise RemoteError(
            "Outpainting runs on this computer only; choose This computer in Settings → Engine "
            "to extend a picture."
        )
    if req.controlnets:
        raise RemoteError(
            "ControlNet runs on this computer only; choose This computer in Settings → Engine "
            "or remove the ControlNet units."
        )
    overrides: dict[str, Any] = {"CLIP_stop_at_last_layers": req.clip_skip}
    if model:
        overrides["sd_model_checkpoint"] = model
    body: dict[str, Any] = {
        "prompt": req.prompt,
        "negative_prompt": req.negative_prompt,
        "sampler_name": req.sampler,
        "scheduler": req.schedule,
        "steps": req.steps,
        "cfg_scale": req.cfg_scale,
        "seed": req.seed,
        "subseed": req.subseed,
        "subseed_strength": req.subseed_strength,
        "width": req.width,
        "height": req.height,
        "batch_size": req.batch_size,
        "n_iter": 1,
        "override_settings": overrides,
        "send_images": True,
        "save_images": False,
    }
    if req.mode == "txt2img":
        return "/sdapi/v1/txt2img", body
    body["init_images"] = [_b64_png(req.init_image, "init image")]
    body["denoising_strength"] = req.strength
    body["resize_mode"] = 0
    if req.mode == "inpaint":
        body["mask"] = _b64_mask(req.mask)
        body["mask_blur"] = req.mask_blur
        body["inpaint_full_res"] = False  # the whole picture, as this computer's engine does
    return "/sdapi/v1/img2img", body


def parse_images(answer: Any) -> RemoteResult:
    """The images of a txt2img/img2img answer, with their parameters and seeds."""
    if not isinstance(answer, dict):
        raise RemoteError("The server's answer has no images; check that it is an Easel server.")
    try:
        info = json.loads(answer.get("info") or "{}")
    except ValueError:
        info = {}
    info = info if isinstance(info, dict) else {}
    seeds = [s for s in info.get("all_seeds") or [] if isinstance(s, int)]
    infotexts = [t for t in info.get("infotexts") or [] if isinstance(t, str)]
    out = []
    for i, data in enumerate(answer.get("images") or []):
        try:
            png = base64.b64decode(str(data).split(",", 1)[-1], validate=True)
            with Image.open(io.BytesIO(png)) as im:
                im.load()
                image = im.convert("RGB")
                text = im.info.get(PARAMETERS_KEY)
        except (ValueError, OSError):
            raise RemoteError(
                "The server sent an image Easel cannot read; try again or update the server."
            ) from None
        if not isinstance(text, str):
            text = infotexts[i] if i < len(infotexts) else ""
        out.append(RemoteImage(image, text, seeds[i] if i < len(seeds) else None, png))
    return RemoteResult(out, bool(info.get("interrupted")))


def decode_preview(data: str) -> Image.Image | None:
    """``current_image`` of /progress as an RGB image, or None when it cannot be read."""
    try:
        with Image.open(io.BytesIO(base64.b64decode(data.split(",", 1)[-1]))) as im:
            im.load()
            return im.convert("RGB")
    except (ValueError, OSError):
        return None
