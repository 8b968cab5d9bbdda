"""``--config FILE.toml``: the pipeline file shared by ``index``, ``search``, ``eval`` and
``serve`` (``adapters.pipeline.PipelineConfig``), mapped onto a document index.

The index takes ``pipeline`` (its kind), ``model`` (``sparse_model`` for a sparse pipeline),
``dense_index``, ``multivector_index`` and ``plaid``; search takes ``depth``, ``fusion``,
``rrf_k``, ``weights`` and the ``[[rerank]]`` stages. A hybrid with a separate SPLADE
``sparse_model``, ``max_model_len`` and ``hf_overrides`` are not supported by document indexes
yet (errors say so).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from retrieval.errors import ConfigError

SEARCH_KEYS = ("depth", "fusion", "rrf_k", "weights")


def read_pipeline(path: str | Path) -> Any:
    from adapters.collection.config import PipelineConfig

    config = PipelineConfig.from_toml(path)
    if config.pipeline == "hybrid" and config.sparse_model:
        msg = (
            f"{path}: a hybrid with a separate sparse_model is not supported by "
            "`retrieval index` yet (its hybrid is the dense + token vectors of `model`); "
            "remove sparse_model or index the sparse part into its own index."
        )
        raise ConfigError(msg)
    if config.max_model_len is not None:
        msg = f"{path}: max_model_len is not supported by `retrieval index`; use chunk_tokens."
        raise ConfigError(msg)
    if getattr(config, "hf_overrides", None):
        msg = (
            f"{path}: hf_overrides (e.g. BGE-M3) is not supported by `retrieval index` yet; "
            "build such pipelines with adapters.pipeline.Pipeline."
        )
        raise ConfigError(msg)
    return config


def index_fields(config: Any) -> dict[str, Any]:
    """``IndexSettings`` fields a pipeline config sets."""
    model = config.sparse_model if config.pipeline == "sparse" else config.model
    if not model:
        msg = 'A sparse pipeline needs sparse_model = "<SPLADE folder or id>".'
        raise ConfigError(msg)
    return {
        "model": model,
        "kind": config.pipeline,
        "dense_index": config.dense_index,
        "multivector_index": config.multivector_index,
        "plaid": dict(config.plaid),
        "search": search_fields(config),
    }


def search_fields(config: Any) -> dict[str, Any]:
    """Search settings of a pipeline config (JSON-ready)."""
    out = {key: getattr(config, key) for key in SEARCH_KEYS}
    out["weights"] = dict(out["weights"])
    out["rerank"] = [asdict(r) for r in config.rerank]
    return out
