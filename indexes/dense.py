"""Dense metrics and input preparation shared by the FAISS and exact indexes."""

from __future__ import annotations

import math
from typing import Any, Literal, get_args

import numpy as np

from retrieval.errors import ConfigError
from retrieval.types import as_dense

Metric = Literal["cosine", "ip", "l2"]
METRICS: tuple[str, ...] = get_args(Metric)
"""``cosine``: vectors are L2-normalised, score = cosine similarity. ``ip``: score = inner
product. ``l2``: score = minus the squared Euclidean distance (higher is better everywhere)."""
_TINY = float(np.finfo(np.float32).tiny)
_F32 = np.dtype(np.float32)


def check_metric(metric: str) -> Metric:
    if metric not in METRICS:
        msg = f"Unknown metric {metric!r}. Valid: {', '.join(METRICS)}."
        raise ConfigError(msg)
    return metric  # type: ignore[return-value]


def check_dim(dim: Any) -> int:
    if isinstance(dim, bool) or not isinstance(dim, int | np.integer) or dim < 1:
        msg = f"dim must be a positive integer (the embedding width, e.g. 384); got {dim!r}."
        raise ConfigError(msg)
    return int(dim)


def prepare_dense(embeddings: Any, dim: int, metric: Metric, what: str) -> np.ndarray:
    """``(n, dim)`` float32 rows, L2-normalised for cosine (zero rows stay zero)."""
    if isinstance(embeddings, np.ndarray) and embeddings.shape == (dim,):
        # One query, the latency-bound case: few numpy calls. A single dot product both
        # normalises and proves the row finite (NaN / inf make it non-finite; then the
        # general path names the error).
        row = embeddings if embeddings.dtype == _F32 else embeddings.astype(np.float32)
        squared = float(row @ row)
        if math.isfinite(squared):
            if metric != "cosine":
                return np.ascontiguousarray(row).reshape(1, dim)
            return (row * (1.0 / max(math.sqrt(squared), _TINY))).reshape(1, dim)
    array = as_dense(embeddings, dim, what=what)
    if metric == "cosine":
        norms = np.sqrt(np.einsum("ij,ij->i", array, array))
        array = array / np.maximum(norms, _TINY)[:, None]
    return array


def dense_scores(
    queries: np.ndarray,
    vectors: np.ndarray,
    metric: Metric,
    sq_norms: np.ndarray | None = None,
) -> np.ndarray:
    """``(n_q, dim) x (n, dim) -> (n_q, n)`` float32 scores, higher is better.

    Cosine inputs are already normalised, so cosine and ip are the inner product; l2 is
    ``-|q - x|^2 = 2 q.x - |x|^2 - |q|^2`` (pass ``sq_norms``, the ``(n,)`` squared norms of
    ``vectors``, to reuse them across query blocks).
    """
    scores = queries @ vectors.T
    if metric == "l2":
        x_norms = np.einsum("ij,ij->i", vectors, vectors) if sq_norms is None else sq_norms
        q_norms = np.einsum("ij,ij->i", queries, queries)
        scores = 2 * scores - x_norms[None, :] - q_norms[:, None]
    return np.asarray(scores, dtype=np.float32)
