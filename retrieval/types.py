"""Value types shared by every index: a search hit and the dense / sparse containers.

Inputs are normalised once, at the public boundary (``as_dense``, ``as_sparse``); index
internals accept exactly one type each.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from retrieval.errors import ConfigError


@dataclass(frozen=True)
class Hit:
    """One search result, best first within a result list."""

    id: str
    """The caller's id given to ``add``."""
    score: float
    """Higher is better for every index and metric (L2 reports the negative distance)."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """The metadata stored with the item (``{}`` when none was given)."""


def new_hits(
    ext_ids: list[str], scores: list[float], metadata: list[dict[str, Any]] | None = None
) -> list[Hit]:
    """``[Hit(i, s, m) ...]`` for index internals that already hold the right types
    (``metadata`` ``None``: a fresh ``{}`` each).

    A frozen dataclass ``__init__`` sets each field through ``object.__setattr__``, about half
    a microsecond per hit, several times that when a search has just flushed the CPU caches.
    This fills each instance dict directly, in one loop; the objects are equal to (and
    indistinguishable from) normally built ones.
    """
    out = []
    for i, (ext_id, score) in enumerate(zip(ext_ids, scores, strict=True)):
        hit = _new_object(Hit)
        meta = {} if metadata is None else metadata[i]
        hit.__dict__.update(id=ext_id, score=score, metadata=meta)
        out.append(hit)
    return out


_new_object = object.__new__


def as_dense(embeddings: Any, dim: int | None = None, *, what: str = "embeddings") -> np.ndarray:
    """Return ``embeddings`` as a C-contiguous float32 array of shape ``(n, dim)``.

    Accepts numpy arrays, torch tensors (moved to CPU) and nested sequences. A 1-D input of
    length ``dim`` is one row. Non-finite values and a wrong width are errors.
    """
    if hasattr(embeddings, "detach"):  # torch.Tensor, without importing torch here
        embeddings = embeddings.detach().to("cpu").float().numpy()
    array = np.ascontiguousarray(np.asarray(embeddings, dtype=np.float32))
    if array.ndim == 1:
        array = array.reshape(1, -1)
    if array.ndim != 2:
        msg = f"{what} must have shape (n, dim); got shape {array.shape}."
        raise ConfigError(msg)
    if dim is not None and array.shape[1] != dim:
        msg = (
            f"{what} have dimension {array.shape[1]} but the index was created with dim={dim}. "
            "Encode with the same model (and Matryoshka size) the index was built for."
        )
        raise ConfigError(msg)
    if not np.isfinite(array).all():
        msg = f"{what} contain NaN or infinite values; check the encoder output."
        raise ConfigError(msg)
    return array


@dataclass(frozen=True)
class SparseEmbeddings:
    """A batch of sparse vectors packed row by row (CSR), e.g. SPLADE or BGE-M3 lexical weights.

    Item ``i`` holds ``indices[indptr[i]:indptr[i+1]]`` with ``values[indptr[i]:indptr[i+1]]``.
    Build one with ``SparseEmbeddings.from_items`` or ``as_sparse``; ``sparse[i]`` gives the
    ``(indices, values)`` pair of item ``i``.
    """

    indptr: np.ndarray
    """``(n + 1,)`` int64 offsets into ``indices`` / ``values``; ``indptr[0] == 0``."""
    indices: np.ndarray
    """``(nnz,)`` int32 vocabulary ids, unique within an item."""
    values: np.ndarray
    """``(nnz,)`` float32 weights."""
    vocab_size: int
    """Size of the vocabulary; every index is in ``[0, vocab_size)``."""

    def __post_init__(self) -> None:
        n_ptr, nnz = len(self.indptr), len(self.indices)
        if n_ptr == 0 or self.indptr[0] != 0 or self.indptr[-1] != nnz:
            msg = f"indptr must start at 0 and end at nnz={nnz}; got {self.indptr[:1]}..."
            raise ConfigError(msg)
        if len(self.values) != nnz or np.any(np.diff(self.indptr) < 0):
            msg = "indices and values must have equal length and indptr must not decrease."
            raise ConfigError(msg)
        if nnz and (int(self.indices.min()) < 0 or int(self.indices.max()) >= self.vocab_size):
            bad = int(self.indices.max()) if self.indices.max() >= self.vocab_size else -1
            msg = (
                f"Sparse index {bad} is outside the vocabulary [0, {self.vocab_size}). "
                "Create the index with the encoder's vocab_size."
            )
            raise ConfigError(msg)
        if not np.isfinite(self.values).all():
            msg = "Sparse values contain NaN or infinite weights; check the encoder output."
            raise ConfigError(msg)

    def __len__(self) -> int:
        return len(self.indptr) - 1

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        start, stop = int(self.indptr[i]), int(self.indptr[i + 1])
        return self.indices[start:stop], self.values[start:stop]

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        return (self[i] for i in range(len(self)))

    @property
    def nnz(self) -> int:
        """Number of stored non-zeros over all items."""
        return len(self.indices)

    @classmethod
    def from_items(cls, items: Sequence[Any], vocab_size: int) -> SparseEmbeddings:
        """Pack items given as ``(indices, values)`` pairs, ``{index: value}`` dicts, or objects
        with ``.indices`` / ``.values`` (fastembed's ``SparseEmbedding``). Repeated indices
        within an item are summed; explicit zeros are dropped."""
        pairs = [_item_pair(item) for item in items]
        lengths = [len(idx) for idx, _ in pairs]
        indptr = np.zeros(len(pairs) + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        indices = np.concatenate([p[0] for p in pairs]) if pairs else np.zeros(0, np.int64)
        values = np.concatenate([p[1] for p in pairs]) if pairs else np.zeros(0, np.float32)
        if len(indices) and (indices.min() < 0 or indices.max() >= vocab_size):
            msg = (
                f"Sparse index {int(indices.max())} is outside the vocabulary [0, {vocab_size}). "
                "Create the index with the encoder's vocab_size."
            )
            raise ConfigError(msg)
        return cls(indptr, indices.astype(np.int32), values.astype(np.float32), vocab_size)


def _item_pair(item: Any) -> tuple[np.ndarray, np.ndarray]:
    """One item as ``(indices int64, values float32)`` with unique indices and no zeros."""
    if isinstance(item, Mapping):
        indices = np.fromiter((int(k) for k in item), dtype=np.int64, count=len(item))
        values = np.fromiter((float(v) for v in item.values()), dtype=np.float32, count=len(item))
    elif hasattr(item, "indices") and hasattr(item, "values"):
        indices, values = np.asarray(item.indices), np.asarray(item.values)
    elif isinstance(item, tuple | list) and len(item) == 2:
        indices, values = np.asarray(item[0]), np.asarray(item[1])
    else:
        msg = (
            f"Cannot read a sparse vector from {type(item).__name__}. Give (indices, values) "
            "pairs, {index: weight} dicts or a SparseEmbeddings."
        )
        raise ConfigError(msg)
    indices = indices.reshape(-1).astype(np.int64)
    values = values.reshape(-1).astype(np.float32)
    if len(indices) != len(values):
        msg = f"A sparse item has {len(indices)} indices but {len(values)} values."
        raise ConfigError(msg)
    if len(indices) < 2 or bool(np.all(indices[1:] > indices[:-1])):  # already sorted, unique
        keep = values != 0
        return (indices, values) if keep.all() else (indices[keep], values[keep])
    unique, inverse = np.unique(indices, return_inverse=True)
    summed = np.zeros(len(unique), dtype=np.float32)
    np.add.at(summed, inverse, values)
    keep = summed != 0
    return unique[keep], summed[keep]


def as_sparse(embeddings: Any, vocab_size: int) -> SparseEmbeddings:
    """Return ``embeddings`` as a ``SparseEmbeddings`` over ``vocab_size``.

    A single item (a pair, a dict or an object with ``.indices``) becomes a batch of one.
    """
    if isinstance(embeddings, SparseEmbeddings):
        if embeddings.vocab_size != vocab_size:
            msg = (
                f"Sparse embeddings have vocab_size={embeddings.vocab_size} but the index "
                f"was created with vocab_size={vocab_size}."
            )
            raise ConfigError(msg)
        return embeddings
    if _is_single_item(embeddings):
        embeddings = [embeddings]
    return SparseEmbeddings.from_items(list(embeddings), vocab_size)


def _is_single_item(value: Any) -> bool:
    if isinstance(value, Mapping) or (hasattr(value, "indices") and hasattr(value, "values")):
        return True
    if isinstance(value, tuple) and len(value) == 2:
        first = value[0]
        return bool(np.ndim(first) == 1 and (len(first) == 0 or np.isscalar(first[0])))
    return False
