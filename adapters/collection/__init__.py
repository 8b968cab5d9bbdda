"""The collection: the toolkit's own workflow - one folder format, indexing, the pipeline
and search - that every door (CLI, server, LangChain, Ray, eval) creates and opens.

    from adapters.collection import Collection, PipelineConfig, index_sources

    report = index_sources(["docs/"], "my-index")        # incremental and resumable
    collection = Collection.open("my-index")
    hits = collection.search("how do I install it?", k=5)
    hits[0].id, hits[0].score, hits[0].metadata["source"], hits[0].metadata["text"]

    pipe = Collection(PipelineConfig(pipeline="hybrid"), path="other")   # from Python
    pipe.add(ids, texts, metadata); pipe.save()

Modules: ``collection`` (the class), ``format`` (the folder and its manifest), ``state``
(chunks + incremental state), ``components`` (the vector indexes), ``encoders`` (the one
encoder seam), ``search`` (its Retriever: fusion, rerank stages), ``config``
(``PipelineConfig`` / pipeline.toml), ``indexing/`` (sources -> chunks -> collection),
``migration`` (0.1 folders), ``info``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from adapters.collection.collection import Collection, Pipeline
    from adapters.collection.config import (
        PIPELINE_KINDS,
        RERANK_KINDS,
        PipelineConfig,
        PipelineKind,
        RerankConfig,
    )
    from adapters.collection.encoders import (
        KINDS,
        DenseEncoder,
        Encoded,
        Encoder,
        HybridEncoder,
        Kind,
        SparseEncoder,
        TextEncoder,
        TokenEncoder,
    )
    from adapters.collection.indexing.build import IndexReport, index_sources
    from adapters.collection.info import collection_info
    from adapters.collection.maxsim_index import MaxSimIndex
    from adapters.collection.migration import migrate
    from adapters.collection.models import load_model
    from adapters.collection.rerankers import (
        CrossEncoderReranker,
        DocumentEmbeddings,
        EmbeddingReranker,
        ScoreFusionReranker,
    )
    from adapters.collection.search import hybrid_fusion

_EXPORTS = {
    "Collection": "collection",
    "CrossEncoderReranker": "rerankers",
    "DenseEncoder": "encoders",
    "DocumentEmbeddings": "rerankers",
    "EmbeddingReranker": "rerankers",
    "Encoded": "encoders",
    "Encoder": "encoders",
    "HybridEncoder": "encoders",
    "IndexReport": "indexing.build",
    "KINDS": "encoders",
    "Kind": "encoders",
    "MaxSimIndex": "maxsim_index",
    "PIPELINE_KINDS": "config",
    "Pipeline": "collection",
    "PipelineConfig": "config",
    "PipelineKind": "config",
    "RERANK_KINDS": "config",
    "RerankConfig": "config",
    "ScoreFusionReranker": "rerankers",
    "SparseEncoder": "encoders",
    "TextEncoder": "encoders",
    "TokenEncoder": "encoders",
    "collection_info": "info",
    "hybrid_fusion": "search",
    "index_sources": "indexing.build",
    "load_model": "models",
    "migrate": "migration",
}
"""Public name -> its module: imported on first use, so ``import adapters.collection`` (and
the CLI's ``--help``) loads no model code."""

__all__ = [
    "KINDS",
    "PIPELINE_KINDS",
    "RERANK_KINDS",
    "Collection",
    "CrossEncoderReranker",
    "DenseEncoder",
    "DocumentEmbeddings",
    "EmbeddingReranker",
    "Encoded",
    "Encoder",
    "HybridEncoder",
    "IndexReport",
    "Kind",
    "MaxSimIndex",
    "Pipeline",
    "PipelineConfig",
    "PipelineKind",
    "RerankConfig",
    "ScoreFusionReranker",
    "SparseEncoder",
    "TextEncoder",
    "TokenEncoder",
    "collection_info",
    "hybrid_fusion",
    "index_sources",
    "load_model",
    "migrate",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value
