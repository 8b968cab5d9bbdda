"""Core of the retrieval toolkit: types, errors, device resolution, index storage primitives,
fusion and the multi-stage Retriever. Imports no sibling package."""

from __future__ import annotations

from retrieval.device import resolve_device, resolve_dtype
from retrieval.errors import (
    ConfigError,
    DeviceUnavailableError,
    FilterError,
    IndexCorruptError,
    IndexFormatError,
    IndexNotFoundError,
    InputTooLongError,
    MissingDependencyError,
    ModelNotFoundError,
    RetrievalError,
    UnsafeModelError,
)
from retrieval.filters import CompiledFilter, Filter, compile_filter
from retrieval.fusion import (
    DEFAULT_FUSION,
    FUSION_METHODS,
    Fusion,
    FusionMethod,
    reciprocal_rank_fusion,
    weighted_fusion,
)
from retrieval.hybrid import (
    DEFAULT_HYBRID,
    HybridPart,
    HybridSpec,
    hybrid_reranker,
    hybrid_retriever,
)
from retrieval.multivector import MultiVectorEmbeddings, as_multivector
from retrieval.protocols import Index, QueryEncoder, Reranker
from retrieval.retriever import RankedHit, Retriever, format_score
from retrieval.stages import REPRESENTATIONS, IndexStage, RerankStage, RescoreStage
from retrieval.types import Hit, SparseEmbeddings, as_dense, as_sparse

__all__ = [
    "DEFAULT_FUSION",
    "DEFAULT_HYBRID",
    "FUSION_METHODS",
    "REPRESENTATIONS",
    "CompiledFilter",
    "ConfigError",
    "DeviceUnavailableError",
    "Filter",
    "FilterError",
    "Fusion",
    "FusionMethod",
    "Hit",
    "HybridPart",
    "HybridSpec",
    "Index",
    "IndexCorruptError",
    "IndexFormatError",
    "IndexNotFoundError",
    "IndexStage",
    "InputTooLongError",
    "MissingDependencyError",
    "ModelNotFoundError",
    "MultiVectorEmbeddings",
    "QueryEncoder",
    "RankedHit",
    "RerankStage",
    "Reranker",
    "RescoreStage",
    "RetrievalError",
    "Retriever",
    "SparseEmbeddings",
    "UnsafeModelError",
    "as_dense",
    "as_multivector",
    "as_sparse",
    "compile_filter",
    "format_score",
    "hybrid_reranker",
    "hybrid_retriever",
    "reciprocal_rank_fusion",
    "resolve_device",
    "resolve_dtype",
    "weighted_fusion",
]
