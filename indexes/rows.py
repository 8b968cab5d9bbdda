"""Row bookkeeping for the numpy-backed indexes (exact dense, sparse).

Items are appended as rows; a row keeps the int64 label the metadata store gave its item.
Labels only grow, so ``labels`` is sorted and a label's row is found by binary search.
Deleting marks a row dead; dead rows are dropped in bulk by ``compact`` once they outnumber
the live ones, so a delete costs O(m log n) instead of moving the arrays.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from retrieval.metadata import LabelSet

_MIN_CAPACITY = 1024
_SAMPLE = 8192  # values sampled per row to bound the top-k candidates (see best_rows)


class Growable:
    """An array that grows along axis 0 with amortised O(1) appends (capacity doubling)."""

    def __init__(self, initial: np.ndarray) -> None:
        self._buffer = initial
        self._size = len(initial)

    def __len__(self) -> int:
        return self._size

    @property
    def view(self) -> np.ndarray:
        """The filled part (a view: do not keep it across appends)."""
        return self._buffer[: self._size]

    def append(self, rows: np.ndarray) -> None:
        needed = self._size + len(rows)
        if needed > len(self._buffer):
            capacity = max(needed, 2 * len(self._buffer), _MIN_CAPACITY)
            grown = np.empty((capacity, *self._buffer.shape[1:]), dtype=self._buffer.dtype)
            grown[: self._size] = self.view
            self._buffer = grown
        self._buffer[self._size : needed] = rows
        self._size = needed

    def replace(self, array: np.ndarray) -> None:
        """Swap in new contents (after compaction)."""
        self._buffer = array
        self._size = len(array)


class RowTable:
    """Labels and liveness of rows."""

    def __init__(self, labels: np.ndarray | None = None, live: np.ndarray | None = None):
        labels = np.zeros(0, np.int64) if labels is None else labels.astype(np.int64)
        self._labels = Growable(labels)
        self._live = Growable(np.ones(len(labels), bool) if live is None else live.astype(bool))
        self.n_live = int(self._live.view.sum())

    def __len__(self) -> int:
        return len(self._labels)

    @property
    def labels(self) -> np.ndarray:
        """``(n_rows,)`` int64 sorted labels, dead rows included."""
        return self._labels.view

    @property
    def live(self) -> np.ndarray:
        """``(n_rows,)`` bool, False for deleted rows."""
        return self._live.view

    def append(self, labels: np.ndarray) -> None:
        self._labels.append(labels)
        self._live.append(np.ones(len(labels), bool))
        self.n_live += len(labels)

    def kill(self, labels: np.ndarray) -> None:
        """Mark the rows of ``labels`` dead (labels not present are ignored)."""
        rows = self.rows_of(labels)
        rows = rows[self.live[rows]]
        self._live.view[rows] = False
        self.n_live -= len(rows)

    def rows_of(self, labels: np.ndarray) -> np.ndarray:
        """Rows holding these labels; labels without a row are dropped."""
        rows = np.searchsorted(self.labels, labels)
        inside = rows < len(self)
        rows = rows[inside]
        return rows[self.labels[rows] == labels[inside]]

    def mask(self, allowed: LabelSet | None) -> np.ndarray | None:
        """``(n_rows,)`` bool: live rows, restricted to ``allowed`` labels when given;
        ``None`` when every row qualifies (nothing deleted, no filter)."""
        if allowed is None:
            return None if self.n_live == len(self) else self.live
        return allowed.derive("row_mask", self._mask_of)

    def _mask_of(self, labels: np.ndarray) -> np.ndarray:
        mask = np.zeros(len(self), bool)
        mask[self.rows_of(labels)] = True
        return mask & self.live

    def labels_at(self, rows: np.ndarray) -> np.ndarray:
        """Labels of ``rows`` (any shape); row -1 (no result) maps to label -1."""
        return np.where(rows >= 0, self.labels[np.maximum(rows, 0)], -1)

    def rank(
        self, blocks: Iterable[np.ndarray], allowed: LabelSet | None, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` labels / scores per query from score blocks ``(n_q_block, n_rows)`` (in
        query order), among live rows restricted to ``allowed``; label -1 past the end."""
        mask = self.mask(allowed)
        parts = [top_k(block, mask, k) for block in blocks]
        rows = np.concatenate([part[0] for part in parts])
        scores = np.concatenate([part[1] for part in parts])
        return self.labels_at(rows), scores

    def needs_compaction(self) -> bool:
        dead = len(self) - self.n_live
        return dead > _MIN_CAPACITY and dead > self.n_live

    def compact(self) -> np.ndarray:
        """Drop dead rows; returns the ``(n_live,)`` old row numbers kept, in order."""
        keep = np.flatnonzero(self.live)
        self._labels.replace(self.labels[keep].copy())
        self._live.replace(np.ones(len(keep), bool))
        return keep


def top_k(scores: np.ndarray, mask: np.ndarray | None, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Best ``k`` rows per query among ``mask`` (``None``: every row): ``scores (n_q, n_rows)``
    float32 (modified in place) -> ``(rows, scores)``, each ``(n_q, k)``, best first, row -1
    and score -inf past the end. Ties go to the lower row (insertion order)."""
    n_q, n_rows = scores.shape
    if mask is not None:
        scores[:, ~mask] = -np.inf
    k_eff = min(k, n_rows if mask is None else int(np.count_nonzero(mask)))
    rows = np.full((n_q, k), -1, dtype=np.int64)
    best = np.full((n_q, k), -np.inf, dtype=np.float32)
    for q in range(n_q if k_eff else 0):
        top = best_rows(scores[q], k_eff)
        rows[q, :k_eff] = top
        best[q, :k_eff] = scores[q, top]
    return rows, best


def best_rows(row: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` (``1 <= k <= len(row)``) largest values of ``row``, best first,
    ties to the lower index.

    ``np.argpartition`` over the whole row costs tens of milliseconds at a million rows and
    degrades badly on many equal values (sparse scores are mostly 0), so the rows are first cut
    to those that can still make the top ``k``: ``threshold``, the ``k``-th largest value of an
    evenly strided sample, is at most the row's ``k``-th largest, so every row above it plus the
    first rows equal to it contain the answer, and an even sample leaves about
    ``k * stride`` of them.
    """
    sample_size = max(64 * k, min(_SAMPLE, len(row) // 16))
    stride = max(1, len(row) // sample_size)
    sample = row[::stride]
    threshold = np.partition(sample, len(sample) - k)[len(sample) - k]
    candidates = np.flatnonzero(row > threshold)
    if len(candidates) < k:  # the rest of the top k ties at the threshold: lowest rows first
        ties = np.flatnonzero(row == threshold)[: k - len(candidates)]
        candidates = np.concatenate([candidates, ties])
    order = np.lexsort((candidates, -row[candidates]))[:k]
    return candidates[order]
