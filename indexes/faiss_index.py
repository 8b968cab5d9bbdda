"""``FaissIndex``: dense ANN search with faiss (flat, IVF, HNSW, IVF-PQ, sq8).

Scores are "higher is better": cosine similarity (vectors normalised, inner product), the
inner product, or minus the squared Euclidean distance for ``l2``. IVF-PQ and sq8 scores are
computed from the compressed codes, so they approximate the exact ones.

* **Ids.** Each item's string id maps to a fresh int64 label (``retrieval.metadata``); faiss
  stores labels. Re-adding an id replaces the item; deleting an unknown id does nothing.
* **Deletes.** flat, sq8 and IVF remove vectors at once. HNSW graphs cannot drop nodes, so a
  deleted label becomes a *tombstone* excluded from results by an id selector (the node keeps
  the graph connected); the graph is rebuilt from the live vectors once tombstones outnumber
  half of it.
* **Training.** ivf, ivfpq and sq8 need data before they can hold vectors. Below
  ``FaissConfig.min_train()`` vectors the index keeps them in an exact flat structure (a
  warning is logged) and trains the real one as soon as enough have been added.
* **Filters** become faiss id selectors applied *during* the search, so ranking only ever
  sees matching items. When an approximate search still returns fewer than ``k`` hits although
  ``k`` items match (a selective filter missing the probed IVF lists, an HNSW walk that cannot
  reach them), those queries are redone exhaustively: every IVF list, or exact scoring of the
  matching HNSW vectors. HNSW filters matching few items go straight to exact scoring.
* **Device.** See ``indexes.faiss_device``: a GPU copy serves unfiltered searches when
  faiss has a GPU; ``device="cpu"`` forces the CPU.
"""

from __future__ import annotations

import logging
import os
from dataclasses import fields
from typing import Any

import numpy as np

from indexes import faiss_structure as fs
from indexes.dense import dense_scores, prepare_dense
from indexes.faiss_config import TRAINED_KINDS, FaissConfig
from indexes.faiss_device import GPU_MAX_K, GpuReplica, resolve_gpu
from indexes.rows import top_k
from retrieval.errors import ConfigError, IndexCorruptError
from retrieval.filters import Filter
from retrieval.metadata import LabelSet, MetadataStore
from retrieval.storage import IndexFolder, Manifest, npy_writer, read_npy
from retrieval.stored_index import Components, StoredIndex
from retrieval.types import Hit

logger = logging.getLogger(__name__)

HNSW_EXACT_BELOW = 16_384
"""HNSW filters matching at most this many items are answered by exact scoring."""
_EXACT_CHUNK = 65_536  # vectors reconstructed at once during exact fallback scoring


class FaissIndex(StoredIndex):
    """Dense vectors in a faiss index, with the shared index protocol."""

    KIND = "faiss"

    def __init__(
        self,
        manifest: Manifest,
        store: MetadataStore,
        folder: IndexFolder | None,
        structure: Any,
        tombstones: np.ndarray,
        device: object,
    ):
        """Internal: use ``FaissIndex.create`` or ``FaissIndex.open``."""
        super().__init__(manifest, store, folder)
        self.config = _config(manifest.config)
        self._faiss = fs.load_faiss()
        self._index = structure
        self._trained = bool(manifest.state.get("trained", self.config.kind not in TRAINED_KINDS))
        self._nlist = int(manifest.state.get("nlist", 0))
        self._tombstones = tombstones
        self._tomb_selector: tuple[Any, Any] | None = None
        self._params: dict[tuple[int, int, bool], Any] = {}
        self._default_knobs = self._knobs(None, None)
        ordinal = resolve_gpu(self._faiss, device, self.config.kind)
        self._gpu = None if ordinal is None else GpuReplica(self._faiss, ordinal)

    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        dim: int = 384,
        kind: str = "hnsw",
        metric: str = "cosine",
        device: str = "auto",
        **params: Any,
    ) -> FaissIndex:
        """A new empty index. ``params`` are further ``FaissConfig`` fields (``nlist``,
        ``nprobe``, ``hnsw_m``, ``ef_construction``, ``ef_search``, ``pq_m``, ``pq_bits``)."""
        config = _config({"dim": dim, "kind": kind, "metric": metric, **params})
        faiss = fs.load_faiss()
        state = {"trained": config.kind not in TRAINED_KINDS, "nlist": 0}
        manifest = Manifest(
            kind=cls.KIND,
            dim=config.dim,
            metric=config.metric,
            count=0,
            config=config.to_dict(),
            state=state,
        )
        manifest, store, folder = cls._new_parts(path, manifest)
        structure = fs.new_untrained(faiss, config)
        return cls(
            manifest, store, folder, structure, np.zeros(0, np.int64), device
        )._first_commit()

    @classmethod
    def open(
        cls, path: str | os.PathLike[str], *, device: str = "auto", verify: bool = True
    ) -> FaissIndex:
        """Open a saved index (checksums verified unless ``verify=False``)."""
        manifest, store, folder = cls._open_parts(path, verify=verify)
        structure = fs.read(fs.load_faiss(), folder.file(manifest, "vectors"))
        tombstones = read_npy(folder.file(manifest, "tombstones")).astype(np.int64)
        if structure.ntotal - len(tombstones) != manifest.count:
            msg = (
                f"{folder.path}: the faiss file holds {structure.ntotal - len(tombstones)} live "
                f"vectors but the manifest counts {manifest.count}. Restore the folder."
            )
            raise IndexCorruptError(msg)
        return cls(manifest, store, folder, structure, tombstones, device)

    @property
    def device(self) -> str:
        """``cpu`` or ``cuda:N`` (the GPU serving unfiltered searches)."""
        return "cpu" if self._gpu is None else f"cuda:{self._gpu.ordinal}"

    @property
    def is_trained(self) -> bool:
        """False while a trained kind still serves exact flat search (too few vectors)."""
        return self._trained

    def search(
        self,
        query: Any,
        k: int = 10,
        filter: Filter | None = None,
        *,
        nprobe: int | None = None,
        ef_search: int | None = None,
    ) -> list[Hit]:
        """One query; ``nprobe`` / ``ef_search`` override the config for this call."""
        if nprobe is None and ef_search is None:
            return self._search_one(query, k, filter, self._default_knobs)
        return self._search_one(query, k, filter, self._knobs(nprobe, ef_search))

    def search_batch(
        self,
        queries: Any,
        k: int = 10,
        filter: Filter | None = None,
        *,
        nprobe: int | None = None,
        ef_search: int | None = None,
    ) -> list[list[Hit]]:
        """``(n_queries, dim)`` queries; knobs as in ``search``."""
        knobs = self._knobs(nprobe, ef_search)
        return self._run_search(self._prepare_queries(queries), k, filter, knobs)

    # -- StoredIndex hooks ---------------------------------------------------------------
    def _prepare_add(self, embeddings: Any) -> np.ndarray:
        return prepare_dense(embeddings, self.config.dim, self.config.metric, "embeddings")

    def _prepare_queries(self, queries: Any) -> np.ndarray:
        return prepare_dense(queries, self.config.dim, self.config.metric, "queries")

    def _insert(self, labels: np.ndarray, batch: np.ndarray) -> None:
        self._invalidate()
        needed = self.config.min_train()
        if self._trained:
            self._index.add_with_ids(batch, labels)
        elif self._index.ntotal + len(batch) >= needed:
            vectors, all_labels = batch, labels
            if self._index.ntotal:  # vectors held by the flat stand-in train along
                old_labels, old_vectors = fs.stored(self._faiss, self._index)
                vectors = np.concatenate([old_vectors, batch])
                all_labels = np.concatenate([old_labels, labels])
            self._index, self._nlist = fs.new_trained(self._faiss, self.config, vectors, all_labels)
            self._trained = True
            logger.info("Trained FAISS %s on %d vectors.", self.config.kind, len(vectors))
        else:
            if self._index.ntotal == 0:
                logger.warning(
                    "FAISS kind %r needs %d vectors to train; until then searches are exact "
                    "(flat) and the index trains once enough vectors are added.",
                    self.config.kind,
                    needed,
                )
            self._index.add_with_ids(batch, labels)

    def _remove(self, labels: np.ndarray) -> None:
        self._invalidate()
        if self.config.kind != "hnsw":
            self._index.remove_ids(labels)
            return
        self._tombstones = np.union1d(self._tombstones, labels)
        if len(self._tombstones) > max(64, self._index.ntotal // 2):
            self._rebuild_hnsw()

    def _search(
        self, batch: np.ndarray, k: int, allowed: LabelSet | None, options: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        nprobe, ef_search = options or self._default_knobs
        if allowed is not None and self.config.kind == "hnsw" and len(allowed) <= HNSW_EXACT_BELOW:
            return self._exact_among(batch, k, allowed.labels)
        labels, scores = self._faiss_search(batch, k, allowed, nprobe, ef_search)
        expected = min(k, len(self._store) if allowed is None else len(allowed))
        # faiss pads missing results with label -1 at the end of a row. One query (the
        # latency-bound case) is checked as a scalar: a numpy reduction costs microseconds.
        last = labels[:, expected - 1]
        any_short = last[0] < 0 if len(last) == 1 else (last < 0).any()
        if any_short:
            short = np.flatnonzero(last < 0)
            redo = batch[short]
            if self.config.kind == "hnsw":
                pool = self._store.all_labels() if allowed is None else allowed.labels
                labels[short], scores[short] = self._exact_among(redo, k, pool)
            elif self._trained and self._nlist:  # IVF: visit every list
                labels[short], scores[short] = self._faiss_search(
                    redo, k, allowed, self._nlist, ef_search
                )
        return labels, scores

    def _components(self) -> Components:
        index = self._index
        return {
            "vectors": ("faiss", lambda path: fs.write(self._faiss, index, path)),
            "tombstones": ("npy", npy_writer(self._tombstones)),
        }

    def _state(self) -> dict[str, Any]:
        return {"trained": self._trained, "nlist": self._nlist}

    # -- internals -----------------------------------------------------------------------
    def _faiss_search(
        self, batch: np.ndarray, k: int, allowed: LabelSet | None, nprobe: int, ef: int
    ) -> tuple[np.ndarray, np.ndarray]:
        unrestricted = allowed is None and not len(self._tombstones)
        selector = None if unrestricted else self._selector(allowed)
        index = self._index
        if selector is None and self._gpu is not None and k <= GPU_MAX_K:
            index = self._gpu.get(self._index, self.config.kind)
        nprobe = min(nprobe, self._nlist) if self._nlist else nprobe
        if selector is None:  # read-only parameters: one object serves every thread
            key = (nprobe, ef, self._trained)
            params = self._params.get(key)
            if params is None:
                params = self._params[key] = self._new_params(None, nprobe, ef)
        else:  # IndexIDMap edits parameters that carry a selector: a fresh object per call
            params = self._new_params(selector, nprobe, ef)
        distances, labels = fs.search(self._faiss, index, batch, k, params)
        # Scores of padding (label -1) are meaningless; hits skip those entries.
        return labels, (-distances if self.config.metric == "l2" else distances)

    def _new_params(self, selector: Any, nprobe: int, ef: int) -> Any:
        return fs.search_params(self._faiss, self.config, self._trained, selector, nprobe, ef)

    def _selector(self, allowed: LabelSet | None) -> Any:
        """faiss id selector for a filter, or for HNSW tombstones; ``None`` when unrestricted."""
        if allowed is not None:
            # The filter's labels come from the store, which only holds live items, so
            # they already exclude tombstones.
            return allowed.derive("faiss", lambda labels: fs.bitmap_selector(self._faiss, labels))[
                1
            ]
        if not len(self._tombstones):
            return None
        if self._tomb_selector is None:
            batch = self._faiss.IDSelectorBatch(self._tombstones)
            self._tomb_selector = (batch, self._faiss.IDSelectorNot(batch))
        return self._tomb_selector[1]

    def _exact_among(
        self, batch: np.ndarray, k: int, labels: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-k among ``labels`` from the stored (HNSW flat) vectors."""
        best_labels = np.full((len(batch), 0), -1, np.int64)
        best_scores = np.full((len(batch), 0), -np.inf, np.float32)
        for start in range(0, len(labels), _EXACT_CHUNK):
            chunk = labels[start : start + _EXACT_CHUNK]
            vectors = self._index.reconstruct_batch(chunk)
            scores = np.concatenate(
                [best_scores, dense_scores(batch, vectors, self.config.metric)], 1
            )
            pool = np.concatenate(
                [best_labels, np.broadcast_to(chunk, (len(batch), len(chunk)))], 1
            )
            rows, best_scores = top_k(scores, None, k)
            best_labels = np.where(rows >= 0, np.take_along_axis(pool, np.maximum(rows, 0), 1), -1)
        return best_labels, best_scores

    def _rebuild_hnsw(self) -> None:
        labels, vectors = fs.stored(self._faiss, self._index)
        keep = ~np.isin(labels, self._tombstones)
        rebuilt = fs.new_untrained(self._faiss, self.config)
        rebuilt.add_with_ids(vectors[keep], labels[keep])
        self._index = rebuilt
        self._tombstones = np.zeros(0, np.int64)
        logger.info("Rebuilt the HNSW graph without %d deleted vectors.", int((~keep).sum()))

    def _invalidate(self) -> None:
        self._tomb_selector = None
        if self._gpu is not None:
            self._gpu.invalidate()

    def _knobs(self, nprobe: int | None, ef_search: int | None) -> tuple[int, int]:
        values = (
            self.config.nprobe if nprobe is None else nprobe,
            self.config.ef_search if ef_search is None else ef_search,
        )
        for name, value in zip(("nprobe", "ef_search"), values, strict=True):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                msg = f"{name} must be a positive integer; got {value!r}."
                raise ConfigError(msg)
        return values


def _config(values: dict[str, Any]) -> FaissConfig:
    valid = [f.name for f in fields(FaissConfig)]
    unknown = sorted(set(values) - set(valid))
    if unknown:
        msg = f"Unknown FaissIndex option(s) {', '.join(unknown)}. Valid: {', '.join(valid)}."
        raise ConfigError(msg)
    return FaissConfig(**values)
