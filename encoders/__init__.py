"""Models: resolution, loading, pooling (method x head) and the vLLM-style ``LLM`` runtime.

Imports ``retrieval`` only.
"""

from __future__ import annotations

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
