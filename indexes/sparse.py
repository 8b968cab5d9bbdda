"""``SparseIndex``: exact top-k dot product over sparse vectors (SPLADE, BGE-M3 lexical).

``add`` takes a ``SparseEmbeddings`` or anything ``retrieval.types.as_sparse`` reads (a list
of ``(indices, values)`` pairs or ``{token_id: weight}`` dicts); a query is one such item and
``search_batch`` takes several. The score is the exact dot product; items that share no term
with the query score 0 and still fill the top ``k`` when fewer items overlap, so ``k`` results
come back whenever ``k`` items match the filter. Ties keep insertion order.

Folder format 2 stores the term-major postings (``term_ptr``, ``term_rows``, ``term_values``)
plus each row's label and liveness. Folders of format 1 (row-major ``indptr``, ``indices``,
``values``) still open: the postings are built from the rows in memory, and the next ``save``
writes format 2 (atomically, like every commit).
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

import numpy as np

from indexes.rows import RowTable
from indexes.sparse_postings import Postings
from indexes.term_major import Segment
from retrieval.errors import ConfigError, IndexCorruptError
from retrieval.metadata import LabelSet, MetadataStore
from retrieval.storage import IndexFolder, Manifest, npy_writer
from retrieval.stored_index import Components, StoredIndex
from retrieval.types import SparseEmbeddings, as_sparse

_FILES = ("term_ptr", "term_rows", "term_values", "labels", "live")
_ROW_MAJOR_FILES = ("indptr", "indices", "values", "labels", "live")  # format 1
FORMAT = 2
"""Folder format written by ``SparseIndex`` (2: term-major postings)."""


class SparseIndex(StoredIndex):
    """Inverted index for sparse vectors with the shared index protocol."""

    KIND = "sparse"

    def __init__(
        self,
        manifest: Manifest,
        store: MetadataStore,
        folder: IndexFolder | None,
        rows: RowTable,
        postings: Postings,
    ):
        """Internal: use ``SparseIndex.create`` or ``SparseIndex.open``."""
        super().__init__(replace(manifest, format_version=FORMAT), store, folder)
        self.vocab_size = manifest.dim
        self._rows = rows
        self._postings = postings

    @classmethod
    def create(
        cls, path: str | os.PathLike[str] | None = None, *, vocab_size: int = 30522
    ) -> SparseIndex:
        """A new empty index over token ids ``[0, vocab_size)`` (30522 = BERT's vocabulary)."""
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 1:
            msg = f"vocab_size must be a positive integer (e.g. 30522); got {vocab_size!r}."
            raise ConfigError(msg)
        manifest = Manifest(kind=cls.KIND, dim=vocab_size, metric="dot", count=0)
        manifest, store, folder = cls._new_parts(path, manifest)
        return cls(manifest, store, folder, RowTable(), Postings(vocab_size))._first_commit()

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, verify: bool = True) -> SparseIndex:
        """Open a saved index (checksums verified unless ``verify=False``)."""
        manifest, store, folder = cls._open_parts(path, verify=verify)
        vocab_size = manifest.dim
        if manifest.format_version >= FORMAT:
            arrays = cls._read_arrays(folder, manifest, _FILES)
            segment = Segment(arrays["term_ptr"], arrays["term_rows"], arrays["term_values"])
            _check_segment(segment, vocab_size, len(arrays["labels"]), folder)
            postings = Postings(vocab_size, segment, n_rows=len(arrays["labels"]))
        else:
            arrays = cls._read_arrays(folder, manifest, _ROW_MAJOR_FILES)
            rows = (arrays["indptr"], arrays["indices"], arrays["values"])
            postings = Postings.from_rows(vocab_size, *rows)
        return cls(manifest, store, folder, RowTable(arrays["labels"], arrays["live"]), postings)

    @property
    def nbytes(self) -> int:
        """Bytes held by postings and row bookkeeping (excluding ids and metadata)."""
        return self._postings.nbytes + self._rows.labels.nbytes + self._rows.live.nbytes

    @property
    def n_segments(self) -> int:
        """Postings segments now held (several after incremental adds; one after ``save``)."""
        return self._postings.n_segments

    def _prepare_add(self, embeddings: Any) -> SparseEmbeddings:
        return as_sparse(embeddings, self.vocab_size)

    def _prepare_queries(self, queries: Any) -> SparseEmbeddings:
        return as_sparse(queries, self.vocab_size)

    def _insert(self, labels: np.ndarray, batch: SparseEmbeddings) -> None:
        self._rows.append(labels)
        self._postings.append(batch)

    def _remove(self, labels: np.ndarray) -> None:
        self._rows.kill(labels)
        if self._rows.needs_compaction():
            self._postings.keep(self._rows.compact())

    def _search(
        self, batch: SparseEmbeddings, k: int, allowed: LabelSet | None, options: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        blocks = (self._postings.scores(indices, values)[None, :] for indices, values in batch)
        return self._rows.rank(blocks, allowed, k)

    def _components(self) -> Components:
        postings = self._postings.merged()
        arrays = (postings.ptr, postings.rows, postings.values, self._rows.labels, self._rows.live)
        return {
            name: ("npy", npy_writer(array)) for name, array in zip(_FILES, arrays, strict=True)
        }


def _check_segment(segment: Segment, vocab_size: int, n_rows: int, folder: IndexFolder) -> None:
    """Shapes and bounds a search relies on (checksums catch damage; this catches files
    that were valid once but do not belong together)."""
    ptr, rows = segment.ptr, segment.rows
    consistent = (
        len(ptr) == vocab_size + 1
        and len(segment.values) == len(rows)
        and ptr[0] == 0
        and ptr[-1] == len(rows)
        and bool(np.all(np.diff(ptr) >= 0))
        and (not len(rows) or (int(rows.min()) >= 0 and int(rows.max()) < n_rows))
    )
    if not consistent:
        msg = f"{folder.path}: the sparse postings do not fit the index. Restore the folder."
        raise IndexCorruptError(msg)
