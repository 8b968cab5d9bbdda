"""Configuration of ``FaissIndex``: the kind, the metric and each kind's parameters."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

from indexes.dense import Metric, check_dim, check_metric
from retrieval.errors import ConfigError

FaissKind = Literal["flat", "ivf", "hnsw", "ivfpq", "sq8"]
FAISS_KINDS: tuple[str, ...] = get_args(FaissKind)
TRAINED_KINDS: tuple[str, ...] = ("ivf", "ivfpq", "sq8")
"""Kinds that learn from data before they can hold vectors (k-means, PQ codebooks, ranges)."""

MIN_POINTS_PER_LIST = 39
"""faiss warns below 39 training points per centroid; we never train with fewer."""
SQ8_MIN_TRAIN = 256
"""Vectors needed to estimate the int8 ranges of each dimension reliably."""


@dataclass(frozen=True)
class FaissConfig:
    """How a ``FaissIndex`` is built. Saved in the manifest; fixed for the index's life."""

    dim: int = 384
    """Embedding width."""
    kind: FaissKind = "hnsw"
    """``flat`` exact; ``ivf`` inverted lists; ``hnsw`` graph; ``ivfpq`` inverted lists with
    product-quantised codes; ``sq8`` exact scan over int8 scalar-quantised codes."""
    metric: Metric = "cosine"
    """``cosine`` (vectors normalised, inner product), ``ip`` or ``l2`` (score = -distance²)."""
    nlist: int | None = None
    """IVF lists; ``None`` picks about sqrt(n) (a power of two) when the index trains."""
    nprobe: int = 16
    """IVF lists visited per query (default for ``search``)."""
    hnsw_m: int = 32
    """HNSW neighbours per node."""
    ef_construction: int = 64
    """HNSW candidate list size while inserting."""
    ef_search: int = 64
    """HNSW candidate list size while searching (default for ``search``)."""
    pq_m: int | None = None
    """IVF-PQ sub-quantisers (must divide ``dim``); ``None`` uses 8 dimensions each."""
    pq_bits: int = 8
    """Bits per PQ code."""

    def __post_init__(self) -> None:
        check_dim(self.dim)
        check_metric(self.metric)
        if self.kind not in FAISS_KINDS:
            msg = f"Unknown FAISS kind {self.kind!r}. Valid: {', '.join(FAISS_KINDS)}."
            raise ConfigError(msg)
        for name in ("nprobe", "hnsw_m", "ef_construction", "ef_search", "pq_bits"):
            _positive(name, getattr(self, name))
        if self.nlist is not None:
            _positive("nlist", self.nlist)
        if self.pq_m is not None:
            _positive("pq_m", self.pq_m)
        if self.pq_m is not None and self.dim % self.pq_m:
            msg = f"pq_m={self.pq_m} must divide dim={self.dim}; try pq_m={default_pq_m(self.dim)}."
            raise ConfigError(msg)

    @property
    def resolved_pq_m(self) -> int:
        return self.pq_m or default_pq_m(self.dim)

    def min_train(self) -> int:
        """Vectors needed before the kind can train (0: no training). Until then the index
        serves exact flat search, and it trains once this many vectors are stored."""
        if self.kind == "sq8":
            return SQ8_MIN_TRAIN
        if self.kind not in ("ivf", "ivfpq"):
            return 0
        lists = self.nlist or 16
        needed = MIN_POINTS_PER_LIST * lists
        if self.kind == "ivfpq":
            needed = max(needed, MIN_POINTS_PER_LIST * 2**self.pq_bits)
        return needed

    def nlist_for(self, n: int) -> int:
        """IVF lists for ``n`` training vectors: the configured value, or the power of two
        nearest sqrt(n) (at least 16, at most n / 39)."""
        if self.nlist is not None:
            return self.nlist
        nearest = 2 ** round(math.log2(max(1.0, math.sqrt(n))))
        cap = 2 ** math.floor(math.log2(max(1, n // MIN_POINTS_PER_LIST)))
        return max(16, min(nearest, cap, 65536))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_pq_m(dim: int) -> int:
    """The largest divisor of ``dim`` that is at most ``dim / 8`` (8 dimensions per code)."""
    target = max(1, dim // 8)
    return next(m for m in range(target, 0, -1) if dim % m == 0)


def _positive(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        msg = f"{name} must be a positive integer; got {value!r}."
        raise ConfigError(msg)
