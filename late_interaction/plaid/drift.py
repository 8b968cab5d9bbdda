"""Measured drift and codebook growth for ``PlaidIndex`` updates.

Every added token gets a far level from the codec (above its generation's fitted median /
90th-percentile residual). The share of far tokens among recently added ones is the drift
measure: about 0.1 for tokens like the fitted ones. While it stays below
``config.drift_share`` far tokens are the codebook's usual tail (a bounded buffer, no
growth). Once it reaches it, far tokens (and, in a batch that drifted by itself, every token
worse served than the median) are buffered raw; ``grow_after`` of them grow a codebook
generation: centroids by k-means *and* re-fitted residual buckets, the buffered tokens
re-encoded in place. The newest generation stays *open* while its raw tokens fit in
``train_tokens``: the next growth re-clusters it on all of them, so drifted tokens end up
with centroids as dense as a fresh build's. Compaction and reopening seal it.

Memory: raw float32 tokens, at most ``max(grow_after, train_tokens / 4)`` buffered (plus
one batch) and ``train_tokens`` in the open generation (~160 MiB at dim 128 by default).
"""

from __future__ import annotations

import numpy as np

from late_interaction.plaid.codec import ResidualCodec
from late_interaction.plaid.config import PlaidConfig
from late_interaction.plaid.store import TokenStore

_MIN_GROW = 16  # fewer far tokens than this stay encoded as they are


class Growth:
    """Drift counters, the far-token buffer and the open generation of one index."""

    def __init__(
        self, config: PlaidConfig, counts: list[float], positions: np.ndarray, vectors: np.ndarray
    ) -> None:
        self.config = config
        self.counts = np.array(counts or [0.0, 0.0], np.float64)  # (seen, far), decayed
        self._positions = [positions] if len(positions) else []
        self._vectors = [vectors] if len(vectors) else []
        self._open: tuple[np.ndarray, np.ndarray] | None = None  # (positions, raw vectors)
        self._open_far = 0  # far tokens that joined the open generation since its fit

    @property
    def share(self) -> float:
        """Share of recently added tokens that were far."""
        return float(self.counts[1] / max(1.0, self.counts[0]))

    @property
    def buffered(self) -> int:
        return sum(len(p) for p in self._positions)

    def buffer(self, dim: int) -> tuple[np.ndarray, np.ndarray]:
        """Buffered far tokens: positions ``(m,)`` int64 and raw vectors ``(m, dim)``."""
        positions = np.concatenate([np.zeros(0, np.int64), *self._positions])
        return positions, np.concatenate([np.zeros((0, dim), np.float32), *self._vectors])

    def observe(
        self,
        codec: ResidualCodec,
        tokens: TokenStore,
        start: int,
        codes: np.ndarray,
        level: np.ndarray,
        vectors: np.ndarray,
    ) -> None:
        """Account for tokens just stored at ``start`` with their ``codes`` and far
        ``level`` (``codec.encode``); buffer what drifted, grow when due."""
        n_far = int((level == 2).sum())
        self.counts += (len(level), n_far)
        while self.counts[0] > 4 * self.config.grow_after:  # recent additions weigh most
            self.counts /= 2
        drifting = n_far >= self.config.drift_share * len(level)  # this batch by itself
        far = level >= (1 if drifting else 2)
        if self._open is not None:  # tokens of the open generation are re-fitted with it
            in_open = codec.generation_of(codes) == codec.generations - 1
            self._open_far += int((far & in_open).sum())  # its fit misses them: re-fit due
            far &= ~in_open
            self._keep_open(np.flatnonzero(in_open) + start, vectors[in_open])
        picked = np.flatnonzero(far)
        if len(picked):
            self._positions.append(picked + start)
            self._vectors.append(vectors[picked].copy())
        self.flush(codec, tokens, force=False)

    def flush(self, codec: ResidualCodec, tokens: TokenStore, *, force: bool) -> None:
        """Grow when drift is measured and at least ``grow_after`` far tokens (and a quarter
        of the open generation's size), buffered or in the open generation, are pending
        (``force``: any number); without drift keep only the newest ``grow_after // 2``
        buffered (``force``: none)."""
        buffered = self.buffered
        # re-fitting the open generation costs k-means on all its tokens: wait until the
        # far ones (buffered or in it) are a quarter of them, so the work stays linear
        due = max(self.config.grow_after, 0 if self._open is None else len(self._open[0]) // 4)
        pending = buffered + self._open_far
        if not pending or (not force and pending < due):
            return
        positions, vectors = self.buffer(codec.dim)
        self._positions, self._vectors = [], []
        if self.share < self.config.drift_share:  # the usual tail: bounded, no growth
            if not force:
                keep = self.config.grow_after // 2
                self._positions, self._vectors = [positions[-keep:]], [vectors[-keep:]]
            return
        if pending >= _MIN_GROW:
            self._grow(codec, tokens, positions, vectors)

    def seal(self) -> None:
        """Close the open generation (before token positions change)."""
        self._open, self._open_far = None, 0

    def _keep_open(self, positions: np.ndarray, vectors: np.ndarray) -> None:
        if self._open is None or not len(positions):
            return
        if len(self._open[0]) + len(positions) > self.config.train_tokens:
            self.seal()  # its tokens keep their codes; memory stays bounded
            return
        self._open = (
            np.concatenate([self._open[0], positions]),
            np.concatenate([self._open[1], vectors]),
        )

    def _grow(
        self, codec: ResidualCodec, tokens: TokenStore, positions: np.ndarray, vectors: np.ndarray
    ) -> None:
        """A generation fitted to ``vectors`` (plus the open generation's tokens, which it
        replaces, while they fit in ``train_tokens``); re-encode them in place."""
        first = len(codec.centroids)
        if self._open is not None and len(self._open[0]) + len(positions) <= (
            self.config.train_tokens
        ):
            first = int(codec.starts[-1])
            positions = np.concatenate([self._open[0], positions])
            vectors = np.concatenate([self._open[1], vectors])
            codec.drop_last_generation()
        elif len(vectors) < _MIN_GROW:  # the open generation is full and little is buffered
            self.seal()
            return
        n_new = self.config.auto_centroids(len(vectors))
        added = codec.grow(vectors, n_new, niter=self.config.kmeans_niter, seed=self.config.seed)
        self.counts[:] = 0  # measure again against the grown codebook
        self._open_far = 0
        codes, packed, _ = codec.encode(vectors)
        tokens.codes.put(positions, codes)
        tokens.residuals.put(positions, packed)
        if tokens.side is not None and tokens.side.refines:  # it stores what decoding misses
            tokens.side.put(positions, vectors, codec.decode(codes, packed))
        tokens.n_centroids = len(codec.centroids)
        mine = codes >= codec.starts[-1]
        self._open = (positions[mine], vectors[mine])
        if positions.min() < tokens.n_indexed:
            tokens.rebuild_lists()
        else:  # no indexed token uses the replaced or new centroids: their lists are empty
            tail = np.full(added, tokens.ivf_ptr[first])
            tokens.ivf_ptr = np.concatenate([tokens.ivf_ptr[: first + 1], tail])
