"""Composition root of the retrieval pipeline: concrete encoders, indexes and rerankers wired
into ``retrieval.Retriever`` from a ``PipelineConfig`` (TOML / dict).

``Pipeline`` builds and persists one; ``TextEncoder`` subclasses wrap ``encoders.LLM`` as
query encoders; ``MaxSimIndex`` is exact multi-vector search behind the index protocol.
"""

from __future__ import annotations

from adapters.pipeline.build import Pipeline
from adapters.pipeline.config import (
    PIPELINE_KINDS,
    RERANK_KINDS,
    PipelineConfig,
    PipelineKind,
    RerankConfig,
)
from adapters.pipeline.encoders import (
    DenseEncoder,
    HybridEncoder,
    SparseEncoder,
    TextEncoder,
    TokenEncoder,
)
from adapters.pipeline.maxsim_index import MaxSimIndex
from adapters.pipeline.rerankers import (
    CrossEncoderReranker,
    DocumentEmbeddings,
    EmbeddingReranker,
    ScoreFusionReranker,
)

__all__ = [
    "PIPELINE_KINDS",
    "RERANK_KINDS",
    "CrossEncoderReranker",
    "DenseEncoder",
    "DocumentEmbeddings",
    "EmbeddingReranker",
    "HybridEncoder",
    "MaxSimIndex",
    "Pipeline",
    "PipelineConfig",
    "PipelineKind",
    "RerankConfig",
    "ScoreFusionReranker",
    "SparseEncoder",
    "TextEncoder",
    "TokenEncoder",
]
