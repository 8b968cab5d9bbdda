"""Fusion of several ranked lists into one: reciprocal rank fusion and normalised-score fusion.

Both take the rankings of the stages keyed by stage name (``{"dense": [Hit, ...],
"maxsim": [...]}``, each list best first) and return ``(id, fused score)`` pairs, best first.

* **RRF** (Cormack et al., 2009): ``score(d) = sum_s w_s / (rrf_k + rank_s(d))`` with 1-based
  ranks; a list that does not hold ``d`` adds nothing. Only ranks matter, so scores of
  different scales (cosine, SPLADE dot products, MaxSim sums) mix safely - but a weak list's
  ranks count as much as a strong one's.
* **Weighted** (a convex combination of normalised scores): each list's scores are normalised
  per query, then ``score(d) = sum_s w_s * norm_s(d) / sum_s w_s``. Normalisations:

  - ``dbsf`` (distribution-based score fusion): ``(s - (mean - 3 std)) / (6 std)`` clipped to
    [0, 1]; scale-free, and a list whose top stands far above the rest keeps that lead;
  - ``minmax``: ``(s - min) / (max - min)``, to [0, 1]; the top of every list becomes 1;
  - ``zscore``: ``(s - mean) / std``;
  - ``none``: raw scores (only for lists already on one scale).

  A list that does not hold ``d`` gives ``d`` its lowest normalised value (``d`` scored at
  most its last candidate), so absence never beats presence. With the default weights (1
  each) the fused score is the mean normalised score: for ``dbsf`` / ``minmax`` in [0, 1].

  ``weighting="agreement"`` also weighs each list, per query, by how well it agrees with the
  others: the Pearson correlation (floored at 0) of its normalised scores with the mean of
  the other lists' over the candidates. A stage that is lost on a query (its scores look
  like noise next to the others') then barely votes, where a fixed weight lets it pull the
  fused list down; with two lists the weights stay equal.

``DEFAULT_FUSION`` (agreement-weighted z-scores) is the default of ``Retriever`` and of the
default hybrid (``retrieval.hybrid``); see BENCHMARKS.md, "Fusion and cascades", for why.

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
Normalization = Literal["dbsf", "minmax", "zscore", "none"]
NORMALIZATIONS: tuple[str, ...] = get_args(Normalization)

Weighting = Literal["fixed", "agreement"]
WEIGHTINGS: tuple[str, ...] = get_args(Weighting)

Rankings = Mapping[str, Sequence[Hit]]
"""Ranked lists by stage name, each best first."""

DBSF_SPREAD = 3.0
"""``dbsf`` maps ``mean +- 3 std`` of a list onto [0, 1] (the bounds Qdrant's DBSF uses)."""


@dataclass(frozen=True)
class Fusion:
    """How the Retriever merges the scores of several stages into one."""

    method: FusionMethod = "rrf"
    """``rrf`` (reciprocal rank fusion, rank-based) or ``weighted`` (normalised scores)."""
    rrf_k: float = 60.0
    """RRF's constant: larger values flatten the advantage of the very top ranks."""
    weights: Mapping[str, float] = field(default_factory=dict)
    """Weight per stage name; a stage not named here weighs 1.0 (both methods)."""
    normalize: Normalization = "minmax"
    """Per-query score normalisation for ``weighted`` fusion (ignored by ``rrf``)."""
    weighting: Weighting = "fixed"
    """``weighted`` fusion: ``fixed`` (``weights`` only) or ``agreement`` (``weights`` times
    each list's per-query agreement with the others; see the module docstring)."""

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
        if self.weighting not in WEIGHTINGS:
            msg = f"Unknown fusion weighting {self.weighting!r}. Valid: {', '.join(WEIGHTINGS)}."
            raise ConfigError(msg)
        if not np.isfinite(self.rrf_k) or self.rrf_k < 0:
            msg = f"rrf_k must be a finite number >= 0 (60 is usual); got {self.rrf_k!r}."
            raise ConfigError(msg)
        for name, weight in self.weights.items():
            if not isinstance(weight, int | float) or not np.isfinite(weight) or weight < 0:
                msg = f"Fusion weight of stage {name!r} must be finite and >= 0; got {weight!r}."
                raise ConfigError(msg)
        object.__setattr__(self, "weights", dict(self.weights))

    @property
    def label(self) -> str:
        """The name of the fused score on hits (``hit.scores[label]``): ``rrf``, the
        normalisation of a weighted fusion (``dbsf``, ``minmax``, ``zscore``) or ``weighted``
        for raw scores."""
        if self.method == "rrf":
            return "rrf"
        return "weighted" if self.normalize == "none" else self.normalize

    def describe(self) -> str:
        """A short human description, e.g. ``rrf k=60`` or ``dbsf (convex, equal weights)``."""
        weights = ", ".join(f"{n}={w:g}" for n, w in self.weights.items())
        if self.method == "rrf":
            return f"rrf k={self.rrf_k:g}" + (f" weights {weights}" if weights else "")
        how = "agreement-weighted" if self.weighting == "agreement" else "fixed weights"
        return f"{self.label} ({how}{', weights ' + weights if weights else ''})"

    def fuse(self, rankings: Rankings) -> list[tuple[str, float]]:
        """Merge ``rankings`` (by stage name) into ``(id, score)`` pairs, best first."""
        if self.method == "rrf":
            return reciprocal_rank_fusion(rankings, rrf_k=self.rrf_k, weights=self.weights)
        return weighted_fusion(
            rankings, weights=self.weights, normalize=self.normalize, weighting=self.weighting
        )


DEFAULT_FUSION = Fusion("weighted", normalize="zscore", weighting="agreement")
"""Per-query z-scores of every stage, averaged with agreement weights: scale-free, no
constant to tune, and a stage that is lost on a query barely votes."""


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
    weighting: Weighting = "fixed",
) -> list[tuple[str, float]]:
    """Weighted mean of per-query normalised scores; an id missing from a list gets that
    list's lowest normalised value; ``agreement`` weighting as in the module docstring.
    Best first."""
    if normalize not in NORMALIZATIONS:
        msg = f"Unknown score normalisation {normalize!r}. Valid: {', '.join(NORMALIZATIONS)}."
        raise ConfigError(msg)
    weights = weights or {}
    lists = {name: hits for name, hits in rankings.items() if hits}
    base = np.array([float(weights.get(name, 1.0)) for name in lists])
    if not lists:
        return []
    if base.sum() <= 0:
        msg = "Every fused stage has weight 0; give at least one stage a positive weight."
        raise ConfigError(msg)
    order: dict[str, int] = {}
    for hits in lists.values():
        for hit in hits:
            order.setdefault(hit.id, len(order))
    table = np.empty((len(order), len(lists)))  # normalised score of each id in each list
    for column, hits in enumerate(lists.values()):
        scores = normalize_scores(np.array([h.score for h in hits], np.float64), normalize)
        table[:, column] = scores.min()
        table[[order[h.id] for h in hits], column] = scores
    used = base * agreement(table) if weighting == "agreement" else base
    if used.sum() <= 0:  # nothing agrees with anything: fall back to the given weights
        used = base
    fused = table @ (used / used.sum())
    return _best_first(dict(zip(order, fused.tolist(), strict=True)))


def agreement(table: np.ndarray) -> np.ndarray:
    """``(n_lists,)`` weights for an ``(n_ids, n_lists)`` table of normalised scores: the
    Pearson correlation of each column with the mean of the others, floored at 0 (1 each
    with fewer than three lists: two lists agree with each other equally)."""
    n_lists = table.shape[1]
    if n_lists < 3 or table.shape[0] < 2:
        return np.ones(n_lists)
    out = np.zeros(n_lists)
    total = table.sum(axis=1)
    for column in range(n_lists):
        mine = table[:, column]
        others = (total - mine) / (n_lists - 1)
        if mine.std() > 0 and others.std() > 0:
            out[column] = max(0.0, float(np.corrcoef(mine, others)[0, 1]))
    return out


def normalize_scores(scores: np.ndarray, method: Normalization) -> np.ndarray:
    """``(n,)`` scores of one list, normalised: ``dbsf`` to [0, 1] by ``mean +- 3 std``
    (all equal -> 0.5), ``minmax`` to [0, 1] (all equal -> all 1), ``zscore`` to mean 0 /
    std 1 (all equal -> all 0), ``none`` unchanged."""
    if method == "none" or len(scores) == 0:
        return scores
    if method == "minmax":
        low, span = scores.min(), scores.max() - scores.min()
        return (scores - low) / span if span > 0 else np.ones_like(scores)
    mean, std = scores.mean(), scores.std()
    if method == "zscore":
        return (scores - mean) / std if std > 0 else np.zeros_like(scores)
    if std == 0:
        return np.full_like(scores, 0.5)
    low = mean - DBSF_SPREAD * std
    return np.clip((scores - low) / (2 * DBSF_SPREAD * std), 0.0, 1.0)


def _best_first(fused: dict[str, float]) -> list[tuple[str, float]]:
    # sorted() is stable: equal scores keep first-seen order (dicts keep insertion order).
    return sorted(fused.items(), key=lambda item: -item[1])
