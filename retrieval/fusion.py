"""Fusion of several ranked lists into one: reciprocal rank fusion and weighted score fusion.

Both take the rankings of the first stages keyed by stage name (``{"dense": [Hit, ...],
"sparse": [...]}``, each list best first) and return ``(id, fused score)`` pairs, best first.

* **RRF** (Cormack et al., 2009): ``score(d) = sum_s w_s / (rrf_k + rank_s(d))`` with 1-based
  ranks; a list that does not hold ``d`` adds nothing. Only ranks matter, so scores of
  different scales (cosine, SPLADE dot products, MaxSim sums) mix safely.
* **Weighted**: each list's scores are normalised per query (``minmax`` to ``[0, 1]``,
  ``zscore``, or ``none``), then ``score(d) = sum_s w_s * norm_s(d)``; a list that does not
  hold ``d`` adds 0 (the value its worst candidate gets under ``minmax``).

Ties keep the order in which ids were first seen (stage order, then rank), so results are
deterministic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, get_args

import numpy as np

from retrieval.errors import ConfigError
from retrieval.types import Hit

FusionMethod = Literal["rrf", "weighted"]
FUSION_METHODS: tuple[str, ...] = get_args(FusionMethod)
Normalization = Literal["minmax", "zscore", "none"]
NORMALIZATIONS: tuple[str, ...] = get_args(Normalization)

Rankings = Mapping[str, Sequence[Hit]]
"""Ranked lists by stage name, each best first."""


@dataclass(frozen=True)
class Fusion:
    """How the Retriever merges the lists of several first stages into one."""

    method: FusionMethod = "rrf"
    """``rrf`` (reciprocal rank fusion, rank-based) or ``weighted`` (normalised scores)."""
    rrf_k: float = 60.0
    """RRF's constant: larger values flatten the advantage of the very top ranks."""
    weights: Mapping[str, float] = field(default_factory=dict)
    """Weight per stage name; a stage not named here weighs 1.0 (both methods)."""
    normalize: Normalization = "minmax"
    """Per-query score normalisation for ``weighted`` fusion (ignored by ``rrf``)."""

    def __post_init__(self) -> None:
        if self.method not in FUSION_METHODS:
            msg = f"Unknown fusion method {self.method!r}. Valid: {', '.join(FUSION_METHODS)}."
            raise ConfigError(msg)
        if self.normalize not in NORMALIZATIONS:
            msg = (
                f"Unknown score normalisation {self.normalize!r}. "
                f"Valid: {', '.join(NORMALIZATIONS)}."
            )
            raise ConfigError(msg)
        if not np.isfinite(self.rrf_k) or self.rrf_k < 0:
            msg = f"rrf_k must be a finite number >= 0 (60 is usual); got {self.rrf_k!r}."
            raise ConfigError(msg)
        for name, weight in self.weights.items():
            if not isinstance(weight, int | float) or not np.isfinite(weight) or weight < 0:
                msg = f"Fusion weight of stage {name!r} must be finite and >= 0; got {weight!r}."
                raise ConfigError(msg)

    def fuse(self, rankings: Rankings) -> list[tuple[str, float]]:
        """Merge ``rankings`` (by stage name) into ``(id, score)`` pairs, best first."""
        if self.method == "rrf":
            return reciprocal_rank_fusion(rankings, rrf_k=self.rrf_k, weights=self.weights)
        return weighted_fusion(rankings, weights=self.weights, normalize=self.normalize)


def reciprocal_rank_fusion(
    rankings: Rankings, *, rrf_k: float = 60.0, weights: Mapping[str, float] | None = None
) -> list[tuple[str, float]]:
    """RRF of ``rankings``: ``sum_s w_s / (rrf_k + rank)``, ranks from 1. Best first."""
    weights = weights or {}
    fused: dict[str, float] = {}
    for name, hits in rankings.items():
        weight = float(weights.get(name, 1.0))
        for rank, hit in enumerate(hits, start=1):
            fused[hit.id] = fused.get(hit.id, 0.0) + weight / (rrf_k + rank)
    return _best_first(fused)


def weighted_fusion(
    rankings: Rankings,
    *,
    weights: Mapping[str, float] | None = None,
    normalize: Normalization = "minmax",
) -> list[tuple[str, float]]:
    """Weighted sum of per-query normalised scores (missing from a list = 0). Best first."""
    if normalize not in NORMALIZATIONS:
        msg = f"Unknown score normalisation {normalize!r}. Valid: {', '.join(NORMALIZATIONS)}."
        raise ConfigError(msg)
    weights = weights or {}
    fused: dict[str, float] = {}
    for name, hits in rankings.items():
        weight = float(weights.get(name, 1.0))
        scores = normalize_scores(np.array([h.score for h in hits], np.float64), normalize)
        for hit, score in zip(hits, scores.tolist(), strict=True):
            fused[hit.id] = fused.get(hit.id, 0.0) + weight * score
    return _best_first(fused)


def normalize_scores(scores: np.ndarray, method: Normalization) -> np.ndarray:
    """``(n,)`` scores of one list, normalised: ``minmax`` to [0, 1] (all equal -> all 1),
    ``zscore`` to mean 0 / std 1 (all equal -> all 0), ``none`` unchanged."""
    if method == "none" or len(scores) == 0:
        return scores
    if method == "minmax":
        low, span = scores.min(), scores.max() - scores.min()
        return (scores - low) / span if span > 0 else np.ones_like(scores)
    std = scores.std()
    return (scores - scores.mean()) / std if std > 0 else np.zeros_like(scores)


def _best_first(fused: dict[str, float]) -> list[tuple[str, float]]:
    # sorted() is stable: equal scores keep first-seen order (dicts keep insertion order).
    return sorted(fused.items(), key=lambda item: -item[1])
