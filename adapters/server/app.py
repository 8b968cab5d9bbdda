"""``build_app``: the FastAPI application over already-loaded ``encoders.LLM`` runtimes.

Nothing is loaded or parsed at import; ``retrieval serve`` loads the models and calls this.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

from adapters.server.common import JSONBody, ServerState
from adapters.server.config import ServerConfig
from adapters.server.errors import error_body
from adapters.server.metrics import Metrics
from adapters.server.models import ModelRegistry, serve_model
from retrieval.errors import MissingDependencyError

ModelsArg = Any
"""An ``LLM``; a mapping served name -> ``LLM``; or a sequence of ``(names, LLM)``."""


def build_app(models: ModelsArg, config: ServerConfig | None = None, *, index: Any = None) -> Any:
    """A FastAPI app serving ``models`` with vLLM's pooling routes.

    ``index`` is an opened index (or a folder path) for ``POST /v1/search``; when None and
    ``config.index_dir`` is set, that folder is opened.
    """
    try:
        from fastapi import FastAPI
        from starlette.exceptions import HTTPException
    except ImportError as err:
        msg = "fastapi"
        raise MissingDependencyError(msg, "server") from err
    from adapters.server import (
        routes_invocations,
        routes_misc,
        routes_page,
        routes_pooling,
        routes_score,
        routes_search,
    )
    from adapters.server.middleware import GuardMiddleware

    config = config or ServerConfig()
    metrics = Metrics()
    registry = ModelRegistry(
        [serve_model(llm, names, config, metrics) for names, llm in _named(models)]
    )
    if index is None and config.index_dir is not None:
        index = config.index_dir
    if isinstance(index, str):
        index = routes_search.open_index(index)

    @asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        yield
        # Graceful shutdown: uvicorn has drained in-flight requests; finish queued work.
        for served in registry.models:
            await served.worker.close()

    app = FastAPI(title="retrieval-toolkit", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.server = ServerState(registry, config, metrics, index, time.time())
    routes = (routes_pooling, routes_score, routes_misc, routes_search, routes_invocations,
              routes_page)  # fmt: skip
    for module in routes:
        app.include_router(module.router)

    @app.exception_handler(HTTPException)
    async def http_error(_: Any, exc: HTTPException) -> JSONBody:
        message = "Not Found: no such route." if exc.status_code == 404 else str(exc.detail)
        return JSONBody(
            error_body(exc.status_code, message),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    app.add_middleware(
        GuardMiddleware,
        api_key=config.api_key,
        max_body_bytes=config.max_body_bytes,
        metrics=metrics,
    )
    return app


def _named(models: ModelsArg) -> list[tuple[list[str], Any]]:
    if isinstance(models, Mapping):
        return [([str(name)], llm) for name, llm in models.items()]
    if isinstance(models, Sequence) and not isinstance(models, str):
        out = []
        for item in models:
            names, llm = item
            names = [names] if isinstance(names, str) else list(names)
            out.append((names, llm))
        return out
    return [([str(models.model.name)], models)]
