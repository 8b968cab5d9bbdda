"""``MaxSimIndex``: exact multi-vector search (MaxSim over every stored token), the ground truth
the PLAID index approximates, behind the shared ``Index`` protocol.

Every document's L2-normalised token vectors are kept in one packed ``(total_tokens, dim)``
float32 array; a query batch is scored against all of them with ``late_interaction.
maxsim_matrix`` (one GEMM per chunk of document tokens), then ranked among the live rows the
filter allows. Memory is ``4 * dim`` bytes per token; a search costs a full corpus pass, so
it suits corpora up to a few hundred thousand documents or candidate reranking.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch

from indexes.rows import Growable, RowTable
from late_interaction import maxsim_matrix, maxsim_rows
from retrieval.errors import ConfigError
from retrieval.metadata import LabelSet, MetadataStore
from retrieval.multivector import MultiVectorEmbeddings, as_multivector
from retrieval.storage import IndexFolder, Manifest, npy_writer
from retrieval.stored_index import Components, StoredIndex


class MaxSimIndex(StoredIndex):
    """Exact MaxSim (sum over query tokens of the best document token) with the index protocol.

    ``add(ids, docs)`` takes a list of ``(n_tokens_i, dim)`` arrays/tensors or a packed
    ``MultiVectorEmbeddings``; a query is one ``(q_tokens, dim)`` array, a batch a list of them.
    Inputs are used as given (normalise them first, as encoders do).
    """

    KIND = "maxsim"

    def __init__(
        self,
        manifest: Manifest,
        store: MetadataStore,
        folder: IndexFolder | None,
        rows: RowTable,
        tokens: np.ndarray,
        lengths: np.ndarray,
    ):
        """Internal: use ``MaxSimIndex.create`` or ``MaxSimIndex.open``."""
        super().__init__(manifest, store, folder)
        self.dim = manifest.dim
        self._rows = rows
        self._tokens = Growable(tokens)
        self._lengths = Growable(lengths)

    @classmethod
    def create(cls, path: str | os.PathLike[str] | None = None, *, dim: int) -> MaxSimIndex:
        """A new empty index for token vectors of width ``dim``."""
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            msg = f"dim must be a positive integer (the token vector width); got {dim!r}."
            raise ConfigError(msg)
        manifest = Manifest(kind=cls.KIND, dim=dim, metric="maxsim", count=0)
        manifest, store, folder = cls._new_parts(path, manifest)
        empty = np.zeros((0, dim), np.float32)
        index = cls(manifest, store, folder, RowTable(), empty, np.zeros(0, np.int64))
        return index._first_commit()

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, verify: bool = True) -> MaxSimIndex:
        """Open a saved index (checksums verified unless ``verify=False``)."""
        manifest, store, folder = cls._open_parts(path, verify=verify)
        arrays = cls._read_arrays(folder, manifest, ("tokens", "lengths", "labels", "live"))
        rows = RowTable(arrays["labels"], arrays["live"])
        return cls(manifest, store, folder, rows, arrays["tokens"], arrays["lengths"])

    def _prepare_add(self, embeddings: Any) -> MultiVectorEmbeddings:
        return self._packed(as_multivector(embeddings), "documents")

    def _prepare_queries(self, queries: Any) -> MultiVectorEmbeddings:
        return self._packed(as_multivector(queries), "queries")

    def _packed(self, batch: MultiVectorEmbeddings, what: str) -> MultiVectorEmbeddings:
        if len(batch) and batch.dim != self.dim:
            msg = (
                f"{what} have token dim {batch.dim} but the index was created with "
                f"dim={self.dim}; encode with the model the index was built for."
            )
            raise ConfigError(msg)
        vectors = batch.vectors.detach().to("cpu", torch.float32)
        return MultiVectorEmbeddings(vectors.contiguous(), batch.offsets.to("cpu"))

    def _insert(self, labels: np.ndarray, batch: MultiVectorEmbeddings) -> None:
        self._rows.append(labels)
        self._tokens.append(batch.vectors.numpy())
        self._lengths.append(batch.lengths.numpy())

    def _remove(self, labels: np.ndarray) -> None:
        self._rows.kill(labels)
        if self._rows.needs_compaction():
            starts = np.concatenate([[0], np.cumsum(self._lengths.view)])
            keep = self._rows.compact()
            tokens = [self._tokens.view[starts[r] : starts[r + 1]] for r in keep.tolist()]
            self._tokens.replace(np.concatenate(tokens) if tokens else self._tokens.view[:0])
            self._lengths.replace(self._lengths.view[keep].copy())

    def _documents(self) -> MultiVectorEmbeddings:
        offsets = np.zeros(len(self._lengths) + 1, np.int64)
        np.cumsum(self._lengths.view, out=offsets[1:])
        return MultiVectorEmbeddings(torch.from_numpy(self._tokens.view), torch.from_numpy(offsets))

    def _search(
        self, batch: MultiVectorEmbeddings, k: int, allowed: LabelSet | None, options: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        scores = maxsim_matrix(batch.to_list(), self._documents()).numpy()
        return self._rows.rank([np.ascontiguousarray(scores, np.float32)], allowed, k)

    def _score_labels(
        self, batch: MultiVectorEmbeddings, labels: list[np.ndarray]
    ) -> list[np.ndarray]:
        offsets = np.zeros(len(self._lengths) + 1, np.int64)
        np.cumsum(self._lengths.view, out=offsets[1:])
        tokens = self._tokens.view
        return [
            maxsim_rows(query, tokens, offsets, self._rows.rows_of(wanted))
            for query, wanted in zip(batch.to_list(), labels, strict=True)
        ]

    def _components(self) -> Components:
        return {
            "tokens": ("npy", npy_writer(self._tokens.view)),
            "lengths": ("npy", npy_writer(self._lengths.view)),
            "labels": ("npy", npy_writer(self._rows.labels)),
            "live": ("npy", npy_writer(self._rows.live)),
        }
