"""Toolkit embedding containers -> the plain values qdrant-client sends (one per item).

Each helper accepts what the matching toolkit index accepts (``as_dense``, ``as_sparse``,
``as_multivector``), so one item and a batch are read the same way everywhere.
"""

from __future__ import annotations

from typing import Any

from retrieval.errors import ConfigError
from retrieval.multivector import as_multivector
from retrieval.types import as_dense, as_sparse

SPARSE_ID_LIMIT = 2**31 - 1
"""Sparse vector ids must be below this (Qdrant ids are uint32; the toolkit packs int32)."""


def dense_rows(embeddings: Any, dim: int | None) -> list[list[float]]:
    """``(n, dim)`` (or one ``(dim,)`` vector) -> ``n`` lists of floats."""
    rows: list[list[float]] = as_dense(embeddings, dim).tolist()
    return rows


def sparse_items(embeddings: Any, models: Any) -> list[Any]:
    """A ``SparseEmbeddings``, ``(indices, values)`` pairs or ``{id: weight}`` dicts (or one
    such item) -> ``n`` ``models.SparseVector``."""
    batch = embeddings if hasattr(embeddings, "indptr") else as_sparse(embeddings, SPARSE_ID_LIMIT)
    return [
        models.SparseVector(indices=indices.tolist(), values=values.tolist())
        for indices, values in batch
    ]


def multivector_items(embeddings: Any, dim: int | None) -> list[list[list[float]]]:
    """A list of ``(tokens_i, dim)`` arrays / tensors, a ``MultiVectorEmbeddings`` or one
    ``(tokens, dim)`` array -> ``n`` lists of token vectors."""
    batch = as_multivector(embeddings)
    if len(batch) and dim is not None and batch.dim != dim:
        msg = (
            f"Multi-vector embeddings have dim {batch.dim} but the collection was created with "
            f"multivector_dim={dim}. Encode with the same model."
        )
        raise ConfigError(msg)
    items = []
    for i, item in enumerate(batch.to_list()):
        if item.shape[0] == 0:
            msg = f"Multi-vector item {i} has no vectors; Qdrant needs at least one per item."
            raise ConfigError(msg)
        items.append(item.detach().to("cpu").float().tolist())
    return items
