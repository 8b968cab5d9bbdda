"""Core of the retrieval toolkit: types, errors, device resolution, index storage primitives,
fusion and the multi-stage Retriever. Imports no sibling package.

Names load lazily (PEP 562, ``retrieval.lazy``): ``import retrieval`` imports neither torch
nor numpy-heavy modules until a name that needs them is used. Errors load eagerly (stdlib only).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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
from retrieval.lazy import exports_by_name, load_export

if TYPE_CHECKING:
    from retrieval.device import resolve_device, resolve_dtype
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

# Every lazily loaded name, by module: keep in step with the TYPE_CHECKING imports above
# (tests/retrieval/test_lazy_imports.py checks both against __all__).
_EXPORTS = exports_by_name(
    {
        "retrieval.device": ("resolve_device", "resolve_dtype"),
        "retrieval.filters": ("CompiledFilter", "Filter", "compile_filter"),
        "retrieval.fusion": (
            "DEFAULT_FUSION",
            "FUSION_METHODS",
            "Fusion",
            "FusionMethod",
            "reciprocal_rank_fusion",
            "weighted_fusion",
        ),
        "retrieval.hybrid": (
            "DEFAULT_HYBRID",
            "HybridPart",
            "HybridSpec",
            "hybrid_reranker",
            "hybrid_retriever",
        ),
        "retrieval.multivector": ("MultiVectorEmbeddings", "as_multivector"),
        "retrieval.protocols": ("Index", "QueryEncoder", "Reranker"),
        "retrieval.retriever": ("RankedHit", "Retriever", "format_score"),
        "retrieval.stages": ("REPRESENTATIONS", "IndexStage", "RerankStage", "RescoreStage"),
        "retrieval.types": ("Hit", "SparseEmbeddings", "as_dense", "as_sparse"),
    }
)

if not TYPE_CHECKING:  # hidden from type checkers: a module __getattr__ would make typos Any

    def __getattr__(name: str) -> Any:
        return load_export(__name__, _EXPORTS, name)


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


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
