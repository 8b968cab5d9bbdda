"""Loaded models, cached per process: a notebook, a server or a test that indexes and then
searches a collection loads each model once, whichever door opened it."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any

from retrieval.errors import ConfigError, RetrievalError

_CACHE: dict[tuple[str, str, int | None, str], Any] = {}
_LOCK = threading.Lock()


def load_model(
    model: str,
    device: str = "auto",
    *,
    max_model_len: int | None = None,
    hf_overrides: Mapping[str, Any] | None = None,
) -> Any:
    """The ``encoders.LLM`` for ``model`` on ``device`` (loaded on first use)."""
    from encoders import LLM

    overrides = json.dumps(dict(hf_overrides or {}), sort_keys=True)
    key = (model, device, max_model_len, overrides)
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = LLM(
                model,
                device=device,
                max_model_len=max_model_len,
                hf_overrides=dict(hf_overrides) if hf_overrides else None,
            )
        return _CACHE[key]


def share_model(llm: Any, device: str = "auto") -> None:
    """Make an already-loaded ``LLM`` the cached one for its name (a server that loaded a
    model with its own flags lends it to the collection it serves)."""
    with _LOCK:
        _CACHE[(str(llm.model.name), device, None, "{}")] = llm


def clear_models() -> None:
    """Forget cached models (frees their memory)."""
    with _LOCK:
        _CACHE.clear()


# -- the encoder of a collection -----------------------------------------------------------
def primary_model(config: Any) -> tuple[str, int | None]:
    """The model (and token limit) whose vectors a collection keeps first: ``sparse_model``
    for a sparse collection, else ``model``."""
    if config.pipeline == "sparse":
        if not config.sparse_model:
            msg = (
                f"The {config.pipeline!r} pipeline needs a SPLADE model: set sparse_model "
                "(CLI: --sparse-model PATH, or retrieval index --kind sparse --model PATH)."
            )
            raise ConfigError(msg)
        return config.sparse_model, config.sparse_max_model_len
    return config.model, config.max_model_len


def load_models(config: Any, device: str | None = None) -> tuple[Any, Any]:
    """``(llm, sparse_llm)`` of a ``PipelineConfig``: the second only for a hybrid with a
    separate SPLADE ``sparse_model`` (a BGE-M3 ``model`` gives its own sparse weights)."""
    where = device or config.device
    name, limit = primary_model(config)
    overrides = config.hf_overrides if name == config.model else None
    llm = load_model(name, where, max_model_len=limit, hf_overrides=overrides)
    sparse = None
    bge_m3 = getattr(llm.model, "family", None) == "bge_m3"
    if config.pipeline == "hybrid" and config.sparse_model and not bge_m3:
        sparse = load_model(config.sparse_model, where, max_model_len=config.sparse_max_model_len)
    return llm, sparse


def encoder_spec(encoder: Any) -> dict[str, Any]:
    """What a collection's manifest records about its ``Encoder``."""
    return {
        "representations": list(encoder.kinds),
        "query_prompt": encoder.query_prompt,
        "document_prompt": encoder.document_prompt,
        "dimensions": encoder.dimensions,
        "sparse_top_k": encoder.sparse_top_k,
        "one_pass": encoder.one_pass,
        "images": encoder.images,
        "external": None,
    }


def build_encoder(
    config: Any, spec: Mapping[str, Any], device: str | None = None, *, llm: Any = None
) -> Any:
    """The ``Encoder`` a collection was built with, from its manifest (``llm``: its primary
    model, already loaded)."""
    from adapters.collection.encoders import Encoder

    external = spec.get("external")
    if external:
        msg = (
            f"This collection was built with LangChain embeddings {external!r}, which the "
            "toolkit cannot load by itself; open it from Python with "
            "RetrievalVectorStore.load(path, embedding) (the same embeddings)."
        )
        raise ConfigError(msg)
    if llm is None:
        llm, sparse = load_models(config, device)
    else:
        bge_m3 = getattr(llm.model, "family", None) == "bge_m3"
        sparse = None
        if config.pipeline == "hybrid" and config.sparse_model and not bge_m3:
            sparse = load_model(config.sparse_model, device or config.device,
                                max_model_len=config.sparse_max_model_len)  # fmt: skip
    return Encoder(
        llm,
        tuple(spec["representations"]),
        sparse_llm=sparse,
        query_prompt=str(spec.get("query_prompt") or ""),
        document_prompt=str(spec.get("document_prompt") or ""),
        dimensions=spec.get("dimensions"),
        sparse_top_k=spec.get("sparse_top_k"),
    )


def same_model(llm: Any, name: str) -> bool:
    """Whether a loaded ``LLM`` is the model ``name`` (same name, or the same folder)."""
    if str(llm.model.name) == name:
        return True
    from encoders.resolve import resolve_model

    try:
        return bool(resolve_model(name).path.resolve() == llm.model.resolved.path.resolve())
    except (RetrievalError, OSError):  # an unresolvable name is simply another model
        return False
