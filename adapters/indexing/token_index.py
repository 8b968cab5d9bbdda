"""``MaxSimIndex``: exact late-interaction search over stored token vectors.

The stand-in for ``late_interaction.PlaidIndex`` until it lands, with the same index protocol
(``create`` / ``open`` / ``add`` / ``delete`` / ``search`` / ``save``), so the document index
swaps one for the other. ``add`` takes one ``(n_tokens_i, dim)`` array per item (or the packed
container); a query is one ``(q_tokens, dim)`` array. Vectors are kept packed in float16 on
disk and in memory (half the bytes; MaxSim of normalized vectors changes < 1e-3) and scored
with ``late_interaction.maxsim`` against every live item: exact, and linear in the corpus.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch

from indexes.rows import Growable, RowTable
from late_interaction import maxsim_matrix
from retrieval.errors import ConfigError
from retrieval.metadata import LabelSet, MetadataStore
from retrieval.multivector import MultiVectorEmbeddings, as_multivector
from retrieval.storage import IndexFolder, Manifest, npy_writer
from retrieval.stored_index import Components, StoredIndex

_FILES = ("vectors", "lengths", "labels", "live")


class MaxSimIndex(StoredIndex):
    """Packed token vectors ranked by exact MaxSim (sum over query tokens)."""

    KIND = "maxsim"

    def __init__(
        self,
        manifest: Manifest,
        store: MetadataStore,
        folder: IndexFolder | None,
        rows: RowTable,
        vectors: np.ndarray,
        lengths: np.ndarray,
    ):
        """Internal: use ``MaxSimIndex.create`` or ``MaxSimIndex.open``."""
        super().__init__(manifest, store, folder)
        self.dim = manifest.dim
        self._rows = rows
        self._vectors = Growable(vectors.astype(np.float16, copy=False))
        self._lengths = Growable(lengths.astype(np.int64, copy=False))
        self._packed: MultiVectorEmbeddings | None = None

    @classmethod
    def create(cls, path: str | os.PathLike[str] | None = None, *, dim: int) -> MaxSimIndex:
        """A new empty index of ``dim``-wide token vectors (L2-normalized by the encoder)."""
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            msg = f"dim must be a positive integer (the token vector width); got {dim!r}."
            raise ConfigError(msg)
        manifest = Manifest(kind=cls.KIND, dim=dim, metric="maxsim", count=0)
        manifest, store, folder = cls._new_parts(path, manifest)
        empty = np.zeros((0, dim), np.float16)
        return cls(
            manifest, store, folder, RowTable(), empty, np.zeros(0, np.int64)
        )._first_commit()

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, verify: bool = True) -> MaxSimIndex:
        """Open a saved index (checksums verified unless ``verify=False``)."""
        manifest, store, folder = cls._open_parts(path, verify=verify)
        arrays = cls._read_arrays(folder, manifest, _FILES)
        rows = RowTable(arrays["labels"], arrays["live"])
        return cls(manifest, store, folder, rows, arrays["vectors"], arrays["lengths"])

    @property
    def n_tokens(self) -> int:
        """Stored token vectors of live items."""
        lengths = self._lengths.view
        return int(lengths[self._rows.live].sum()) if len(lengths) else 0

    @property
    def nbytes(self) -> int:
        """Bytes of stored vectors and row bookkeeping (excluding ids and metadata)."""
        return int(self._vectors.view.nbytes + self._lengths.view.nbytes + self._rows.labels.nbytes)

    def _prepare_add(self, embeddings: Any) -> MultiVectorEmbeddings:
        packed = as_multivector(embeddings)
        if len(packed) and packed.dim != self.dim:
            msg = f"token vectors are {packed.dim}-wide but this index holds {self.dim}."
            raise ConfigError(msg)
        return packed

    def _prepare_queries(self, queries: Any) -> list[torch.Tensor]:
        items = [queries] if _is_single(queries) else list(queries)
        out = []
        for item in items:
            tensor = torch.as_tensor(np.asarray(item, dtype=np.float32))
            if tensor.ndim != 2 or tensor.shape[1] != self.dim:
                msg = f"a query must be (q_tokens, {self.dim}); got {tuple(tensor.shape)}."
                raise ConfigError(msg)
            out.append(tensor)
        return out

    def _insert(self, labels: np.ndarray, batch: MultiVectorEmbeddings) -> None:
        self._rows.append(labels)
        self._vectors.append(batch.vectors.detach().cpu().numpy().astype(np.float16))
        self._lengths.append(batch.lengths.numpy().astype(np.int64))
        self._packed = None

    def _remove(self, labels: np.ndarray) -> None:
        self._rows.kill(labels)
        if self._rows.needs_compaction():
            lengths = self._lengths.view
            starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
            keep = self._rows.compact()
            parts = [
                self._vectors.view[s : s + n]
                for s, n in zip(starts[keep], lengths[keep], strict=True)
            ]
            self._vectors.replace(
                np.concatenate(parts) if parts else np.zeros((0, self.dim), np.float16)
            )
            self._lengths.replace(lengths[keep].copy())
        self._packed = None

    def _search(
        self, batch: list[torch.Tensor], k: int, allowed: LabelSet | None, options: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        scores = maxsim_matrix(batch, self._documents()).numpy().astype(np.float32)
        return self._rows.rank([scores], allowed, k)

    def _documents(self) -> MultiVectorEmbeddings:
        if self._packed is None:
            lengths = torch.from_numpy(self._lengths.view.copy())
            offsets = torch.zeros(len(lengths) + 1, dtype=torch.int64)
            torch.cumsum(lengths, dim=0, out=offsets[1:])
            vectors = torch.from_numpy(self._vectors.view.astype(np.float32))
            self._packed = MultiVectorEmbeddings(vectors, offsets)
        return self._packed

    def _components(self) -> Components:
        arrays = (self._vectors.view, self._lengths.view, self._rows.labels, self._rows.live)
        return {
            name: ("npy", npy_writer(array)) for name, array in zip(_FILES, arrays, strict=True)
        }


def _is_single(queries: Any) -> bool:
    return (isinstance(queries, np.ndarray | torch.Tensor)) and queries.ndim == 2
