"""Storage and exact scoring for sparse vectors: term-major postings in a few segments.

The postings (the inverted index, ``indexes.term_major``) are the only copy of the data:
8 bytes per non-zero (int32 row, float32 weight) plus one ``(vocab_size + 1,)`` offset array
per segment. A query reads only the postings of its own terms.

Appends are log-structured: each ``append`` turns its batch into a new segment (a counting
sort of the batch alone), then the newest two segments merge while the older is under twice
the newer's size, or small. Segments therefore grow geometrically (a few of them, whatever the
pattern of adds) and a posting is copied O(log n) times over the life of the index.
``merged()`` folds everything into one segment, which is what gets saved.

Memory is O(nnz + segments * vocab_size); building never holds the batch twice.
"""

from __future__ import annotations

import numpy as np

from indexes import term_major
from indexes.term_major import Segment
from retrieval.types import SparseEmbeddings

_SMALL_SEGMENT = 1 << 18  # postings; a smaller segment takes in the next one at once
_LONG_POSTINGS = 4096  # a term with this many postings in a segment is scored on its own


class Postings:
    """Sparse rows with exact dot-product scoring."""

    def __init__(self, vocab_size: int, segment: Segment | None = None, n_rows: int = 0) -> None:
        self.vocab_size = vocab_size
        self.n_rows = n_rows
        self._segments = [] if segment is None or not segment.nnz else [segment]

    @classmethod
    def from_rows(
        cls, vocab_size: int, indptr: np.ndarray, indices: np.ndarray, values: np.ndarray
    ) -> Postings:
        """Postings of rows given row-major (CSR), e.g. a folder of the first format."""
        segment = term_major.from_rows(indptr, indices, values, vocab_size, first_row=0)
        return cls(vocab_size, segment, n_rows=len(indptr) - 1)

    @property
    def nbytes(self) -> int:
        """Bytes held by the postings."""
        return sum(segment.nbytes for segment in self._segments)

    @property
    def n_segments(self) -> int:
        return len(self._segments)

    def append(self, batch: SparseEmbeddings) -> None:
        """Add ``batch``'s items as rows ``n_rows, n_rows + 1, ...``."""
        segment = term_major.from_rows(
            batch.indptr, batch.indices, batch.values, self.vocab_size, first_row=self.n_rows
        )
        self.n_rows += len(batch)
        if not segment.nnz:
            return
        segments = self._segments
        segments.append(segment)
        while len(segments) > 1 and (
            segments[-2].nnz <= 2 * segments[-1].nnz or segments[-2].nnz < _SMALL_SEGMENT
        ):
            newer = segments.pop()
            segments[-1] = term_major.merge(segments[-1], newer)

    def widen(self, vocab_size: int) -> None:
        """Make room for term ids up to ``vocab_size`` (a growing vocabulary, e.g. BM25's)."""
        if vocab_size > self.vocab_size:
            self._segments = [term_major.widen(s, vocab_size) for s in self._segments]
            self.vocab_size = vocab_size

    def postings(self, term: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """``(rows, values)`` of ``term`` in each segment holding it (views, no copy)."""
        out = []
        for segment in self._segments:
            start, stop = int(segment.ptr[term]), int(segment.ptr[term + 1])
            if stop > start:
                out.append((segment.rows[start:stop], segment.values[start:stop]))
        return out

    def keep(self, rows: np.ndarray) -> None:
        """Keep only ``rows`` (sorted old row numbers), renumbered from 0."""
        live = np.zeros(self.n_rows, bool)
        live[rows] = True
        renumber = np.cumsum(live, dtype=np.int64) - 1
        segments = [term_major.keep_rows(s, live, renumber) for s in self._segments]
        self._segments = [s for s in segments if s.nnz]
        self.n_rows = len(rows)

    def merged(self) -> Segment:
        """All postings as one segment (which then replaces the segments)."""
        while len(self._segments) > 1:
            newer = self._segments.pop()
            self._segments[-1] = term_major.merge(self._segments[-1], newer)
        return self._segments[0] if self._segments else term_major.empty(self.vocab_size)

    def scores(self, query_indices: np.ndarray, query_values: np.ndarray) -> np.ndarray:
        """``(n_rows,)`` float32 dot products of one query with every row."""
        out = np.zeros(self.n_rows, np.float32)
        for segment in self._segments:
            starts = segment.ptr[query_indices]
            lengths = segment.ptr[query_indices + 1] - starts
            # Long postings one term at a time; short ones together, where the per-call cost
            # of numpy would dominate.
            long = lengths >= _LONG_POSTINGS
            for start, length, weight in zip(
                starts[long].tolist(),
                lengths[long].tolist(),
                query_values[long].tolist(),
                strict=True,
            ):
                span = slice(start, start + length)
                add_at(out, segment.rows[span], segment.values[span] * np.float32(weight))
            short = ~long
            if short.any():
                spans = _ranges(starts[short], lengths[short])
                weights = np.repeat(query_values[short], lengths[short])
                add_at(out, segment.rows[spans], segment.values[spans] * weights)
        return out


def add_at(out: np.ndarray, rows: np.ndarray, values: np.ndarray) -> None:
    """``out[rows] += values`` where ``rows`` may repeat (short terms share rows).

    ``ufunc.at`` takes its fast path with intp indices: converting the rows costs less than
    letting it cast element by element, and it is 2x faster than a fancy-index ``+=`` (which
    gathers, adds and scatters, and is wrong for repeated rows)."""
    np.add.at(out, rows.astype(np.intp), values)


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, s + n)`` for each start / length (vectorised)."""
    ends = np.cumsum(lengths)
    offsets = np.repeat(starts - (ends - lengths), lengths)
    return np.arange(int(ends[-1]) if len(ends) else 0, dtype=np.int64) + offsets
