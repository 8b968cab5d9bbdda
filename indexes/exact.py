"""``ExactIndex``: brute-force dense search in numpy, the ground truth for ANN indexes.

Every query is scored against every stored vector in float32, so results are exact (up to
float32 rounding); tests and benchmarks measure FAISS recall against it. Memory is the
``(n, dim)`` float32 matrix plus ids and metadata.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from indexes.dense import Metric, check_dim, check_metric, dense_scores, prepare_dense
from indexes.rows import Growable, RowTable
from retrieval.metadata import LabelSet, MetadataStore
from retrieval.storage import IndexFolder, Manifest, npy_writer
from retrieval.stored_index import Components, StoredIndex

_SCORE_BLOCK = 1 << 25  # floats of the (queries x rows) score block held at once (128 MiB)


class ExactIndex(StoredIndex):
    """Exact dense search (cosine / ip / l2) with the shared index protocol."""

    KIND = "exact"

    def __init__(
        self,
        manifest: Manifest,
        store: MetadataStore,
        folder: IndexFolder | None,
        rows: RowTable,
        vectors: np.ndarray,
    ):
        """Internal: use ``ExactIndex.create`` or ``ExactIndex.open``."""
        super().__init__(manifest, store, folder)
        self.dim = manifest.dim
        self.metric: Metric = check_metric(manifest.metric)
        self._rows = rows
        self._vectors = Growable(vectors)

    @classmethod
    def create(
        cls, path: str | os.PathLike[str] | None = None, *, dim: int, metric: str = "cosine"
    ) -> ExactIndex:
        """A new empty index: ``(n, dim)`` vectors ranked by ``metric`` (cosine | ip | l2)."""
        dim, metric = check_dim(dim), check_metric(metric)
        manifest = Manifest(kind=cls.KIND, dim=dim, metric=metric, count=0)
        manifest, store, folder = cls._new_parts(path, manifest)
        empty = np.zeros((0, dim), np.float32)
        return cls(manifest, store, folder, RowTable(), empty)._first_commit()

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, verify: bool = True) -> ExactIndex:
        """Open a saved index (checksums verified unless ``verify=False``)."""
        manifest, store, folder = cls._open_parts(path, verify=verify)
        arrays = cls._read_arrays(folder, manifest, ("vectors", "labels", "live"))
        rows = RowTable(arrays["labels"], arrays["live"])
        return cls(manifest, store, folder, rows, arrays["vectors"])

    def _prepare_add(self, embeddings: Any) -> np.ndarray:
        return prepare_dense(embeddings, self.dim, self.metric, "embeddings")

    def _prepare_queries(self, queries: Any) -> np.ndarray:
        return prepare_dense(queries, self.dim, self.metric, "queries")

    def _insert(self, labels: np.ndarray, batch: np.ndarray) -> None:
        self._rows.append(labels)
        self._vectors.append(batch)

    def _remove(self, labels: np.ndarray) -> None:
        self._rows.kill(labels)
        if self._rows.needs_compaction():
            keep = self._rows.compact()
            self._vectors.replace(self._vectors.view[keep].copy())

    def _search(
        self, batch: np.ndarray, k: int, allowed: LabelSet | None, options: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        vectors = self._vectors.view
        norms = np.einsum("ij,ij->i", vectors, vectors) if self.metric == "l2" else None
        step = max(1, _SCORE_BLOCK // max(1, len(vectors)))
        blocks = (
            dense_scores(batch[start : start + step], vectors, self.metric, norms)
            for start in range(0, len(batch), step)
        )
        return self._rows.rank(blocks, allowed, k)

    def _components(self) -> Components:
        return {
            "vectors": ("npy", npy_writer(self._vectors.view)),
            "labels": ("npy", npy_writer(self._rows.labels)),
            "live": ("npy", npy_writer(self._rows.live)),
        }
