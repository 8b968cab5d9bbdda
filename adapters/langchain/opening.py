"""The collection behind a ``RetrievalVectorStore``: a new one for the store's encoder and
index (``new_collection``), or a folder opened with the embeddings it was built with
(``open_collection``: its own model when none is given, or the ones given once they are
checked to be the same - a different model would search vectors of another space)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from adapters.collection import Collection, PipelineConfig
from adapters.collection.components import Component, check_index
from adapters.collection.format import CollectionManifest, read_manifest
from adapters.collection.migration import UNRECORDED
from adapters.collection.models import build_encoder, same_model
from adapters.langchain.encoders import (
    DenseTextEncoder,
    MultiVectorTextEncoder,
    PathLike,
    SparseTextEncoder,
    collection_encoder,
)
from retrieval.errors import ConfigError


def open_collection(
    path: PathLike, embedding: Any, encoder: Any, verify: bool
) -> tuple[Collection, Any, Any]:
    """``(collection, embeddings, text encoder)`` for a store over the folder ``path``."""
    folder = Path(path)
    manifest = read_manifest(folder, opener="RetrievalVectorStore.load")
    external = manifest.encoder.get("external")
    if encoder is None and embedding is not None:
        encoder = DenseTextEncoder(embedding)
    if encoder is None:
        if external:
            msg = (
                f"{folder} was built with LangChain embeddings "
                f"{'not recorded by 0.1' if external == UNRECORDED else repr(external)}; the "
                "toolkit cannot load them itself: RetrievalVectorStore.load(path, embedding)."
            )
            raise ConfigError(msg)
        collection = Collection.open(folder, verify=verify)
        return collection, *_facing(collection)
    inner, _, representation, _ = collection_encoder(encoder)
    _check_same(folder, manifest, inner, representation)
    if not external:  # the collection's own settings (prompts, ...) over the model given
        inner = build_encoder(manifest.config, manifest.encoder, llm=inner.llm)
    collection = Collection.open(folder, encoder=inner, verify=verify)
    return collection, embedding, encoder


def _check_same(
    folder: Path, manifest: CollectionManifest, inner: Any, representation: str
) -> None:
    spec = manifest.encoder
    external = spec.get("external")
    recorded = external or manifest.config.sparse_model or manifest.config.model
    if manifest.config.pipeline != "sparse":
        recorded = external or manifest.config.model
    given = getattr(inner, "name", None) if inner.model == "" else inner.model
    if external == UNRECORDED:
        same = inner.model == ""
    elif external:
        same = inner.model == "" and given == external
    else:
        same = inner.model != "" and same_model(inner.llm, recorded)
    if not same:
        msg = (
            f"{folder} was built with {recorded!r}, but the embeddings given are {given!r}. "
            f"Pass the same model, or none (RetrievalVectorStore.load({str(folder)!r}) loads "
            "the collection's own)."
        )
        raise ConfigError(msg)
    if representation not in spec.get("representations", []):
        msg = (
            f"{folder} keeps {spec.get('representations')} vectors; the encoder given makes "
            f"{representation!r} ones."
        )
        raise ConfigError(msg)
    dims = getattr(inner, "dimensions", None)
    if not external and dims != spec.get("dimensions"):
        msg = f"{folder} was built with dimensions={spec.get('dimensions')}, not {dims}."
        raise ConfigError(msg)


def _facing(collection: Collection) -> tuple[Any, Any]:
    """LangChain-side embeddings / encoder over a collection's own encoder."""
    from adapters.langchain.embeddings import RetrievalEmbeddings

    inner = collection.encoder
    if "dense" in inner.kinds:
        embeddings = RetrievalEmbeddings(
            inner.llm,
            dimensions=inner.dimensions,
            query_prompt=inner.query_prompt,
            document_prompt=inner.document_prompt,
        )
        return embeddings, DenseTextEncoder(embeddings)
    if inner.kinds == ("sparse",):
        return None, SparseTextEncoder(inner.llm, top_k=inner.sparse_top_k)
    return None, MultiVectorTextEncoder(inner.llm)


def new_collection(encoder: Any, index: Any, path: PathLike | None) -> Collection:
    """A new collection (in memory when ``path`` is None) for a store's encoder and index."""
    inner, spec, representation, model = collection_encoder(encoder)
    name = {"dense": "dense", "sparse": "sparse", "multivector": "tokens"}[representation]
    if index is not None:
        name, kind = check_index(index, representation)
        where = getattr(index, "path", None)
        if path is not None and where is None and kind != "external":
            msg = (
                "The store has a path but its index lives in memory; create the index with "
                "a path too (e.g. FaissIndex.create('store/index', ...)) or leave index=None."
            )
            raise ConfigError(msg)
        where = where if kind != "external" else None  # a server's: nothing to open later
        part = Component(name, kind, {}, _relative(where, path), index)
    elif name == "dense":
        part = Component(name, "faiss", dict(getattr(encoder, "index_config", {})))
    elif name == "sparse":
        part = Component(name, "sparse")
    else:
        part = Component(name, "plaid", dict(getattr(encoder, "index_config", {})))
    kind = {"dense": "dense", "sparse": "sparse", "tokens": "multivector"}[name]
    config = PipelineConfig(
        pipeline=kind,  # type: ignore[arg-type]
        model=model,
        sparse_model=model if kind == "sparse" and model else None,
    )
    return Collection(config, path=path, encoder=inner, spec=spec, components=[part])


def _relative(where: Any, store: PathLike | None) -> str | None:
    """An index folder inside the store as a relative path (the folder can move), else
    absolute; None in memory."""
    if where is None or store is None:
        return None
    target, root = Path(where).resolve(), Path(store).resolve()
    try:
        return os.path.relpath(target, root) if target.is_relative_to(root) else str(target)
    except ValueError:
        return str(target)
