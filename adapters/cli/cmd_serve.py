"""``retrieval serve MODEL``: the vLLM-compatible HTTP server, with ``vllm serve``'s flags.

    retrieval serve sentence-transformers/all-MiniLM-L6-v2
    retrieval serve BAAI/bge-m3 --hf-overrides '{"architectures": ["BgeM3EmbeddingModel"]}'
    retrieval serve MODEL_A --model MODEL_B --api-key secret --index ./my-index
    retrieval serve --index ./my-index          # the collection's own model; POST /v1/search
    retrieval serve TomoroAI/tomoro-colqwen3-embed-4b --allow-remote-images

Binds 127.0.0.1 unless ``--host`` says otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any


def _models(args: argparse.Namespace) -> list[str]:
    """The models to serve: those given, else the ``--index`` collection's, else the
    embedded default."""
    from encoders.resolve import DEFAULT_MODEL

    given = [*args.model_tag, *(args.model or [])]
    own = _collection_model(args.index) if args.index else None
    return given or ([own] if own else [DEFAULT_MODEL])


def _collection_model(path: str) -> str | None:
    """The model a collection encodes queries with (None for a single index folder or a
    collection built with LangChain embeddings the toolkit cannot load)."""
    from pathlib import Path

    from adapters.collection.format import layout, read_manifest
    from adapters.collection.models import primary_model

    if layout(Path(path)) != "collection":
        return None
    manifest = read_manifest(Path(path))
    return None if manifest.encoder.get("external") else primary_model(manifest.config)[0]


def _share(args: argparse.Namespace, loaded: list[tuple[list[str], Any]]) -> None:
    """Lend a served model to the ``--index`` collection when it is that very model loaded
    with default settings (one copy in memory instead of two)."""
    from adapters.collection.models import share_model

    own = _collection_model(args.index) if args.index else None
    plain = not (args.pooler_config or args.hf_overrides or args.max_model_len) and (
        args.runner, args.convert, args.dtype) == ("auto", "auto", "auto")  # fmt: skip
    for _, llm in loaded:
        if own is not None and plain and str(llm.model.name) == own:
            share_model(llm, args.device)


def _served_names(models: list[str], names: list[str] | None) -> list[list[str]]:
    from retrieval.errors import ConfigError

    if not names:
        return [[m] for m in models]
    if len(models) == 1:
        return [list(names)]
    if len(names) != len(models):
        msg = (
            f"--served-model-name got {len(names)} names for {len(models)} models; give one "
            "name per model, in the order of the models."
        )
        raise ConfigError(msg)
    return [[n] for n in names]


def load_models(args: argparse.Namespace) -> list[tuple[list[str], Any]]:
    """Load every model with the shared engine flags: ``[(served names, LLM), ...]``."""
    from encoders import LLM

    models = _models(args)
    loaded = []
    for model, names in zip(models, _served_names(models, args.served_model_name), strict=True):
        llm = LLM(
            model,
            runner=args.runner,
            convert=args.convert,
            pooler_config=args.pooler_config,
            hf_overrides=args.hf_overrides,
            trust_remote_code=args.trust_remote_code,
            dtype=args.dtype,
            max_model_len=args.max_model_len,
            device=args.device,
            # Image-reading models: callers send images inline; never read the server's disk.
            allow_remote_images=args.allow_remote_images,
            image_limits={"allow_local_files": False},
        )
        loaded.append((names, llm))
    return loaded


def server_config(args: argparse.Namespace) -> Any:
    from adapters.server import ServerConfig

    return ServerConfig(
        api_key=args.api_key or os.environ.get("RETRIEVAL_API_KEY") or None,
        max_body_bytes=args.max_body_bytes,
        max_queue_size=args.max_queue_size,
        max_batch_tokens=args.max_batch_tokens,
        request_timeout_s=args.request_timeout,
        index_dir=args.index,
        index_text_field=args.index_text_field,
    )


def build_server_app(args: argparse.Namespace) -> Any:
    """The app ``retrieval serve`` runs: the models, and the ``--index`` collection opened
    on ``--device`` (sharing a served model that is its own)."""
    from adapters.server import build_app
    from adapters.server.routes_search import open_index

    loaded = load_models(args)
    _share(args, loaded)
    index = open_index(args.index, device=args.device) if args.index else None
    return build_app(loaded, server_config(args), index=index)


def run(args: argparse.Namespace) -> int:
    try:
        import uvicorn
    except ImportError:
        print(
            'error: install the server extra: pip install "retrieval-toolkit[server]"',
            file=sys.stderr,
        )
        return 2
    app = build_server_app(args)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        timeout_graceful_shutdown=int(args.request_timeout),
    )
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    serve = sub.add_parser(
        "serve",
        help="serve models over HTTP with vLLM's pooling routes (OpenAI / Cohere / Jina shapes)",
    )
    serve.add_argument("model_tag", nargs="*", metavar="MODEL", help="model folder or repo id")
    serve.add_argument("--model", action="append", help="another model to serve (repeatable)")
    serve.add_argument(
        "--served-model-name",
        nargs="+",
        default=None,
        help="names clients use (one model: aliases; several: one per model)",
    )
    serve.add_argument("--runner", default="auto", help="auto | pooling")
    serve.add_argument("--convert", default="auto", help="auto | embed | classify")
    serve.add_argument(
        "--pooler-config",
        type=json.loads,
        default=None,
        help='JSON, e.g. \'{"pooling_type": "MEAN"}\'',
    )
    serve.add_argument(
        "--hf-overrides", type=json.loads, default=None, help="JSON config overrides"
    )
    serve.add_argument("--trust-remote-code", action="store_true", help="run custom model code")
    serve.add_argument("--max-model-len", type=int, default=None)
    serve.add_argument("--dtype", default="auto", help="auto | float32 | float16 | bfloat16")
    serve.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    serve.add_argument(
        "--allow-remote-images",
        action="store_true",
        help="let image models fetch http(s) image URLs from requests (off: data: URLs only)",
    )
    serve.add_argument("--host", default="127.0.0.1", help="bind address (default loopback)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--api-key",
        default=None,
        help="require 'Authorization: Bearer KEY' (or set RETRIEVAL_API_KEY)",
    )
    serve.add_argument(
        "--max-queue-size",
        "--max-concurrent-requests",
        type=int,
        default=256,
        dest="max_queue_size",
        help="requests waiting per model before 503 + Retry-After",
    )
    serve.add_argument(
        "--max-batch-tokens",
        type=int,
        default=16384,
        help="token budget of a micro-batch merged across requests",
    )
    serve.add_argument(
        "--request-timeout",
        type=float,
        default=60.0,
        help="seconds before a request is cancelled with 504",
    )
    serve.add_argument(
        "--max-body-bytes",
        type=int,
        default=16 * 1024 * 1024,
        help="largest request body (413 beyond)",
    )
    serve.add_argument(
        "--index",
        default=None,
        metavar="DIR",
        help="collection served by POST /v1/search (with no MODEL, its model is served)",
    )
    serve.add_argument(
        "--index-text-field",
        default="text",
        help="metadata key with a hit's text (for search reranking)",
    )
    serve.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    serve.set_defaults(func=run)
