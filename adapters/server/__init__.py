"""The HTTP server: vLLM's pooling routes over ``encoders.LLM`` (FastAPI + uvicorn).

    from encoders import LLM
    from adapters.server import ServerConfig, build_app

    app = build_app(LLM("sentence-transformers/all-MiniLM-L6-v2"), ServerConfig(api_key="k"))
    # uvicorn.run(app, host="127.0.0.1", port=8000)  -- or: retrieval serve MODEL

FastAPI is imported when ``build_app`` is called (extra ``retrieval-toolkit[server]``).
"""

from __future__ import annotations

from typing import Any

from adapters.server.config import ServerConfig

__all__ = ["ServerConfig", "build_app"]


def build_app(models: Any, config: ServerConfig | None = None, *, index: Any = None) -> Any:
    """See ``adapters.server.app.build_app``."""
    from adapters.server.app import build_app as build

    return build(models, config, index=index)
