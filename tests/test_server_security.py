"""The server's guard: credentials, a bind that needs them, 422s with one sentence (never a
traceback), the body limit before the body is read whole, no paths, CORS off by default."""

from __future__ import annotations

import base64
import io
import socket
import struct
import subprocess
import sys
import zlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from PIL import Image

from app.server.api import ServerSettings, create_app
from app.server.security import ConfigError, Credentials, check_bind, parse_api_auth
from tests.serverkit import LiveServer, module_home_fixture, tiny_runner_fixture

webuiapi = pytest.importorskip("webuiapi")
TIMEOUT = 60.0
SMALL = {"prompt": "x", "steps": 2, "width": 64, "height": 64, "seed": 1}


easel_home = module_home_fixture()


runner = tiny_runner_fixture()


@pytest.fixture(scope="module")
def open_server(runner: Any) -> Iterator[str]:
    with LiveServer(create_app(runner)) as url:
        yield url


@pytest.fixture(scope="module")
def locked_server(runner: Any) -> Iterator[str]:
    creds = Credentials(users=(("alice", "s3cret"), ("bob", "pw")), tokens=("tok-123",))
    with LiveServer(create_app(runner, ServerSettings(credentials=creds))) as url:
        yield url


def png_b64(size: tuple[int, int] = (64, 64)) -> str:
    buf = io.BytesIO()
    Image.new("RGB", size, (10, 20, 30)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def png_header_only(width: int, height: int) -> str:
    """A PNG that claims a huge size in a few bytes: a decompression bomb's calling card."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
    return base64.b64encode(data + chunk(b"IEND", b"")).decode()


# -- credentials -----------------------------------------------------------------------------


def test_basic_auth_and_bearer_token(locked_server: str) -> None:
    port = int(locked_server.rsplit(":", 1)[1])
    api = webuiapi.WebUIApi(port=port, username="alice", password="s3cret", steps=2)
    assert api.txt2img(**SMALL).info["all_seeds"] == [1]
    ok = httpx.get(f"{locked_server}/sdapi/v1/options", auth=("bob", "pw"))
    assert ok.status_code == 200
    ok = httpx.get(
        f"{locked_server}/sdapi/v1/sd-models", headers={"Authorization": "Bearer tok-123"}
    )
    assert ok.status_code == 200 and ok.json()


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer tok-12"},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic " + base64.b64encode(b"alice:wrong").decode()},
        {"Authorization": "Basic " + base64.b64encode(b"bob:s3cret").decode()},
        {"Authorization": "Basic not-base64!"},
        {"Authorization": "tok-123"},
    ],
)
def test_wrong_or_missing_credentials_get_a_bare_401(
    locked_server: str, headers: dict[str, str]
) -> None:
    for method, path in (("POST", "/sdapi/v1/txt2img"), ("GET", "/docs"), ("GET", "/openapi.json")):
        r = httpx.request(method, f"{locked_server}{path}", headers=headers, json=SMALL)
        assert r.status_code == 401
        assert r.json() == {"detail": "Unauthorized."}


def test_ping_needs_no_credentials(locked_server: str) -> None:
    assert httpx.get(f"{locked_server}/internal/ping").json() == {}


def test_binding_beyond_loopback_needs_credentials() -> None:
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.5"):
        check_bind(host, Credentials())
    for host in ("0.0.0.0", "192.168.1.20", "::", "example.org"):
        with pytest.raises(ConfigError, match="Refusing to listen on"):
            check_bind(host, Credentials())
        check_bind(host, Credentials(tokens=("t",)))
    assert parse_api_auth("a:b,c:d:e") == (("a", "b"), ("c", "d:e"))
    with pytest.raises(ConfigError):
        parse_api_auth("nopassword")


def test_serve_refuses_to_start_on_the_network_without_credentials() -> None:
    res = subprocess.run(
        [sys.executable, "-m", "app", "serve", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 2
    assert res.stderr.startswith("error: Refusing to listen on 0.0.0.0 without credentials")
    assert res.stderr.count("\n") == 1


def test_the_window_never_imports_the_web_stack() -> None:
    code = (
        "import sys, app.__main__ as m; m.build_parser(); import app.ui.main; "
        "bad = [n for n in ('fastapi', 'uvicorn', 'starlette') if n in sys.modules]; "
        "assert not bad, bad"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr


# -- bad input: 422 with one sentence ---------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "sentence"),
    [
        ("img2img", {"init_images": ["%%%not base64%%%"]}, "The init image is not valid base64"),
        ("img2img", {"init_images": [base64.b64encode(b"hello").decode()]}, "is not an image"),
        ("img2img", {"init_images": [png_header_only(5000, 5000)]}, "5000x5000 pixels, more"),
        ("img2img", {"init_images": [png_header_only(30000, 30000)]}, "far more pixels"),
        ("img2img", {"init_images": ["/etc/passwd"]}, "URLs and file paths are not accepted"),
        ("img2img", {"init_images": ["http://x/y.png"]}, "URLs and file paths are not accepted"),
        ("img2img", {"init_images": [png_b64()], "mask": "!!"}, "The mask is not valid base64"),
        ("img2img", {}, "img2img needs init_images"),
        ("txt2img", {"width": 8192}, "out of range"),
        ("txt2img", {"width": 100}, "not a multiple of 8"),
        ("txt2img", {"sampler_name": "Bogus"}, "Unknown sampler 'Bogus'"),
        ("txt2img", {"scheduler": "sideways", "sampler_name": "Euler"}, "Unknown schedule"),
        ("txt2img", {"steps": "many"}, "The field 'steps' is not valid"),
        ("txt2img", {"n_iter": 1000}, "n_iter must be between"),
        (
            "txt2img",
            {"override_settings": {"sd_model_checkpoint": "nope"}},
            "Unknown model 'nope'",
        ),
        (
            "txt2img",
            {"override_settings": {"sd_model_checkpoint": "../../etc/passwd"}},
            "paths and URLs are not accepted",
        ),
        (
            "txt2img",
            {"override_settings": {"sd_model_checkpoint": "/models/x.safetensors"}},
            "paths and URLs are not accepted",
        ),
        ("options", {"sd_model_checkpoint": "C:\\models\\x.ckpt"}, "paths and URLs"),
        ("options", {"sd_model_checkpoint": "https://evil/x"}, "paths and URLs"),
        ("png-info", {"image": "aGVsbG8="}, "is not an image"),
        ("extra-single-image", {"image": png_b64(), "upscaler_1": "../esrgan"}, "paths and URLs"),
        ("extra-single-image", {"image": png_b64(), "upscaler_1": "R-ESRGAN"}, "Unknown upscaler"),
        ("txt2img", {"enable_hr": True, "hr_upscaler": "/srv/x.pth"}, "paths and URLs"),
        ("txt2img", {"enable_hr": True, "hr_upscaler": "R-ESRGAN"}, "Unknown upscaler"),
    ],
)
def test_bad_input_is_a_422_with_one_sentence(
    open_server: str, path: str, body: dict[str, Any], sentence: str
) -> None:
    payload = {**SMALL, **body} if path in ("txt2img", "img2img") else body
    r = httpx.post(f"{open_server}/sdapi/v1/{path}", json=payload, timeout=TIMEOUT)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert isinstance(detail, str) and sentence in detail, detail
    assert detail.endswith(".") and "\n" not in detail and "Traceback" not in r.text


def test_not_json_is_a_422(open_server: str) -> None:
    r = httpx.post(
        f"{open_server}/sdapi/v1/txt2img",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 422
    assert r.json()["detail"] == "The request body is not valid JSON."


# -- the body limit ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tight_server(runner: Any) -> Iterator[str]:
    with LiveServer(create_app(runner, ServerSettings(max_body_mb=0.01))) as url:  # 10 KB
        yield url


def test_a_body_over_the_limit_is_refused(tight_server: str) -> None:
    url = f"{tight_server}/sdapi/v1/png-info"
    big = b'{"image": "' + b"A" * 20_000 + b'"}'
    r = httpx.post(url, content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and "limit of 0.01 MB" in r.json()["detail"]
    # Without a Content-Length (chunked), counted as it streams.
    r = httpx.post(url, content=iter([big[:5000], big[5000:10000], big[10000:]]))
    assert r.status_code == 413
    # Under the limit: through to the endpoint.
    assert httpx.post(url, json={"image": ""}).status_code == 200


def test_the_limit_is_applied_before_the_body_arrives(tight_server: str) -> None:
    host, port = tight_server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(
            b"POST /sdapi/v1/txt2img HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 104857600\r\n\r\n{"
        )  # claims 100 MB and sends one byte: the answer comes without the rest
        reply = s.recv(4096)
    assert reply.startswith(b"HTTP/1.1 413")


# -- CORS --------------------------------------------------------------------------------------


def test_cors_is_off_unless_origins_are_given(open_server: str, runner: Any) -> None:
    headers = {"Origin": "https://evil.example"}
    r = httpx.get(f"{open_server}/sdapi/v1/options", headers=headers)
    assert "access-control-allow-origin" not in r.headers
    settings = ServerSettings(cors_origins=("https://krita.example",))
    with LiveServer(create_app(runner, settings)) as url:
        r = httpx.get(f"{url}/sdapi/v1/options", headers={"Origin": "https://krita.example"})
        assert r.headers["access-control-allow-origin"] == "https://krita.example"
        r = httpx.get(f"{url}/sdapi/v1/options", headers=headers)
        assert "access-control-allow-origin" not in r.headers


def test_the_desktop_installers_leave_the_server_out() -> None:
    from tests.test_packaging import _spec_assignments

    excludes = set(_spec_assignments()["EXCLUDES"])  # type: ignore[arg-type]
    assert {"app.server", "fastapi", "uvicorn", "starlette", "ray"} <= excludes
