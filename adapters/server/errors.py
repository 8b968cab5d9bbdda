"""vLLM's error envelope and the one table mapping exceptions to HTTP status codes.

Every error leaves the server as ``{"error": {"message", "type", "param", "code"}}`` with
``code`` the HTTP status (vLLM's shape; the openai SDK reads ``body["error"]``). Request-schema
violations are 400, not FastAPI's 422, so clients raise ``BadRequestError`` as with vLLM.
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from typing import Any

from retrieval.errors import (
    ConfigError,
    IndexNotFoundError,
    MissingDependencyError,
    ModelNotFoundError,
    RetrievalError,
)

logger = logging.getLogger(__name__)

# Error ``type`` names by status, as vLLM's ``create_error_response`` spells them.
_TYPES = {
    400: "BadRequestError",
    401: "AuthenticationError",
    404: "NotFoundError",
    413: "RequestEntityTooLargeError",
    415: "UnsupportedMediaTypeError",
    500: "InternalServerError",
    501: "NotImplementedError",
    503: "ServiceUnavailableError",
    504: "TimeoutError",
}


class APIError(Exception):
    """An error with a chosen HTTP status, raised by route code."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.headers = headers or {}


class BadRequest(APIError):
    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(400, message, param=param)


class ModelUnknown(APIError):
    def __init__(self, name: str, served: list[str]) -> None:
        super().__init__(
            404, f"The model `{name}` does not exist. Served models: {served}.", param="model"
        )


class Overloaded(APIError):
    """The request queue is full: 503 with ``Retry-After`` instead of queueing forever."""

    def __init__(self, depth: int, retry_after_s: int) -> None:
        super().__init__(
            503,
            f"The server is busy: {depth} requests are already queued (the limit set by "
            "--max-queue-size). Retry after a moment.",
            headers={"Retry-After": str(retry_after_s)},
        )


class RequestTimedOut(APIError):
    def __init__(self, seconds: float) -> None:
        super().__init__(
            504,
            f"The request did not finish within {seconds:g} s (--request-timeout); it was "
            "cancelled. Send fewer inputs per request or raise the timeout.",
        )


def error_body(status: int, message: str, param: str | None = None) -> dict[str, Any]:
    """vLLM's envelope: ``{"error": {"message", "type", "param", "code"}}``."""
    kind = _TYPES.get(status, HTTPStatus(status).phrase.replace(" ", "") + "Error")
    return {"error": {"message": message, "type": kind, "param": param, "code": status}}


def error_bytes(status: int, message: str, param: str | None = None) -> bytes:
    return json.dumps(error_body(status, message, param)).encode()


def classify_exception(exc: BaseException) -> tuple[int, str, str | None, dict[str, str]]:
    """(status, message, param, headers) for any exception; the single mapping table.

    vLLM's rules: bad values (``ValueError``, ``TypeError``, ``OverflowError``, including every
    ``ConfigError`` such as ``InputTooLongError``) are 400, missing things 404,
    ``NotImplementedError`` 501; anything else is an unexpected 500 and is logged.
    """
    if isinstance(exc, APIError):
        return exc.status, exc.message, exc.param, exc.headers
    if isinstance(exc, ModelNotFoundError | IndexNotFoundError):
        return 404, str(exc), None, {}
    if isinstance(exc, ConfigError | ValueError | TypeError | OverflowError):
        return 400, str(exc), None, {}
    if isinstance(exc, NotImplementedError | MissingDependencyError):
        return 501, str(exc), None, {}
    if isinstance(exc, RetrievalError):
        return 400, str(exc), None, {}
    logger.exception("unexpected error while serving a request", exc_info=exc)
    return 500, f"Internal server error ({type(exc).__name__}): {exc}", None, {}


def validation_message(errors: list[dict[str, Any]]) -> tuple[str, str | None]:
    """A readable message and the dotted ``param`` of the first pydantic error.

    The JSON-parse failure FastAPI reports as a validation error becomes "Malformed JSON".
    """
    first = errors[0] if errors else {}
    if first.get("type") == "json_invalid":
        detail = (first.get("ctx") or {}).get("error", "invalid JSON")
        return f"Malformed JSON body: {detail}. Send a JSON object.", None
    if tuple(first.get("loc", ())) == ("body",) and not isinstance(first.get("input"), dict):
        given = first.get("input")
        got = "an empty body or null" if given is None else type(given).__name__
        msg = (
            f"The request body must be a JSON object (got {got}); send it with "
            "Content-Type: application/json."
        )
        return msg, None
    parts = []
    for error in errors[:5]:
        loc = _dotted(error.get("loc", ()))
        text = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
        # vLLM's messages carry pydantic's error type and the rejected value; clients match
        # on them (e.g. "literal_error"), and the value shows the caller what was wrong.
        detail = [f"at '{loc}'"] if loc else []
        kind = error.get("type")
        if kind not in (None, "value_error", "missing"):
            detail.append(f"type={kind}")
            if "input" in error:
                detail.append(f"input={_short_repr(error['input'])}")
        parts.append(f"{text} ({', '.join(detail)})" if detail else text)
    if len(errors) > 5:
        parts.append(f"... and {len(errors) - 5} more errors")
    param = _dotted(first.get("loc", ())) or None
    return "; ".join(parts) or "Invalid request body.", param


def _short_repr(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _dotted(loc: Any) -> str:
    parts = [str(p) for p in loc if p != "body"]
    return ".".join(parts)
