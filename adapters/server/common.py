"""Pieces every route module uses: the server state, JSON responses, ids, usage blocks, and
the route class that turns every exception into vLLM's error body."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from adapters.server.config import ServerConfig
from adapters.server.errors import classify_exception, error_body, validation_message
from adapters.server.metrics import Metrics
from adapters.server.models import ModelRegistry

try:  # orjson is several times faster at the float lists embeddings are made of
    import orjson

    def _dumps(content: Any) -> bytes:
        return orjson.dumps(content)

except ImportError:  # pragma: no cover - depends on the environment

    def _dumps(content: Any) -> bytes:
        return json.dumps(content, separators=(",", ":")).encode()


@dataclass
class ServerState:
    """Everything a request needs, stored on ``app.state.server``."""

    registry: ModelRegistry
    config: ServerConfig
    metrics: Metrics
    index: Any = None
    started: float = 0.0


def state_of(request: Request) -> ServerState:
    state: ServerState = request.app.state.server
    return state


class JSONBody(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return _dumps(content)


def error_response(exc: BaseException) -> JSONBody:
    """vLLM's error body for any exception (the one place statuses are decided)."""
    if isinstance(exc, RequestValidationError):
        message, param = validation_message(list(exc.errors()))
        return JSONBody(error_body(400, message, param), status_code=400)
    if isinstance(exc, HTTPException):
        # FastAPI raises these itself, e.g. 400 for a body its JSON parser gives up on.
        return JSONBody(
            error_body(exc.status_code, _http_message(exc)),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )
    status, message, param, headers = classify_exception(exc)
    return JSONBody(error_body(status, message, param), status_code=status, headers=headers)


def _http_message(exc: HTTPException) -> str:
    if isinstance(exc.__cause__, RecursionError):
        return (
            "Malformed JSON body: it is nested too deeply to parse. Send a JSON object with "
            "the request fields."
        )
    if exc.status_code == 400 and "parsing the body" in str(exc.detail):
        return "Malformed JSON body: it could not be parsed. Send a JSON object."
    return str(exc.detail)


class ErrorRoute(APIRoute):
    """Wraps each handler so schema violations are 400 (not 422) and no exception escapes
    as a bare 500 or kills the worker."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:
                return error_response(exc)

        return guarded


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def usage(prompt_tokens: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt_tokens,
        "total_tokens": prompt_tokens,
        "completion_tokens": 0,
        "prompt_tokens_details": None,
    }


def envelope(prefix: str, model: str, data: list[Any], tokens: int) -> dict[str, Any]:
    """vLLM's list response: ``{id, object: "list", created, model, data, usage}``."""
    return {
        "id": new_id(prefix),
        "object": "list",
        "created": int(time.time()),
        "model": model,
        "data": data,
        "usage": usage(tokens),
    }
