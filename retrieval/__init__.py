"""Core of the retrieval toolkit: types, errors, device resolution, index storage primitives
and (later) fusion, the multi-stage Retriever and evaluation. Imports no sibling package."""

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
from retrieval.multivector import MultiVectorEmbeddings, as_multivector
from retrieval.protocols import Index
from retrieval.types import Hit, SparseEmbeddings, as_dense, as_sparse

__all__ = [
    "CompiledFilter",
    "ConfigError",
    "DeviceUnavailableError",
    "Filter",
    "FilterError",
    "Hit",
    "Index",
    "IndexCorruptError",
    "IndexFormatError",
    "IndexNotFoundError",
    "InputTooLongError",
    "MissingDependencyError",
    "ModelNotFoundError",
    "MultiVectorEmbeddings",
    "RetrievalError",
    "SparseEmbeddings",
    "UnsafeModelError",
    "as_dense",
    "as_multivector",
    "as_sparse",
    "compile_filter",
    "resolve_device",
    "resolve_dtype",
]
