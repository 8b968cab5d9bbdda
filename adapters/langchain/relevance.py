"""Relevance scores for ``similarity_search_with_relevance_scores``: index scores mapped to
[0, 1] according to the index's metric (LangChain's convention: 0 dissimilar, 1 most similar)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from retrieval.protocols import Index

ScoreFn = Callable[[float], float]


def relevance_for(index: Index | None, query: Any) -> ScoreFn:
    """Map the index's raw score for ``query`` (``None``: unknown) towards [0, 1]."""
    metric = getattr(index, "metric", None) or getattr(
        getattr(index, "config", None), "metric", None
    )
    if metric in ("cosine", "ip"):
        return lambda s: s
    if metric == "l2":  # scores are minus squared distances; unit vectors are <= 2 apart
        return lambda s: 1.0 - math.sqrt(max(0.0, -s)) / 2.0
    if isinstance(query, np.ndarray) and query.ndim == 2 and len(query):
        # MaxSim sums one best cosine per query token: the mean is a cosine again
        tokens = len(query)
        return lambda s: s / tokens
    return lambda s: s / (1.0 + s) if s > 0 else 0.0


def unit(score: float) -> float:
    """Clip to [0, 1]: LangChain warns about (and filters on) scores outside it, and float32
    rounding alone puts a document's cosine with itself at 1.0000001."""
    return min(1.0, max(0.0, float(score)))
