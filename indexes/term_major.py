"""Term-major (CSC-like) postings segments: building, merging and filtering them.

A ``Segment`` holds the non-zeros of a contiguous range of rows grouped by term: the postings
of term ``t`` are ``rows[ptr[t]:ptr[t + 1]]`` / ``values[ptr[t]:ptr[t + 1]]``, in row order.
Every operation works in chunks of ``_CHUNK`` postings, so its temporaries stay a few tens of
megabytes however large the segment: building one never needs an ``argsort`` of all its
non-zeros, merging never a per-posting term array.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

_CHUNK = 1 << 18  # postings handled at once (temporaries: ~40 bytes each)


@dataclass(frozen=True, eq=False)
class Segment:
    """Postings of some rows, term-major."""

    ptr: np.ndarray
    """``(vocab_size + 1,)`` int64 offsets of each term's postings."""
    rows: np.ndarray
    """``(nnz,)`` int32 row numbers (global, increasing within a term)."""
    values: np.ndarray
    """``(nnz,)`` float32 weights."""

    @property
    def nnz(self) -> int:
        return len(self.rows)

    @property
    def nbytes(self) -> int:
        return self.ptr.nbytes + self.rows.nbytes + self.values.nbytes


def empty(vocab_size: int) -> Segment:
    ptr = np.zeros(vocab_size + 1, np.int64)
    return Segment(ptr, np.zeros(0, np.int32), np.zeros(0, np.float32))


def from_rows(
    indptr: np.ndarray, indices: np.ndarray, values: np.ndarray, vocab_size: int, first_row: int
) -> Segment:
    """Row-major CSR (row ``i`` is row ``first_row + i``) -> a ``Segment``: a counting sort.

    Each chunk of postings is sorted by term (stable, so rows stay in order; a radix sort on
    uint16 ids when the vocabulary allows) and scattered behind the postings that earlier
    chunks put under the same terms.
    """
    counts = np.zeros(vocab_size, np.int64)
    for start in range(0, len(indices), _CHUNK):  # bincount copies its input to int64
        counts += np.bincount(indices[start : start + _CHUNK], minlength=vocab_size)
    ptr = _offsets(counts)
    rows = np.empty(len(indices), np.int32)
    out_values = np.empty(len(indices), np.float32)
    cursor = ptr[:-1].copy()
    key_type = np.uint16 if vocab_size <= 1 << 16 else np.int32
    for start in range(0, len(indices), _CHUNK):
        terms = indices[start : start + _CHUNK]
        order = np.argsort(terms.astype(key_type, copy=False), kind="stable")
        sorted_terms = terms[order]
        chunk_counts = np.bincount(terms, minlength=vocab_size)
        first = np.cumsum(chunk_counts) - chunk_counts  # each term's start within the chunk
        dest = cursor[sorted_terms] + (np.arange(len(terms)) - first[sorted_terms])
        owner = np.searchsorted(indptr, start + order, side="right") - 1 + first_row
        rows[dest] = owner
        out_values[dest] = values[start : start + _CHUNK][order]
        cursor += chunk_counts
    return Segment(ptr, rows, out_values)


def widen(segment: Segment, vocab_size: int) -> Segment:
    """``segment`` over a larger vocabulary (the new terms have no postings)."""
    extra = vocab_size + 1 - len(segment.ptr)
    if extra <= 0:
        return segment
    ptr = np.concatenate([segment.ptr, np.full(extra, segment.ptr[-1], np.int64)])
    return Segment(ptr, segment.rows, segment.values)


def merge(older: Segment, newer: Segment) -> Segment:
    """One segment holding both; every row of ``older`` is below every row of ``newer``, so
    term ``t`` becomes ``older``'s postings of ``t`` followed by ``newer``'s."""
    ptr = older.ptr + newer.ptr
    rows = np.empty(older.nnz + newer.nnz, np.int32)
    values = np.empty(len(rows), np.float32)
    # a posting moves right by the other segment's postings of earlier terms (and, for
    # ``newer``, by ``older``'s postings of its own term)
    for part, shift in ((older, newer.ptr[:-1]), (newer, older.ptr[1:])):
        for start, stop, terms in _chunks(part):
            dest = np.arange(start, stop) + shift[terms]
            rows[dest] = part.rows[start:stop]
            values[dest] = part.values[start:stop]
    return Segment(ptr, rows, values)


def keep_rows(segment: Segment, live: np.ndarray, renumber: np.ndarray) -> Segment:
    """The postings of rows where ``live`` is True, row ``r`` renamed ``renumber[r]``."""
    vocab_size = len(segment.ptr) - 1
    total = sum(
        int(np.count_nonzero(live[segment.rows[start : start + _CHUNK]]))
        for start in range(0, segment.nnz, _CHUNK)
    )
    rows = np.empty(total, np.int32)
    values = np.empty(total, np.float32)
    counts = np.zeros(vocab_size, np.int64)
    filled = 0
    for start, stop, terms in _chunks(segment):
        kept = live[segment.rows[start:stop]]
        n = int(np.count_nonzero(kept))
        rows[filled : filled + n] = renumber[segment.rows[start:stop][kept]]
        values[filled : filled + n] = segment.values[start:stop][kept]
        counts += np.bincount(terms[kept], minlength=vocab_size)
        filled += n
    return Segment(_offsets(counts), rows, values)


def _chunks(segment: Segment) -> Iterator[tuple[int, int, np.ndarray]]:
    """``(start, stop, terms)`` for consecutive chunks of postings, ``terms`` the term of each
    posting in ``[start, stop)``."""
    for start in range(0, segment.nnz, _CHUNK):
        stop = min(start + _CHUNK, segment.nnz)
        yield start, stop, np.searchsorted(segment.ptr, np.arange(start, stop), side="right") - 1


def _offsets(counts: np.ndarray) -> np.ndarray:
    ptr = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=ptr[1:])
    return ptr
