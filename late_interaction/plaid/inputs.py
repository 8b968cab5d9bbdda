"""Validation of what ``PlaidIndex`` is given: documents (lists of token arrays, packed
containers or a stream of such batches) and queries."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from retrieval.errors import ConfigError
from retrieval.multivector import MultiVectorEmbeddings, as_multivector


@dataclass(frozen=True)
class Docs:
    """Documents ready to store: ``vectors`` ``(tokens, dim)`` float32, ``lengths`` ``(n,)``."""

    vectors: np.ndarray
    lengths: np.ndarray

    def __len__(self) -> int:
        return len(self.lengths)

    @classmethod
    def concat(cls, parts: Sequence[Docs]) -> Docs:
        return cls(
            np.concatenate([p.vectors for p in parts]), np.concatenate([p.lengths for p in parts])
        )


class Prepared:
    """Already-validated documents passed through ``StoredIndex.add`` unchanged."""

    def __init__(self, docs: Docs) -> None:
        self.docs = docs

    def __len__(self) -> int:
        return len(self.docs)


def is_stream(embeddings: Any) -> bool:
    """An iterator / generator of batches (not a list, array, tensor or container)."""
    if isinstance(embeddings, MultiVectorEmbeddings | np.ndarray | torch.Tensor | Sequence):
        return False
    return isinstance(embeddings, Iterator)


def prepare_docs(embeddings: Any, dim: int) -> Docs:
    """``embeddings`` (a list of ``(tokens_i, dim)`` arrays / tensors or a container) as
    ``Docs``; a ``ConfigError`` naming the fix when the width is not the index's."""
    if isinstance(embeddings, Prepared):
        return embeddings.docs
    docs = as_multivector(embeddings)
    if len(docs) and docs.dim != dim:
        msg = (
            f"Documents have dim {docs.dim} but this index has dim {dim}; "
            "encode with the model the index was created for."
        )
        raise ConfigError(msg)
    vectors = docs.vectors.detach().cpu().to(torch.float32).numpy()
    return Docs(vectors.reshape(-1, dim), docs.lengths.cpu().numpy())


def prepare_queries(queries: Any, dim: int) -> list[np.ndarray]:
    """One ``(q_tokens, dim)`` array, a ``(n, q_tokens, dim)`` batch or a list / container of
    queries as contiguous float32 arrays; each checked for shape and finite values."""
    if isinstance(queries, torch.Tensor | np.ndarray) and queries.ndim == 2:
        items: list[Any] = [queries]
    elif isinstance(queries, torch.Tensor | np.ndarray) and queries.ndim == 3:
        items = list(queries)
    else:
        items = list(as_multivector(queries)) if not isinstance(queries, str | bytes) else []
    out = []
    for i, item in enumerate(items):
        array = np.asarray(torch.as_tensor(item).detach().cpu().float())
        if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] != dim:
            msg = (
                f"Query {i} has shape {array.shape}; a query is (q_tokens, dim) with "
                f"q_tokens >= 1 and dim {dim}."
            )
            raise ConfigError(msg)
        if not np.isfinite(array).all():
            msg = f"Query {i} contains NaN or infinite values; check the encoder output."
            raise ConfigError(msg)
        out.append(np.ascontiguousarray(array))
    return out
