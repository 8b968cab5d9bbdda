"""What a worker runs on a batch of texts: an ``encoders.LLM`` behind a picklable spec.

The spec (``LLMEncoder``) is small and picklable; ``load()`` builds the model once per worker
(a Ray actor, or the local process) and returns a function ``texts -> encoded batch``.
Anything with a ``load()`` of that shape can stand in for it (another model runtime, or a
test double).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from adapters.ray.shards import REPRESENTATIONS, Encoded
from retrieval.errors import ConfigError
from retrieval.multivector import MultiVectorEmbeddings
from retrieval.types import SparseEmbeddings

EncodeFn = Callable[[list[str]], Encoded]
"""``texts (n,)`` -> an encoded batch of ``n`` items."""


class EncoderSpec(Protocol):
    """A picklable description of an encoder; ``load`` runs inside the worker."""

    def load(self) -> EncodeFn:
        """Build the model and return the batch function."""
        ...


@dataclass(frozen=True)
class LLMEncoder:
    """Encode documents with ``encoders.LLM(model, **llm_kwargs)``."""

    model: str
    """Model folder or repo id, resolved on the worker (it must exist there too)."""
    representation: str = "dense"
    """``dense`` (``LLM.encode(pooling_task="embed")``), ``sparse`` (``LLM.embed_sparse``) or
    ``multivector`` (``LLM.encode_documents``)."""
    llm_kwargs: Mapping[str, Any] = field(default_factory=dict)
    """Further ``LLM`` constructor keywords (``device``, ``dtype``, ``max_model_len``, ...)."""
    truncate: bool = True
    """Truncate documents longer than the model accepts (a corpus should not fail on one long
    document); ``False`` makes them an error."""

    def __post_init__(self) -> None:
        if self.representation not in REPRESENTATIONS:
            msg = (
                f"Unknown representation {self.representation!r}. Valid: "
                f"{', '.join(REPRESENTATIONS)}."
            )
            raise ConfigError(msg)

    def load(self) -> EncodeFn:
        from encoders import LLM

        llm = LLM(self.model, **dict(self.llm_kwargs))
        truncate = -1 if self.truncate else None
        if self.representation == "dense":
            return lambda texts: _dense(llm, texts, truncate)
        if self.representation == "sparse":
            return lambda texts: _sparse(llm, texts, truncate)
        return lambda texts: MultiVectorEmbeddings.from_list(
            [t.float() for t in llm.encode_documents(texts, use_tqdm=False)]
        )


def _dense(llm: Any, texts: list[str], truncate: int | None) -> np.ndarray:
    """``(n, dim)`` float32 pooled, normalised (per the model's config) embeddings."""
    outputs = llm.encode(
        texts, pooling_task="embed", truncate_prompt_tokens=truncate, use_tqdm=False
    )
    return np.stack([o.outputs.data.detach().float().cpu().numpy() for o in outputs])


def _sparse(llm: Any, texts: list[str], truncate: int | None) -> SparseEmbeddings:
    """SPLADE / BGE-M3 lexical weights packed over the model's vocabulary."""
    outputs = llm.embed_sparse(texts, truncate_prompt_tokens=truncate, use_tqdm=False)
    items = [(o.outputs.indices, o.outputs.values) for o in outputs]
    return SparseEmbeddings.from_items(items, llm.vocab_size)
