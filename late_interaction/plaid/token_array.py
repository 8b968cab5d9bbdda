"""``TokenArray``: a per-token array as a base (memory-mapped copy-on-write when the index
was opened from disk, so opening never reads every row and rewriting a row never touches the
file) plus an appendable in-memory tail, written back as one ``.npy`` without concatenating."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from retrieval.storage import Writer

_MIN_CAPACITY = 1024
_WRITE_ROWS = 1 << 20


class TokenArray:
    """A ``(n, ...)`` array as base rows followed by appendable in-memory rows."""

    def __init__(self, base: np.ndarray) -> None:
        self.base = base
        self._tail = np.empty((0, *base.shape[1:]), base.dtype)
        self._size = 0

    def __len__(self) -> int:
        return len(self.base) + self._size

    @property
    def tail(self) -> np.ndarray:
        """The in-memory rows (a view, writable)."""
        return self._tail[: self._size]

    def append(self, rows: np.ndarray) -> None:
        needed = self._size + len(rows)
        if needed > len(self._tail):
            capacity = max(needed, 2 * len(self._tail), _MIN_CAPACITY)
            grown = np.empty((capacity, *self.base.shape[1:]), self.base.dtype)
            grown[: self._size] = self.tail
            self._tail = grown
        self._tail[self._size : needed] = rows
        self._size = needed

    def take(self, index: np.ndarray) -> np.ndarray:
        """Rows at sorted-or-not global ``index`` ``(m,)`` as one in-memory array."""
        n_base = len(self.base)
        if self._size == 0:
            return self.base[index]
        out = np.empty((len(index), *self.base.shape[1:]), self.base.dtype)
        in_base = index < n_base
        out[in_base] = self.base[index[in_base]]
        out[~in_base] = self.tail[index[~in_base] - n_base]
        return out

    def put(self, index: np.ndarray, rows: np.ndarray) -> None:
        """Overwrite rows at global ``index`` (a memory-mapped base is copy-on-write)."""
        n_base = len(self.base)
        in_base = index < n_base
        self.base[index[in_base]] = rows[in_base]
        self.tail[index[~in_base] - n_base] = rows[~in_base]

    def replace(self, array: np.ndarray) -> None:
        """Make ``array`` the whole content (in memory, appendable)."""
        self.base = np.empty((0, *array.shape[1:]), array.dtype)
        self._tail, self._size = array, len(array)

    def parts(self) -> Iterator[np.ndarray]:
        """The content in blocks of at most ``_WRITE_ROWS`` rows (for streaming writes)."""
        for part in (self.base, self.tail):
            for start in range(0, len(part), _WRITE_ROWS):
                yield np.ascontiguousarray(part[start : start + _WRITE_ROWS])

    def writer(self) -> Writer:
        """A ``Writer`` saving the content as one ``.npy`` without concatenating it."""

        def write(path: Path) -> None:
            header = {
                "descr": np.lib.format.dtype_to_descr(self.base.dtype),
                "fortran_order": False,
                "shape": (len(self), *self.base.shape[1:]),
            }
            with path.open("wb") as handle:
                np.lib.format.write_array_header_1_0(handle, header)
                for part in self.parts():
                    handle.write(part.tobytes())

        return write
