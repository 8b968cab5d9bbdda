"""The packed multi-vector container: ColBERT-style token embeddings, one tensor for a batch.

A batch of ``n`` items, item ``i`` holding ``n_i`` vectors of width ``dim``, is stored as one
``(total_tokens, dim)`` tensor plus ``(n + 1,)`` offsets (TEI's ``cu_seqlens``, ColBERT's
``doclens`` as a prefix sum). Nothing is padded; kernels pad inside themselves if they must.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from retrieval.errors import ConfigError

if TYPE_CHECKING:  # torch is imported where a container is built, not with the package
    import torch


@dataclass(frozen=True, eq=False)
class MultiVectorEmbeddings:
    """Packed multi-vector batch: item i is vectors[offsets[i]:offsets[i+1]].

    Build one with ``from_list`` (validates and packs) or ``as_multivector`` (also accepts an
    existing container or one ``(n_tokens, dim)`` tensor). ``emb[i]`` is a view, not a copy.
    An item may have zero vectors (an empty document). ``eq=False``: tensors have no single
    truth value, so compare ``vectors`` and ``offsets`` explicitly.
    """

    vectors: torch.Tensor
    """``(total_tokens, dim)`` floating-point vectors of every item, item after item."""
    offsets: torch.Tensor
    """``(n + 1,)`` int64; ``offsets[0] == 0``, non-decreasing, ``offsets[-1] == total_tokens``."""

    def __post_init__(self) -> None:
        import torch

        # Structural checks only (cheap); values are checked for NaN/inf by ``from_list``.
        if self.vectors.ndim != 2 or not self.vectors.is_floating_point():
            msg = (
                "MultiVectorEmbeddings.vectors must be a 2-D float tensor (total_tokens, dim); "
                f"got shape {tuple(self.vectors.shape)} and dtype {self.vectors.dtype}."
            )
            raise ConfigError(msg)
        if self.offsets.ndim != 1 or self.offsets.dtype != torch.int64 or len(self.offsets) == 0:
            msg = (
                "MultiVectorEmbeddings.offsets must be a non-empty 1-D int64 tensor (n + 1,); "
                f"got shape {tuple(self.offsets.shape)} and dtype {self.offsets.dtype}."
            )
            raise ConfigError(msg)
        total = self.vectors.shape[0]
        first, last = int(self.offsets[0]), int(self.offsets[-1])
        if first != 0 or last != total or bool((self.offsets.diff() < 0).any()):
            msg = (
                f"offsets must start at 0, never decrease and end at total_tokens={total}; "
                f"got offsets[0]={first}, offsets[-1]={last}. Build with "
                "MultiVectorEmbeddings.from_list to compute them."
            )
            raise ConfigError(msg)

    @classmethod
    def from_list(cls, items: Sequence[torch.Tensor | np.ndarray]) -> MultiVectorEmbeddings:
        """Pack ``items``, each ``(n_i, dim)``, into one container (a copy).

        Every item must be 2-D with the same ``dim``, finite, and on one device. Tensors keep
        their floating dtype (mixed dtypes promote as ``torch.cat`` does); arrays and integer
        tensors become float32. An empty list gives an empty batch with ``dim == 0``.
        """
        import torch

        tensors = [_as_float_tensor(item, i) for i, item in enumerate(items)]
        if not tensors:
            return cls(torch.zeros(0, 0), torch.zeros(1, dtype=torch.int64))
        _check_same_layout(tensors)
        lengths = torch.tensor([t.shape[0] for t in tensors], dtype=torch.int64)
        offsets = torch.zeros(len(tensors) + 1, dtype=torch.int64)
        torch.cumsum(lengths, dim=0, out=offsets[1:])
        vectors = torch.cat(tensors, dim=0)
        if not bool(torch.isfinite(vectors).all()):
            bad = next(i for i, t in enumerate(tensors) if not bool(torch.isfinite(t).all()))
            msg = f"Item {bad} contains NaN or infinite values; check the encoder output."
            raise ConfigError(msg)
        return cls(vectors, offsets.to(vectors.device))

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> torch.Tensor:
        """Item ``i`` as a ``(n_i, dim)`` view; negative ``i`` counts from the end."""
        n = len(self)
        if not -n <= i < n:
            msg = f"Item index {i} is out of range for a batch of {n} items."
            raise IndexError(msg)
        i %= n
        return self.vectors[int(self.offsets[i]) : int(self.offsets[i + 1])]

    def __iter__(self) -> Iterator[torch.Tensor]:
        return iter(self.to_list())

    @property
    def lengths(self) -> torch.Tensor:
        """``(n,)`` int64 number of vectors per item."""
        return self.offsets.diff()

    @property
    def dim(self) -> int:
        """Width of every vector."""
        return int(self.vectors.shape[1])

    def to_list(self) -> list[torch.Tensor]:
        """The items as a list of ``(n_i, dim)`` views."""
        import torch

        return list(torch.split(self.vectors, self.lengths.tolist()))

    def to(self, device: torch.device | str) -> MultiVectorEmbeddings:
        """The same batch with ``vectors`` and ``offsets`` on ``device`` (no copy if there)."""
        return MultiVectorEmbeddings(self.vectors.to(device), self.offsets.to(device))


def as_multivector(x: Any) -> MultiVectorEmbeddings:
    """Return ``x`` as a ``MultiVectorEmbeddings``.

    Accepts a container (returned as is), a list or tuple of ``(n_i, dim)`` tensors/arrays,
    or one ``(n, dim)`` tensor/array, which is a batch of one item.
    """
    import torch

    if isinstance(x, MultiVectorEmbeddings):
        return x
    if isinstance(x, torch.Tensor | np.ndarray):
        if x.ndim == 2:
            return MultiVectorEmbeddings.from_list([x])
        msg = (
            f"Cannot read multi-vector embeddings from a tensor of shape {tuple(x.shape)}: "
            "one item is (n_tokens, dim). For a batch, pass a list of (n_i, dim) tensors "
            "(drop padding first) or a MultiVectorEmbeddings."
        )
        raise ConfigError(msg)
    if isinstance(x, Sequence) and not isinstance(x, str | bytes):
        return MultiVectorEmbeddings.from_list(list(x))
    msg = (
        f"Cannot read multi-vector embeddings from {type(x).__name__}. Pass a list of "
        "(n_i, dim) tensors or arrays, one (n, dim) tensor, or a MultiVectorEmbeddings."
    )
    raise ConfigError(msg)


def _as_float_tensor(item: Any, i: int) -> torch.Tensor:
    """Item ``i`` as a 2-D floating-point tensor (arrays and nested lists become float32)."""
    import torch

    if isinstance(item, torch.Tensor):
        tensor = item
    else:  # numpy's float64 default would double memory for no gain in MaxSim
        tensor = torch.from_numpy(np.ascontiguousarray(item, dtype=np.float32))
    if not tensor.is_floating_point():
        tensor = tensor.to(torch.float32)
    if tensor.ndim != 2:
        msg = (
            f"Item {i} has shape {tuple(tensor.shape)}; every item must be (n_tokens, dim). "
            "Reshape a single vector to (1, dim)."
        )
        raise ConfigError(msg)
    return tensor.detach()


def _check_same_layout(tensors: list[torch.Tensor]) -> None:
    """All items share one width and one device."""
    dim, device = tensors[0].shape[1], tensors[0].device
    for i, tensor in enumerate(tensors):
        if tensor.shape[1] != dim:
            msg = (
                f"Item {i} has dim {tensor.shape[1]} but item 0 has dim {dim}; every item "
                "must come from the same model (and Matryoshka size)."
            )
            raise ConfigError(msg)
        if tensor.device != device:
            msg = f"Item {i} is on {tensor.device} but item 0 is on {device}; move them to one."
            raise ConfigError(msg)
