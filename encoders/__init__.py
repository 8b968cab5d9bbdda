"""Models: resolution, loading, pooling (method x head) and the vLLM-style ``LLM`` runtime.

Imports ``retrieval`` only. Names load lazily (PEP 562, ``retrieval.lazy``), so
``from encoders.resolve import DEFAULT_MODEL`` (the CLI's ``--help``) or ``retrieval models``
does not import torch or transformers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from retrieval.lazy import exports_by_name, load_export

if TYPE_CHECKING:
    from encoders.config import POOLING_TASKS, POOLING_TYPES, PoolerConfig
    from encoders.llm import LLM
    from encoders.outputs import (
        ClassificationOutput,
        ClassificationRequestOutput,
        EmbeddingOutput,
        EmbeddingRequestOutput,
        PoolingOutput,
        PoolingRequestOutput,
        ScoringOutput,
        ScoringRequestOutput,
    )
    from encoders.params import PoolingParams
    from encoders.resolve import DEFAULT_MODEL, ResolvedModel, packaged_models, resolve_model

_EXPORTS = exports_by_name(
    {
        "encoders.config": ("POOLING_TASKS", "POOLING_TYPES", "PoolerConfig"),
        "encoders.llm": ("LLM",),
        "encoders.outputs": (
            "ClassificationOutput",
            "ClassificationRequestOutput",
            "EmbeddingOutput",
            "EmbeddingRequestOutput",
            "PoolingOutput",
            "PoolingRequestOutput",
            "ScoringOutput",
            "ScoringRequestOutput",
        ),
        "encoders.params": ("PoolingParams",),
        "encoders.resolve": ("DEFAULT_MODEL", "ResolvedModel", "packaged_models", "resolve_model"),
    }
)
"""Public name -> its module, imported on first use."""

if not TYPE_CHECKING:  # hidden from type checkers: a module __getattr__ would make typos Any

    def __getattr__(name: str) -> Any:
        return load_export(__name__, _EXPORTS, name)


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


__all__ = [
    "DEFAULT_MODEL",
    "LLM",
    "POOLING_TASKS",
    "POOLING_TYPES",
    "ClassificationOutput",
    "ClassificationRequestOutput",
    "EmbeddingOutput",
    "EmbeddingRequestOutput",
    "PoolerConfig",
    "PoolingOutput",
    "PoolingParams",
    "PoolingRequestOutput",
    "ResolvedModel",
    "ScoringOutput",
    "ScoringRequestOutput",
    "packaged_models",
    "resolve_model",
]
