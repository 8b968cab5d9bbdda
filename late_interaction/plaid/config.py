"""Creation config of ``PlaidIndex`` (stored in the manifest) and its validation."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from late_interaction.plaid.codec import check_layout
from late_interaction.plaid.search import SearchParams
from late_interaction.plaid.side import RESCORE, Rescore
from retrieval.errors import ConfigError

CONFIG_VERSION = 2
"""Recorded in the manifest state; version 2 derives ``ndocs`` from the index."""
_OLD_NDOCS = 256


@dataclass(frozen=True)
class PlaidConfig:
    """How a ``PlaidIndex`` compresses tokens and searches by default."""

    dim: int = 128
    """Token embedding width."""
    nbits: int = 2
    """Bits per residual dimension: 1, 2 or 4 (``dim * nbits / 8`` bytes per token)."""
    n_centroids: int | None = None
    """Codebook size; ``None`` picks ``centroids_per_sqrt_token * sqrt(training tokens)``
    rounded to a power of two (at least 1, at most the training tokens)."""
    centroids_per_sqrt_token: float = 4.0
    """The auto codebook factor (ColBERTv2 uses 16; see BENCHMARKS.md for the CPU choice)."""
    kmeans_niter: int = 10
    """k-means iterations (faiss)."""
    kmeans_points_per_centroid: int = 32
    """Training sample size per centroid: k-means runs on at most this many tokens each."""
    train_tokens: int = 262_144
    """A streamed ``add`` (an iterator of batches) buffers this many tokens to train the
    codebook on before encoding; it bounds the raw float32 tokens held in memory (also
    those kept to re-cluster the newest codebook generation after drift)."""
    grow_after: int = 1024
    """Far tokens (squared residual above the 90th percentile of the residuals their
    codebook generation was fitted on) buffered before the codebook may grow: k-means on
    them adds a generation of as many centroids as a fresh build on that many tokens would
    have (``auto_centroids``) with re-fitted residual buckets, and they are re-encoded."""
    drift_share: float = 0.2
    """Growth happens only when drift is measured: at least this share of recently added
    tokens was far (about 0.1 for tokens like the fitted ones, so 0.2 = twice as many);
    otherwise far tokens are the codebook's usual tail and it does not grow."""
    ncells: int = 4
    """Default centroids probed per query token (``defaults.py`` says why 4 at any size)."""
    centroid_score_threshold: float | None = 0.4
    """Default pruning threshold on centroid scores (``None``: no pruning)."""
    ndocs: int | None = None
    """Default candidates scored from centroids; a quarter of them (at least ``k``) are
    scored by MaxSim on decoded / side-store tokens. ``None``: derived from the index at
    each search, four times the expected documents per probed cell, at least 256
    (``defaults.py``), so the depth grows with the corpus; a number fixes it."""
    rescore: Rescore = "int8"
    """An exact side store beside the compressed tokens, used to score the final
    candidates by MaxSim instead of the decompressed tokens: ``"int8"`` (the default, so a
    search that touches no knob keeps recall; what the decoded
    token misses, in int8 with a float16 scale per token: ``dim + 2`` bytes, 130 at dim 128;
    recall@10 vs exact float32 MaxSim 0.993 at 10M synthetic tokens, 0.997 at 1M, 0.994 on
    Cranfield MiniLM tokens) or ``"fp16"`` (``2 * dim`` bytes per token), both memory-mapped
    files in the index folder (``side.py``, BENCHMARKS.md). ``"none"``: 36.5 bytes per token
    at dim 128 and 2 bits, recall limited by the codec (0.62-0.93 on the same data)."""
    seed: int = 0
    """k-means seed (builds are reproducible)."""

    def __post_init__(self) -> None:
        check_layout(self.dim, self.nbits)
        if self.rescore not in RESCORE:
            msg = f"rescore must be one of {RESCORE}; got {self.rescore!r}."
            raise ConfigError(msg)
        positive = (
            "kmeans_niter",
            "kmeans_points_per_centroid",
            "train_tokens",
            "grow_after",
        )
        for name in positive:
            _check_positive(name, getattr(self, name))
        if self.n_centroids is not None:
            _check_positive("n_centroids", self.n_centroids)
        if not 0 < self.drift_share <= 1:
            msg = f"drift_share must be in (0, 1]; got {self.drift_share!r}."
            raise ConfigError(msg)
        if not self.centroids_per_sqrt_token > 0:
            msg = f"centroids_per_sqrt_token must be > 0; got {self.centroids_per_sqrt_token!r}."
            raise ConfigError(msg)
        self.search_params(None, None, "config")

    def auto_centroids(self, n_tokens: int) -> int:
        """Codebook size for ``n_tokens`` training tokens."""
        if self.n_centroids is not None:
            return min(self.n_centroids, max(1, n_tokens))
        target = self.centroids_per_sqrt_token * math.sqrt(max(1, n_tokens))
        return max(1, min(n_tokens, 1 << round(math.log2(max(1.0, target)))))

    def search_params(
        self,
        ncells: int | None,
        ndocs: int | None,
        threshold: float | str | None,
        rescore: bool = True,
    ) -> SearchParams:
        """Validated search knobs: ``None`` for ``ncells`` / ``ndocs`` and ``"config"`` for
        ``threshold`` keep the defaults (``ndocs`` may stay ``None``: derived per search);
        ``threshold=None`` turns pruning off."""
        ncells = self.ncells if ncells is None else ncells
        ndocs = self.ndocs if ndocs is None else ndocs
        _check_positive("ncells", ncells)
        if ndocs is not None:
            _check_positive("ndocs", ndocs)
        value = self.centroid_score_threshold if threshold == "config" else threshold
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            msg = f"centroid_score_threshold must be a number or None; got {value!r}."
            raise ConfigError(msg)
        if not isinstance(rescore, bool):
            msg = f"rescore must be True or False; got {rescore!r}."
            raise ConfigError(msg)
        threshold_value = None if value is None else float(value)
        return SearchParams(ncells, threshold_value, ndocs, rescore and self.rescore != "none")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any], version: int = CONFIG_VERSION) -> PlaidConfig:
        """The config of a manifest written by config ``version``: before version 2 every
        folder stored ``ndocs=256``, the fixed default then, which now means the derived one."""
        names = {f.name for f in fields(cls)}
        values = {key: value for key, value in raw.items() if key in names}
        if version < 2 and values.get("ndocs") == _OLD_NDOCS:
            values["ndocs"] = None
        values.setdefault("rescore", "none")  # folders from before side stores have none
        return cls(**values)


def _check_positive(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        msg = f"{name} must be a positive integer; got {value!r}."
        raise ConfigError(msg)
