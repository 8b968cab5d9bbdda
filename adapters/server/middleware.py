"""ASGI middleware: API-key check, body-size limit, request metrics.

Pure ASGI (not ``BaseHTTPMiddleware``) so a refused request is answered before the body is
parsed, and the body is read once and replayed to the app.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from adapters.server.errors import error_bytes
from adapters.server.metrics import Metrics

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

OPEN_PATHS = frozenset({"/health", "/"})
"""Routes answered without an API key: ``/health`` (load balancers probe it) and the search
page, which holds no data (it sends the key with every request it makes)."""


class GuardMiddleware:
    """Refuses unauthenticated (401) and oversized (413) requests; records metrics."""

    def __init__(
        self, app: ASGIApp, *, api_key: str | None, max_body_bytes: int, metrics: Metrics
    ) -> None:
        self.app = app
        self.api_key = api_key.encode() if api_key else None
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status_box = [500]

        async def send_recording(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_box[0] = int(message["status"])
            await send(message)

        try:
            await self._guarded(scope, receive, send_recording)
        finally:
            route = scope.get("route")
            label = getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(label, str(status_box[0])).inc()
            self.metrics.latency.labels(label).observe(time.perf_counter() - start)

    async def _guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        open_path = scope["path"] in OPEN_PATHS
        if self.api_key is not None and not open_path and not self._authorized(scope):
            text = "Unauthorized: send 'Authorization: Bearer <api key>'."
            await _reply(send, 401, text, {"www-authenticate": "Bearer"})
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            await _reply(send, 413, self._too_large(declared))
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body.extend(message.get("body", b""))
            more = bool(message.get("more_body", False))
            if len(body) > self.max_body_bytes:
                await _reply(send, 413, self._too_large(len(body), at_least=True))
                return
        await self.app(scope, _replay(bytes(body), receive), send)

    def _authorized(self, scope: Scope) -> bool:
        assert self.api_key is not None
        header = dict(scope.get("headers") or []).get(b"authorization", b"")
        scheme, _, token = header.partition(b" ")
        # Constant-time comparison: the time taken does not reveal how much of the key matched.
        return scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), self.api_key)

    def _too_large(self, size: int, *, at_least: bool = False) -> str:
        amount = f"at least {size}" if at_least else str(size)
        return (
            f"Request body is {amount} bytes, more than the limit of {self.max_body_bytes} "
            "bytes (--max-body-bytes). Send fewer or shorter inputs per request."
        )


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers") or []:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _reply(
    send: Send, status: int, message: str, headers: dict[str, str] | None = None
) -> None:
    payload = error_bytes(status, message)
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})
