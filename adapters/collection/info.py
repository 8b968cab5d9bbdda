"""``collection_info``: what a collection holds and how it was built (``retrieval info``).

Everything comes from the manifests and the chunk store: no index is loaded and no model,
so it imports neither torch nor faiss and answers at once whatever the collection's size.
Each index file is checked to exist with its recorded size (not re-hashed: opening the
collection for search verifies checksums).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters.collection.components import Component, manifest_kind
from adapters.collection.format import DB_FILE, CollectionManifest, read_manifest
from adapters.collection.models import primary_model
from adapters.collection.state import CollectionState
from retrieval.storage import MANIFEST_NAME, IndexFolder, Manifest

INDEX_CLASSES = {
    "faiss": "FaissIndex",
    "exact": "ExactIndex",
    "sparse": "SparseIndex",
    "bm25": "BM25Index",
    "maxsim": "MaxSimIndex",
    "plaid": "PlaidIndex",
}
"""Index type -> the class that opens it (``components.index_classes``, by name)."""


@dataclass(frozen=True)
class _Part:
    """A component that has an index on disk, as its own manifest describes it."""

    component: Component
    folder: Path
    manifest: Manifest


def collection_info(path: str | Path) -> dict[str, Any]:
    """Settings, counts and sizes of the collection at ``path`` (JSON-ready)."""
    root = Path(path)
    manifest = read_manifest(root, opener="retrieval info")
    parts = _parts(root, manifest)
    state = CollectionState(root / DB_FILE)
    try:
        units = state.units()
        tokens = state.count_tokens()
        chunks = parts[0].manifest.count if parts else state.count_chunks()
    finally:
        state.close()
    components: dict[str, Any] = {}
    for part in parts:
        files = _folder_bytes(part.folder)
        entry: dict[str, Any] = {"type": _class_name(part.manifest.kind),
                                 "count": part.manifest.count, "bytes": files}  # fmt: skip
        if chunks:
            entry["bytes_per_chunk"] = round(files / chunks, 1)
        if part.component.name == "tokens" and tokens:
            entry["tokens"] = tokens
            entry["bytes_per_token"] = round(files / tokens, 1)
        components[part.component.name] = entry
    total = _folder_bytes(root)
    documents = sum(1 for u in units.values() if u.done) if units else chunks
    return {
        "path": str(root),
        "settings": settings_of(manifest, parts),
        "documents": documents,
        "unfinished": sum(1 for u in units.values() if not u.done),
        "chunks": chunks,
        "tokens": tokens,
        "bytes": total,
        "bytes_per_document": round(total / max(1, documents), 1),
        "components": components,
    }


def settings_of(manifest: CollectionManifest, parts: list[_Part]) -> dict[str, Any]:
    """The settings ``retrieval info`` shows (one flat dict)."""
    config = manifest.config
    chunking = manifest.chunking or {}
    dims = {p.component.name: p.manifest.dim for p in parts}
    encoder = manifest.encoder
    return {
        "model": encoder.get("external") or primary_model(config)[0],
        "sparse_model": config.sparse_model if config.pipeline == "hybrid" else None,
        "kind": config.pipeline,
        "chunk_tokens": chunking.get("chunk_tokens"),
        "chunk_overlap": chunking.get("chunk_overlap"),
        "dim": int(dims.get("dense") or dims.get("tokens") or 0),
        "vocab_size": int(dims.get("sparse") or 0),
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
        "components": {c.name: c.to_json() for c in manifest.components},
        "format": manifest.to_manifest().config["format"],
    }


def _parts(root: Path, manifest: CollectionManifest) -> list[_Part]:
    """The components with an index folder (one not created yet, or a caller's own index,
    has none)."""
    out = []
    for component in manifest.components:
        if component.path is None:
            continue
        folder = Path(component.path)
        folder = folder if folder.is_absolute() else root / folder
        if not (folder / MANIFEST_NAME).is_file():
            continue
        kind = manifest_kind(folder)  # what opening it would go by
        index = IndexFolder(folder).read_manifest(kind, "Collection.create", verify=False)
        out.append(_Part(component, folder, index))
    return out


def _class_name(kind: str) -> str:
    return INDEX_CLASSES.get(kind, kind)


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
