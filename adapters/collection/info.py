"""``collection_info``: what a collection holds and how it was built (``retrieval info``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from adapters.collection.collection import Collection


def collection_info(path: str | Path) -> dict[str, Any]:
    """Settings, counts and sizes of the collection at ``path`` (JSON-ready)."""
    collection = Collection.open(path)
    try:
        return _info(collection)
    finally:
        collection.close()


def settings_of(collection: Collection) -> dict[str, Any]:
    """The settings ``retrieval info`` shows (one flat dict)."""
    manifest, config = collection.manifest, collection.config
    chunking = manifest.chunking or {}
    dims = {p.name: _width(p.index) for p in collection.parts if p.index is not None}
    sparse = next((p.index for p in collection.parts if p.name == "sparse"), None)
    encoder = manifest.encoder
    return {
        "model": encoder.get("external") or collection.model,
        "sparse_model": config.sparse_model if config.pipeline == "hybrid" else None,
        "kind": config.pipeline,
        "chunk_tokens": chunking.get("chunk_tokens"),
        "chunk_overlap": chunking.get("chunk_overlap"),
        "dim": int(dims.get("dense") or dims.get("tokens") or 0),
        "vocab_size": int(getattr(sparse, "vocab_size", 0) or 0),
        "representations": list(encoder.get("representations", [])),
        "one_pass": bool(encoder.get("one_pass")),
        "images": bool(encoder.get("images")),
        "page_images": manifest.page_images,
        "query_prompt": encoder.get("query_prompt") or "",
        "document_prompt": encoder.get("document_prompt") or "",
        "dense_index": config.dense_index,
        "multivector_index": config.multivector_index,
        "plaid": dict(config.plaid),
        "search": {
            "depth": config.depth,
            "fusion": config.fusion,
            "rrf_k": config.rrf_k,
            "weights": dict(config.weights),
            "rerank": config.to_dict()["rerank"],
        },
        "components": {p.name: p.to_json() for p in collection.parts},
        "format": manifest.to_manifest().config["format"],
    }


def _width(index: Any) -> int:
    """The vector width of a dense or token index."""
    return int(getattr(index, "dim", 0) or getattr(getattr(index, "config", None), "dim", 0) or 0)


def _info(collection: Collection) -> dict[str, Any]:
    units = collection.state.units()
    chunks = len(collection)
    tokens = collection.state.count_tokens()
    root = collection.path
    components: dict[str, Any] = {}
    for part in collection.parts:
        if part.index is None:
            continue
        where = collection._folder_of(part)
        files = _folder_bytes(where) if where is not None else 0
        entry: dict[str, Any] = {"type": type(part.index).__name__, "count": len(part.index),
                                 "bytes": files}  # fmt: skip
        if chunks:
            entry["bytes_per_chunk"] = round(files / chunks, 1)
        if part.name == "tokens" and tokens:
            entry["tokens"] = tokens
            entry["bytes_per_token"] = round(files / tokens, 1)
        components[part.name] = entry
    total = _folder_bytes(root) if root is not None else 0
    documents = sum(1 for u in units.values() if u.done) if units else chunks
    return {
        "path": str(root),
        "settings": settings_of(collection),
        "documents": documents,
        "unfinished": sum(1 for u in units.values() if not u.done),
        "chunks": chunks,
        "tokens": tokens,
        "bytes": total,
        "bytes_per_document": round(total / max(1, documents), 1),
        "components": components,
    }


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
