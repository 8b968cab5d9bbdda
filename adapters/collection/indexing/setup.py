"""The collection ``retrieval index`` fills: opened and checked against the options given,
converted from a 0.1 folder, or created from the options (model, kind, chunking, TOML)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from adapters.collection.collection import Collection
from adapters.collection.config import PipelineConfig
from adapters.collection.encoders import check_kind, is_vision_model
from adapters.collection.format import layout
from adapters.collection.indexing.chunking import check_chunking
from adapters.collection.models import load_model
from retrieval.errors import ConfigError

logger = logging.getLogger(__name__)
PAGE_PIXELS = 1024
"""Default longest side of the page images an image collection keeps."""


@dataclass(frozen=True)
class IndexOptions:
    """What ``index_sources`` builds a new collection with (an existing one keeps its own;
    a different explicit value is an error)."""

    model: str | None = None
    kind: str | None = None
    chunk_tokens: int | None = None
    chunk_overlap: int | None = None
    config: str | Path | None = None
    """A pipeline TOML (``PipelineConfig.from_toml``); the other options override it."""
    page_images: int | None = None
    """Longest side of the page images an image collection keeps (``PAGE_PIXELS``; 0: none)."""


def migrate_old(folder: Path) -> str | None:
    kind = layout(folder)
    if kind not in ("index.json", "pipeline.json", "langchain-store"):
        return None
    from adapters.collection.migration import migrate

    what = migrate(folder)
    logger.warning("converted %s (%s) to a collection in place", folder, what)
    return what


def open_or_create(folder: Path, options: IndexOptions, device: str) -> Collection:
    """The collection at ``folder`` (checked against explicit ``options``), or a new one."""
    config = PipelineConfig.from_toml(options.config) if options.config else None
    if Collection.exists(folder):
        collection = Collection.open(folder, device=device)
        _check_existing(collection, options, config)
        return collection
    from encoders.resolve import DEFAULT_MODEL

    base = config or PipelineConfig(pipeline="hybrid")
    kind = options.kind or (base.pipeline if config else None)
    name = options.model or (base.sparse_model if kind == "sparse" else base.model)
    name = name or DEFAULT_MODEL
    llm = load_model(name, device, max_model_len=base.max_model_len,
                     hf_overrides=base.hf_overrides or None)  # fmt: skip
    images = is_vision_model(llm)
    kind = check_kind(kind or ("multivector" if images else "hybrid"))
    if kind == "sparse":
        base = base.replace(pipeline=kind, sparse_model=name, model=name)
    else:
        base = base.replace(pipeline=kind, model=name)
    chunking = _chunking(options, llm.max_model_len)
    pixels = (PAGE_PIXELS if options.page_images is None else options.page_images) if images else 0
    return Collection.create(folder, base, chunking=chunking, page_images=pixels, device=device)


BUILD_KEYS = ("pipeline", "model", "sparse_model", "hf_overrides", "max_model_len",
              "sparse_max_model_len", "dense_index", "multivector_index", "plaid")  # fmt: skip
"""Pipeline TOML keys that decide a collection's vectors: fixed once it is built."""


def _toml_keys(path: str | Path) -> set[str]:
    """The keys a pipeline TOML sets itself (not the defaults ``PipelineConfig`` fills in)."""
    import tomllib

    with Path(path).open("rb") as handle:
        raw = tomllib.load(handle)
    table = raw.get("pipeline")
    return set(table if isinstance(table, dict) else raw)


def _chunking(options: IndexOptions, model_limit: int) -> dict[str, int]:
    size = options.chunk_tokens or min(200, model_limit - 2)
    overlap = size // 5 if options.chunk_overlap is None else options.chunk_overlap
    check_chunking(size, overlap, model_limit)
    return {"chunk_tokens": size, "chunk_overlap": overlap}


def _check_existing(
    collection: Collection, options: IndexOptions, config: PipelineConfig | None
) -> None:
    have = collection.config
    chunking = collection.manifest.chunking
    if chunking is None:  # made by another door: chunk with the defaults from now on
        collection.manifest.chunking = _chunking(options, collection.encoder.llm.max_model_len)
        chunking = collection.manifest.chunking
    checks = [
        ("model", collection.model, options.model, "--model"),
        ("kind", have.pipeline, options.kind, "--kind"),
        ("chunk_tokens", chunking["chunk_tokens"], options.chunk_tokens, "--chunk-tokens"),
        ("chunk_overlap", chunking["chunk_overlap"], options.chunk_overlap, "--chunk-overlap"),
    ]
    if config is not None and options.config is not None:
        for name in _toml_keys(options.config) & set(BUILD_KEYS):
            checks.append((name, getattr(have, name), getattr(config, name), "--config"))
    for name, current, wanted, flag in checks:
        if wanted is not None and wanted != current:
            msg = (
                f"The index at {collection.path} was built with {name} {current!r}, not "
                f"{wanted!r}. Drop {flag} to keep using {current!r}, or build a new index in "
                "another folder (vectors of different settings cannot be mixed)."
            )
            raise ConfigError(msg)
