"""Compressed tokens of every document, their owners, and the centroid -> documents lists.

Rows are documents in insertion order; each keeps the int64 label the metadata store gave its
item (labels only grow, so they are sorted and a row is found by binary search). A row's
tokens are ``codes[ptr[row]:ptr[row + 1]]`` and the matching ``residuals`` rows.

Per-token arrays are ``TokenArray``s (a memory-mapped base plus an in-memory tail of tokens
added since), as is the optional exact side store (``side.py``), which follows the same token
positions. Deleting marks a row dead; ``compact`` drops dead rows (it reads the live base
into memory).

The inverted lists (``ivf_ptr``, ``ivf_docs``: for each centroid, the rows holding one of its
tokens, once each) cover tokens ``[0, n_indexed)``; later tokens are scanned directly and the
lists are rebuilt when that tail outgrows a quarter of them.
"""

from __future__ import annotations

import numpy as np

from late_interaction.plaid.defaults import docs_per_probed_cell
from late_interaction.plaid.side import SideStore
from late_interaction.plaid.token_array import TokenArray

_MIN_UNINDEXED = 65_536
_EXACT_TAIL = 2 * _MIN_UNINDEXED  # tail tokens counted per cell exactly; more: extrapolated


class TokenStore:
    """Documents as ranges of compressed tokens, with labels, liveness and inverted lists."""

    def __init__(
        self,
        arrays: dict[str, np.ndarray],
        n_centroids: int,
        n_indexed: int,
        side: SideStore | None = None,
    ) -> None:
        self.codes = TokenArray(arrays["codes"])
        self.residuals = TokenArray(arrays["residuals"])
        self.ptr = np.array(arrays["doc_ptr"], np.int64)
        self.labels = np.array(arrays["labels"], np.int64)
        self.live = np.array(arrays["live"], bool)
        self.n_live = int(self.live.sum())
        self.n_centroids = n_centroids
        self.ivf_ptr = np.array(arrays["ivf_ptr"], np.int64)
        self.ivf_docs = np.asarray(arrays["ivf_docs"])
        self.n_indexed = n_indexed
        self.side = side
        """Optional (near) full-precision copy of every token for exact re-scoring."""
        self._per_cell: tuple[tuple[int, int], float] | None = None

    @classmethod
    def empty(cls, bytes_per_token: int, side: SideStore | None = None) -> TokenStore:
        arrays: dict[str, np.ndarray] = {
            "codes": np.zeros(0, np.int32),
            "residuals": np.zeros((0, bytes_per_token), np.uint8),
            "doc_ptr": np.zeros(1, np.int64),
            "labels": np.zeros(0, np.int64),
            "live": np.zeros(0, bool),
            "ivf_ptr": np.zeros(1, np.int64),
            "ivf_docs": np.zeros(0, np.int32),
        }
        return cls(arrays, 0, 0, side)

    @property
    def n_rows(self) -> int:
        return len(self.labels)

    @property
    def n_tokens(self) -> int:
        return int(self.ptr[-1])

    @property
    def side_nbytes(self) -> int:
        """Bytes of the exact side store (0 without one)."""
        return 0 if self.side is None else self.side.nbytes

    @property
    def nbytes(self) -> int:
        """Bytes of everything stored per token and per document (codes, residuals, lists)."""
        per_token = len(self.codes) * 4 + len(self.residuals) * self.residuals.base.shape[1]
        per_doc = self.ptr.nbytes + self.labels.nbytes + self.live.nbytes
        return per_token + per_doc + self.ivf_ptr.nbytes + self.ivf_docs.nbytes

    def append(
        self,
        labels: np.ndarray,
        lengths: np.ndarray,
        codes: np.ndarray,
        packed: np.ndarray,
        vectors: np.ndarray,
        decoded: np.ndarray | None = None,
    ) -> None:
        """Add documents of ``lengths`` tokens (codes / residuals packed in order; the raw
        ``vectors`` go to the side store when there is one, with their ``decoded`` form if
        it refines them)."""
        self.codes.append(codes)
        self.residuals.append(packed)
        if self.side is not None:
            self.side.append(vectors, decoded)
        self.ptr = np.concatenate([self.ptr, self.ptr[-1] + np.cumsum(lengths)])
        self.labels = np.concatenate([self.labels, labels])
        self.live = np.concatenate([self.live, np.ones(len(labels), bool)])
        self.n_live += len(labels)

    def rows_of(self, labels: np.ndarray) -> np.ndarray:
        """Rows holding these labels; labels without a row are dropped."""
        rows = np.searchsorted(self.labels, labels)
        inside = rows < self.n_rows
        rows = rows[inside]
        return rows[self.labels[rows] == labels[inside]]

    def kill(self, labels: np.ndarray) -> None:
        rows = self.rows_of(labels)
        rows = rows[self.live[rows]]
        self.live[rows] = False
        self.n_live -= len(rows)

    def dead_tokens(self) -> int:
        lengths = np.diff(self.ptr)
        return int(lengths[~self.live].sum())

    def token_index(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Global token indexes of ``rows`` (concatenated) and ``(len(rows),)`` lengths."""
        starts, lengths = self.ptr[rows], np.diff(self.ptr)[rows]
        return ranges(starts, lengths), lengths

    def compact(self) -> None:
        """Drop dead rows and their tokens (renumbers rows; rebuilds the inverted lists)."""
        keep = np.flatnonzero(self.live)
        index, lengths = self.token_index(keep)
        self.codes.replace(self.codes.take(index))
        self.residuals.replace(self.residuals.take(index))
        if self.side is not None:
            self.side.keep(index)
        self.ptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        self.labels = self.labels[keep]
        self.live = np.ones(len(keep), bool)
        self.rebuild_lists()

    # -- inverted lists ------------------------------------------------------------------
    def rebuild_lists(self) -> None:
        """Centroid -> rows lists over every token (each row once per centroid)."""
        owners = np.repeat(np.arange(self.n_rows, dtype=np.int64), np.diff(self.ptr))
        codes = self.codes.take(np.arange(len(self.codes))) if len(self.codes) else np.zeros(0)
        pairs = np.unique(codes.astype(np.int64) * max(self.n_rows, 1) + owners)
        cells = pairs // max(self.n_rows, 1)
        self.ivf_docs = (pairs % max(self.n_rows, 1)).astype(np.int32)
        self.ivf_ptr = np.zeros(self.n_centroids + 1, np.int64)
        np.cumsum(np.bincount(cells, minlength=self.n_centroids), out=self.ivf_ptr[1:])
        self.n_indexed = self.n_tokens

    def maybe_rebuild_lists(self) -> None:
        unindexed = self.n_tokens - self.n_indexed
        if len(self.ivf_ptr) != self.n_centroids + 1 or unindexed > max(
            _MIN_UNINDEXED, self.n_indexed // 4
        ):
            self.rebuild_lists()

    def docs_per_cell(self) -> float:
        """Expected documents per probed cell (``defaults.docs_per_probed_cell``) over the
        inverted lists and the unindexed tail: the tail's (cell, row) pairs are counted when
        it is small, else the lists' figure is scaled by ``n_tokens / n_indexed`` (the tail
        is at most a quarter of them then). Cached until tokens or lists change."""
        key = (self.n_tokens, id(self.ivf_ptr))
        if self._per_cell is not None and self._per_cell[0] == key:
            return self._per_cell[1]
        sizes = np.diff(self.ivf_ptr)
        tail = self.n_tokens - self.n_indexed
        if tail and (tail <= _EXACT_TAIL or not self.n_indexed):
            codes = self.codes.take(np.arange(self.n_indexed, self.n_tokens)).astype(np.int64)
            positions = np.arange(self.n_indexed, self.n_tokens)
            owners = np.searchsorted(self.ptr, positions, side="right") - 1
            pairs = np.unique(codes * max(self.n_rows, 1) + owners)
            counts = np.bincount(pairs // max(self.n_rows, 1), minlength=self.n_centroids)
            sizes = counts if len(sizes) != len(counts) else sizes + counts
            value = docs_per_probed_cell(sizes)
        else:
            value = docs_per_probed_cell(sizes) * self.n_tokens / max(1, self.n_indexed)
        self._per_cell = (key, value)
        return value

    def cell_rows(self, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(cell, row)`` pairs, ``(m,)`` int64 each, for rows holding a token in one of
        ``cells`` (each pair once from the lists; tail tokens may repeat a pair)."""
        starts, stops = self.ivf_ptr[cells], self.ivf_ptr[cells + 1]
        pair_cells = [np.repeat(cells.astype(np.int64), stops - starts)]
        pair_rows = [self.ivf_docs[ranges(starts, stops - starts)].astype(np.int64)]
        if self.n_tokens > self.n_indexed:
            wanted = np.zeros(self.n_centroids, bool)
            wanted[cells] = True
            tail_codes = self.codes.take(np.arange(self.n_indexed, self.n_tokens))
            hit = np.flatnonzero(wanted[tail_codes])
            pair_cells.append(tail_codes[hit].astype(np.int64))
            pair_rows.append(np.searchsorted(self.ptr, hit + self.n_indexed, side="right") - 1)
        return np.concatenate(pair_cells), np.concatenate(pair_rows)

    def arrays(self) -> dict[str, np.ndarray | TokenArray]:
        out: dict[str, np.ndarray | TokenArray] = {}
        if self.side is not None:
            out |= self.side.arrays()
        return out | {
            "codes": self.codes,
            "residuals": self.residuals,
            "doc_ptr": self.ptr,
            "labels": self.labels,
            "live": self.live,
            "ivf_ptr": self.ivf_ptr,
            "ivf_docs": self.ivf_docs,
        }


def ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, s + n)`` for each start / length (vectorised)."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    ends = np.cumsum(lengths)
    offsets = np.repeat(starts - (ends - lengths), lengths)
    return np.arange(total, dtype=np.int64) + offsets
