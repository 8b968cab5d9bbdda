"""``POST /invocations``: vLLM's SageMaker-style entry point. One route takes any pooling
request and answers exactly as the specific route would, picked from the body's fields and
the served model's tasks."""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from adapters.server import routes_pooling, routes_score
from adapters.server.common import ErrorRoute, state_of
from adapters.server.schemas import (
    ClassifyRequest,
    EmbeddingRequest,
    PoolingRequest,
    RerankRequest,
    ScoreRequest,
)

router = APIRouter(route_class=ErrorRoute)

_SCORE_FIELDS = ("text_1", "data_1", "queries")
Schema = TypeVar("Schema", bound=BaseModel)


@router.post("/invocations")
async def invocations(body: dict[str, Any], request: Request) -> Response:
    if "query" in body and "documents" in body:
        return await routes_score.rerank(_parse(RerankRequest, body), request)
    if any(field in body for field in _SCORE_FIELDS):
        return await routes_score.score(_parse(ScoreRequest, body), request)
    if "task" in body:
        return await routes_pooling.pooling(_parse(PoolingRequest, body), request)
    model = body.get("model")
    tasks = state_of(request).registry.get(model if isinstance(model, str) else None).tasks
    if "embed" in tasks:
        return await routes_pooling.embeddings(_parse(EmbeddingRequest, body), request)
    if "classify" in tasks:
        return await routes_pooling.classify(_parse(ClassifyRequest, body), request)
    return await routes_pooling.pooling(_parse(PoolingRequest, body), request)


def _parse(schema: type[Schema], body: dict[str, Any]) -> Schema:
    """Validate as the specific route would; errors read the same as there."""
    try:
        return schema.model_validate(body)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
        raise RequestValidationError(errors) from None
