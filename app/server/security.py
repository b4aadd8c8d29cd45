"""What stands between the network and the engine, as one plain ASGI layer (no FastAPI):

- credentials (HTTP Basic from ``--api-auth``, ``Authorization: Bearer`` from ``--token``),
  compared in constant time; a miss is a bare 401 that says nothing else;
- a body limit: ``Content-Length`` over it is refused at once, and a body sent without one
  (chunked) is counted as it streams and refused the moment it passes the limit, so a large
  body is never read whole;
- the rule that a non-loopback bind needs credentials (``check_bind``).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import json
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

OPEN_PATHS = frozenset({"/internal/ping"})  # health checks need no credentials


class ConfigError(ValueError):
    """A server option that cannot work; the message is one sentence for the operator."""


@dataclass(frozen=True)
class Credentials:
    users: tuple[tuple[str, str], ...] = ()  # (user, password) pairs from --api-auth
    tokens: tuple[str, ...] = ()

    @property
    def required(self) -> bool:
        return bool(self.users or self.tokens)

    def accepts(self, authorization: str) -> bool:
        scheme, _, value = authorization.strip().partition(" ")
        value = value.strip()
        ok = False
        if scheme.lower() == "bearer" and self.tokens:
            for token in self.tokens:  # every candidate compared: no early exit to time
                ok |= hmac.compare_digest(value.encode(), token.encode())
        elif scheme.lower() == "basic" and self.users:
            try:
                user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError, ValueError):
                return False
            for u, p in self.users:
                ok |= hmac.compare_digest(user.encode(), u.encode()) & hmac.compare_digest(
                    password.encode(), p.encode()
                )
        return ok


def parse_api_auth(text: str | None) -> tuple[tuple[str, str], ...]:
    """``USER:PASS[,USER:PASS]`` (the webui's ``--api-auth``)."""
    if not text:
        return ()
    pairs = []
    for part in text.split(","):
        user, sep, password = part.strip().partition(":")
        if not sep or not user or not password:
            raise ConfigError("--api-auth must be USER:PASS, or several joined by commas.")
        pairs.append((user, password))
    return tuple(pairs)


def is_loopback(host: str) -> bool:
    if host.strip().lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, credentials: Credentials) -> None:
    if not is_loopback(host) and not credentials.required:
        raise ConfigError(
            f"Refusing to listen on {host} without credentials: others on the network could "
            "use this computer; add --api-auth USER:PASS or --token TOKEN, or use --host 127.0.0.1."
        )


@dataclass
class Guard:
    """Wraps the web app: credentials first (headers only), then the body limit."""

    app: ASGIApp
    credentials: Credentials = field(default_factory=Credentials)
    max_body: int = 50 * 1024 * 1024

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if self.credentials.required and scope["path"] not in OPEN_PATHS:
            if not self.credentials.accepts(headers.get("authorization", "")):
                challenge = [(b"www-authenticate", b'Basic realm="Easel"')]
                if not self.credentials.users:
                    challenge = [(b"www-authenticate", b"Bearer")]
                await _respond(send, 401, "Unauthorized.", challenge)
                return
        length = headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                await _respond(send, 400, "The Content-Length header is not a number.")
                return
            if int(length) > self.max_body:
                await _respond(send, 413, self._too_large())
                return
        chunks: list[bytes] = []
        total = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            total += len(body)
            if total > self.max_body:
                await _respond(send, 413, self._too_large())
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()  # after the body: the disconnect, when it comes

        await self.app(scope, replay, send)

    def _too_large(self) -> str:
        return f"The request body is larger than the server's limit of {self._mb()} MB."

    def _mb(self) -> str:
        return f"{self.max_body / (1024 * 1024):.3g}"


async def _respond(
    send: Send, status: int, detail: str, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
