"""Storage and exact scoring for sparse vectors: a forward CSR plus an inverted copy.

* Forward (row-major) CSR of every row: ``indptr (n_rows + 1,)``, ``indices (nnz,)``,
  ``values (nnz,)`` — the source of truth, appended to on ``add``.
* Inverted (term-major) copy of rows ``[0, n_indexed)``: ``term_ptr (vocab_size + 1,)``,
  ``term_rows (nnz_indexed,)``, ``term_values (nnz_indexed,)``. A query touches only the
  postings of its own terms.
* Rows appended since the inverted copy was built (the *tail*) are scored from the forward
  CSR. The inverted copy is rebuilt when the tail outgrows a quarter of it, so appends stay
  amortised O(nnz log nnz) and the tail stays small.

Memory is O(nnz + n_rows + vocab_size): 8 bytes per non-zero forward, 8 inverted.
"""

from __future__ import annotations

import numpy as np

from indexes.rows import Growable
from retrieval.types import SparseEmbeddings

_MIN_TAIL = 4096


class Postings:
    """Sparse rows with exact dot-product scoring."""

    def __init__(
        self,
        vocab_size: int,
        forward: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    ) -> None:
        self.vocab_size = vocab_size
        indptr, indices, values = forward or (
            np.zeros(1, np.int64),
            np.zeros(0, np.int32),
            np.zeros(0, np.float32),
        )
        self._indptr = Growable(indptr.astype(np.int64))
        self._indices = Growable(indices.astype(np.int32))
        self._values = Growable(values.astype(np.float32))
        self.n_indexed = 0
        self._term_ptr = np.zeros(vocab_size + 1, np.int64)
        self._term_rows = np.zeros(0, np.int32)
        self._term_values = np.zeros(0, np.float32)
        self.rebuild()

    @property
    def n_rows(self) -> int:
        return len(self._indptr) - 1

    @property
    def forward(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(indptr, indices, values)`` of every row (views)."""
        return self._indptr.view, self._indices.view, self._values.view

    @property
    def nbytes(self) -> int:
        """Bytes held by the arrays (filled parts)."""
        arrays = (*self.forward, self._term_ptr, self._term_rows, self._term_values)
        return sum(a.nbytes for a in arrays)

    def append(self, batch: SparseEmbeddings) -> None:
        offset = self._indptr.view[-1]
        self._indptr.append(batch.indptr[1:] + offset)
        self._indices.append(batch.indices)
        self._values.append(batch.values)
        if self.n_rows - self.n_indexed > max(_MIN_TAIL, self.n_indexed // 4):
            self.rebuild()

    def keep(self, rows: np.ndarray) -> None:
        """Keep only ``rows`` (sorted old row numbers), renumbered from 0, then rebuild."""
        indptr, indices, values = self.forward
        lengths = np.diff(indptr)[rows]
        take = _ranges(indptr[rows], lengths)
        new_ptr = np.zeros(len(rows) + 1, np.int64)
        np.cumsum(lengths, out=new_ptr[1:])
        self._indptr.replace(new_ptr)
        self._indices.replace(indices[take])
        self._values.replace(values[take])
        self.rebuild()

    def rebuild(self) -> None:
        """Build the inverted copy over every row."""
        indptr, indices, values = self.forward
        rows = np.repeat(np.arange(self.n_rows, dtype=np.int32), np.diff(indptr))
        order = np.argsort(indices, kind="stable")  # stable: postings stay in row order
        self._term_rows = rows[order]
        self._term_values = values[order]
        counts = np.bincount(indices, minlength=self.vocab_size)
        self._term_ptr = np.zeros(self.vocab_size + 1, np.int64)
        np.cumsum(counts, out=self._term_ptr[1:])
        self.n_indexed = self.n_rows

    def scores(self, query_indices: np.ndarray, query_values: np.ndarray) -> np.ndarray:
        """``(n_rows,)`` float32 dot products of one query with every row."""
        out = np.zeros(self.n_rows, np.float32)
        for term, weight in zip(query_indices.tolist(), query_values.tolist(), strict=True):
            start, stop = self._term_ptr[term], self._term_ptr[term + 1]
            # Within one term each row appears once, so a fancy-index += is exact.
            out[self._term_rows[start:stop]] += weight * self._term_values[start:stop]
        if self.n_rows > self.n_indexed:
            out[self.n_indexed :] += self._tail_scores(query_indices, query_values)
        return out

    def _tail_scores(self, query_indices: np.ndarray, query_values: np.ndarray) -> np.ndarray:
        indptr, indices, values = self.forward
        dense_query = np.zeros(self.vocab_size, np.float32)
        dense_query[query_indices] = query_values
        start = indptr[self.n_indexed]
        contributions = dense_query[indices[start:]] * values[start:]
        lengths = np.diff(indptr[self.n_indexed :])
        owners = np.repeat(np.arange(len(lengths)), lengths)
        return np.bincount(owners, weights=contributions, minlength=len(lengths)).astype(np.float32)


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, s + n)`` for each start / length (vectorised)."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    ends = np.cumsum(lengths)
    offsets = np.repeat(starts - (ends - lengths), lengths)
    return np.arange(total, dtype=np.int64) + offsets
