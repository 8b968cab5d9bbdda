"""Request outputs shaped exactly like vLLM's (``out.outputs.embedding``, ``.data``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import torch

T = TypeVar("T")


@dataclass
class PoolingOutput:
    """Raw pooled data: ``(d,)`` for sequence tasks, ``(n_tokens, d)`` for token tasks."""

    data: torch.Tensor


@dataclass
class EmbeddingOutput:
    """One embedding vector as a list of Python floats."""

    embedding: list[float]

    @property
    def hidden_size(self) -> int:
        return len(self.embedding)

    @classmethod
    def from_base(cls, output: PoolingOutput) -> EmbeddingOutput:
        if output.data.ndim != 1:
            msg = f"pooled data should be 1-D, got shape {tuple(output.data.shape)}"
            raise ValueError(msg)
        return cls(output.data.tolist())


@dataclass
class ClassificationOutput:
    """Class probabilities (or raw logits when the activation is off)."""

    probs: list[float]

    @property
    def num_classes(self) -> int:
        return len(self.probs)

    @classmethod
    def from_base(cls, output: PoolingOutput) -> ClassificationOutput:
        return cls(output.data.reshape(-1).tolist())


@dataclass
class ScoringOutput:
    """One relevance / similarity score for a pair."""

    score: float

    @classmethod
    def from_base(cls, output: PoolingOutput) -> ScoringOutput:
        if output.data.numel() != 1:
            msg = (
                "Scoring API is only enabled for num_labels == 1: a score needs one value per "
                f"pair, the model produced {output.data.numel()} (a multi-label classifier "
                "cannot score pairs; use LLM.classify)"
            )
            raise ValueError(msg)
        return cls(float(output.data.reshape(-1)[0]))


@dataclass
class HybridEmbeddingOutput:
    """Dense, sparse and multi-vector representations of one input from one forward pass."""

    dense: list[float]
    """The normalized sentence embedding."""
    sparse: Any
    """Lexical weights as an ``encoders.sparse.SparseEmbeddingOutput`` (BGE-M3); ``None`` for a
    model without a lexical head."""
    multi_vector: torch.Tensor
    """Normalized token vectors ``(n_tokens, d)`` for MaxSim."""


@dataclass
class PoolingRequestOutput(Generic[T]):
    """The result for one prompt: ``request_id``, ``outputs``, ``prompt_token_ids``."""

    request_id: str
    outputs: T
    prompt_token_ids: list[int] = field(default_factory=list)
    finished: bool = True
    num_cached_tokens: int = 0


# Real subclasses (not aliases) so ``isinstance(out, EmbeddingRequestOutput)`` works as in vLLM.
class EmbeddingRequestOutput(PoolingRequestOutput[EmbeddingOutput]):
    """What ``LLM.embed`` returns per prompt: ``out.outputs.embedding``."""


class ClassificationRequestOutput(PoolingRequestOutput[ClassificationOutput]):
    """What ``LLM.classify`` returns per prompt: ``out.outputs.probs``."""


class ScoringRequestOutput(PoolingRequestOutput[ScoringOutput]):
    """What ``LLM.score`` returns per pair: ``out.outputs.score``."""
