"""Core of the retrieval toolkit: types, errors, device resolution and (later) storage,
fusion, the multi-stage Retriever and evaluation. Imports no sibling package."""

from __future__ import annotations

from retrieval.device import resolve_device, resolve_dtype
from retrieval.errors import (
    ConfigError,
    DeviceUnavailableError,
    InputTooLongError,
    MissingDependencyError,
    ModelNotFoundError,
    RetrievalError,
    UnsafeModelError,
)

__all__ = [
    "ConfigError",
    "DeviceUnavailableError",
    "InputTooLongError",
    "MissingDependencyError",
    "ModelNotFoundError",
    "RetrievalError",
    "UnsafeModelError",
    "resolve_device",
    "resolve_dtype",
]
