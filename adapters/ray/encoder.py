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
    """``dense`` (``LLM.embed``), ``sparse`` (``LLM.embed_sparse``) or ``multivector``
    (``LLM.encode_documents``), through ``adapters.collection.Encoder``."""
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
        from adapters.collection.encoders import Encoder
        from encoders import LLM

        llm = LLM(self.model, **dict(self.llm_kwargs))
        # the toolkit's one encoder seam, as the model gives it (no prompts added)
        encoder = Encoder(llm, (self.representation,), truncate=self.truncate)
        return lambda texts: _container(encoder, texts)


def _container(encoder: Any, texts: list[str]) -> Encoded:
    """A batch in the shard containers: ``(n, dim)`` float32, ``SparseEmbeddings`` over the
    model's vocabulary, or packed ``MultiVectorEmbeddings``."""
    encoded = encoder.documents(texts)
    if encoded.dense is not None:
        return np.ascontiguousarray(encoded.dense, np.float32)
    if encoded.sparse is not None:
        return SparseEmbeddings.from_items(encoded.sparse, encoder.vocab_size)
    return MultiVectorEmbeddings.from_list(encoded.tokens or [])
