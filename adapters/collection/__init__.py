"""The collection: the toolkit's own workflow (format, indexing, pipeline, search)."""

from __future__ import annotations

from adapters.collection.config import (
    PIPELINE_KINDS,
    RERANK_KINDS,
    PipelineConfig,
    PipelineKind,
    RerankConfig,
)
from adapters.collection.embedder import KINDS, Embedder, Kind
from adapters.collection.encoders import (
    DenseEncoder,
    HybridEncoder,
    SparseEncoder,
    TextEncoder,
    TokenEncoder,
)
from adapters.collection.indexing.build import IndexReport, index_sources
from adapters.collection.info import index_info
from adapters.collection.maxsim_index import MaxSimIndex
from adapters.collection.models import load_model
from adapters.collection.pipeline import Pipeline
from adapters.collection.rerankers import (
    CrossEncoderReranker,
    DocumentEmbeddings,
    EmbeddingReranker,
    ScoreFusionReranker,
)
from adapters.collection.search import Searcher
from adapters.collection.store import DocumentIndex, IndexSettings

__all__ = [
    "KINDS",
    "PIPELINE_KINDS",
    "RERANK_KINDS",
    "CrossEncoderReranker",
    "DenseEncoder",
    "DocumentEmbeddings",
    "DocumentIndex",
    "Embedder",
    "EmbeddingReranker",
    "HybridEncoder",
    "IndexReport",
    "IndexSettings",
    "Kind",
    "MaxSimIndex",
    "Pipeline",
    "PipelineConfig",
    "PipelineKind",
    "RerankConfig",
    "ScoreFusionReranker",
    "Searcher",
    "SparseEncoder",
    "TextEncoder",
    "TokenEncoder",
    "index_info",
    "index_sources",
    "load_model",
]
