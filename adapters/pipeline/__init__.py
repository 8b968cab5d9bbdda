"""The 0.1 import path of the pipeline API; everything lives in ``adapters.collection``."""

from __future__ import annotations

from adapters.collection import (
    PIPELINE_KINDS,
    RERANK_KINDS,
    CrossEncoderReranker,
    DenseEncoder,
    DocumentEmbeddings,
    EmbeddingReranker,
    HybridEncoder,
    MaxSimIndex,
    Pipeline,
    PipelineConfig,
    PipelineKind,
    RerankConfig,
    ScoreFusionReranker,
    SparseEncoder,
    TextEncoder,
    TokenEncoder,
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
