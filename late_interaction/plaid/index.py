"""``PlaidIndex``: compressed ColBERT-style token index with PLAID search and the shared
index protocol (upsert, delete, filters, crash-safe folders).

Documents are lists of token vectors (a list of ``(tokens_i, dim)`` arrays or tensors, or a
``MultiVectorEmbeddings``); a query is one ``(q_tokens, dim)`` array. Scores are MaxSim on
the decompressed tokens, or on an exact side store (``rescore="int8"`` / ``"fp16"``). The
search depth ``ndocs`` follows the index's size unless set. The codebook is trained on the
first ``add`` (for a streamed add, on its first ``train_tokens`` tokens). When later
additions drift (a measured share of far tokens, ``drift.py``), the codebook grows a
generation of centroids with re-fitted residual buckets and re-encodes the drifted tokens,
so many small updates keep the quality of a fresh build.

The folder layout is in ``files.py``; the exact side store of ``rescore`` in ``side.py``;
the search defaults derived from the index in ``defaults.py``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from late_interaction.plaid.codec import ResidualCodec
from late_interaction.plaid.config import CONFIG_VERSION, PlaidConfig
from late_interaction.plaid.defaults import derived_ndocs
from late_interaction.plaid.drift import Growth
from late_interaction.plaid.files import components, read_index
from late_interaction.plaid.inputs import Docs, Prepared, is_stream, prepare_docs, prepare_queries
from late_interaction.plaid.search import SearchParams, score_rows, search_one
from late_interaction.plaid.side import SideStore
from late_interaction.plaid.store import TokenStore
from retrieval.errors import ConfigError
from retrieval.filters import Filter
from retrieval.metadata import LabelSet, MetadataStore
from retrieval.storage import IndexFolder, Manifest
from retrieval.stored_index import Components, StoredIndex
from retrieval.types import Hit

_MIN_COMPACT_TOKENS = 65_536


class PlaidIndex(StoredIndex):
    """PLAID token index (ColBERTv2 residual compression) with the shared index protocol."""

    KIND = "plaid"

    def __init__(
        self,
        manifest: Manifest,
        store: MetadataStore,
        folder: IndexFolder | None,
        codec: ResidualCodec | None,
        tokens: TokenStore,
        far: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        """Internal: use ``PlaidIndex.create`` or ``PlaidIndex.open``."""
        super().__init__(manifest, store, folder)
        # a new index has no state yet; a saved one without a version predates version 2
        version = int(manifest.state.get("config_version", 1 if manifest.state else 2))
        self.config = PlaidConfig.from_json(manifest.config, version)
        self._codec = codec
        self._tokens = tokens
        dim = self.config.dim
        empty = (np.zeros(0, np.int64), np.zeros((0, dim), np.float32))
        self._growth = Growth(self.config, manifest.state.get("drift", []), *(far or empty))

    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        dim: int = 128,
        nbits: int = 2,
        **config: Any,
    ) -> PlaidIndex:
        """A new empty index (``path=None``: in memory). ``config``: the other ``PlaidConfig``
        fields, e.g. ``rescore`` (the exact side store for the final MaxSim: ``"int8"``, the
        default, ``dim + 2`` bytes per token; ``"fp16"``; ``"none"``: codes only),
        ``n_centroids``, ``ncells``, ``ndocs`` (default: derived from the index at each
        search), ``centroid_score_threshold``."""
        try:
            settings = PlaidConfig(dim=dim, nbits=nbits, **config)
        except TypeError as err:
            msg = f"Unknown PlaidIndex option ({err}). Valid: see PlaidConfig's fields."
            raise ConfigError(msg) from err
        manifest = Manifest(
            kind=cls.KIND, dim=dim, metric="maxsim", count=0, config=settings.to_json()
        )
        manifest, store, folder = cls._new_parts(path, manifest)
        side = None if settings.rescore == "none" else SideStore.empty(settings.rescore, dim)
        tokens = TokenStore.empty(dim * nbits // 8, side)
        return cls(manifest, store, folder, None, tokens)._first_commit()

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, verify: bool = True) -> PlaidIndex:
        """Open a saved index; ``codes`` / ``residuals`` are memory-mapped, not read.
        ``verify=False`` skips the SHA-256 check (which reads every file once)."""
        manifest, store, folder = cls._open_parts(path, verify=verify)
        codec, tokens, far = read_index(folder, manifest)
        return cls(manifest, store, folder, codec, tokens, far)

    # -- public extras -------------------------------------------------------------------
    def add(
        self,
        ids: Iterable[str],
        embeddings: Any,
        metadata: Iterable[Mapping[str, Any] | None] | None = None,
    ) -> None:
        """Insert documents, replacing any with the same id (upsert).

        ``embeddings`` is a list of ``(tokens_i, dim)`` arrays / tensors or a
        ``MultiVectorEmbeddings`` (nothing changes when any input is invalid), or an
        *iterator of such batches* for a bounded-memory build: ``ids`` (and ``metadata``)
        then give every document's id in order (a list must match the documents exactly; an
        iterator, e.g. ``(str(i) for i in itertools.count())``, may run longer) and batches are
        stored one at a time (an invalid batch stops the stream; the batches before it stay
        added)."""
        if not is_stream(embeddings):
            meta = None if metadata is None else list(metadata)
            super().add(ids, embeddings, meta)  # type: ignore[arg-type]  # a str is refused there
            return
        id_iter = iter(ids)
        meta_iter = None if metadata is None else iter(metadata)
        pending: list[tuple[list[str], Docs, list[Mapping[str, Any] | None] | None]] = []
        for batch in embeddings:
            docs = self._prepare_add(batch)
            batch_ids = [next(id_iter, None) for _ in range(len(docs))]
            if None in batch_ids:
                msg = "The stream holds more documents than ids; give one id per document."
                raise ConfigError(msg)
            meta = None if meta_iter is None else [next(meta_iter, None) for _ in batch_ids]
            pending.append((batch_ids, docs, meta))  # type: ignore[arg-type]
            if (
                self._codec is not None
                or sum(len(p[1].vectors) for p in pending) >= self.config.train_tokens
            ):
                self._add_pending(pending)
        self._add_pending(pending)
        if isinstance(ids, Sequence) and next(id_iter, None) is not None:
            msg = "The stream ended before the ids did; give one id per document."
            raise ConfigError(msg)

    def search(
        self,
        query: Any,
        k: int = 10,
        filter: Filter | None = None,
        *,
        ncells: int | None = None,
        ndocs: int | None = None,
        centroid_score_threshold: float | str | None = "config",
        rescore: bool = True,
    ) -> list[Hit]:
        """The best ``k`` documents for one ``(q_tokens, dim)`` query; knobs override the
        config for this call (``centroid_score_threshold=None`` disables pruning;
        ``rescore=False`` scores on decompressed tokens even with a side store)."""
        params = self.config.search_params(ncells, ndocs, centroid_score_threshold, rescore)
        return self._search_one(query, k, filter, params)

    def search_batch(
        self,
        queries: Any,
        k: int = 10,
        filter: Filter | None = None,
        *,
        ncells: int | None = None,
        ndocs: int | None = None,
        centroid_score_threshold: float | str | None = "config",
        rescore: bool = True,
    ) -> list[list[Hit]]:
        """``search`` for each query of a list (or packed container); knobs as in ``search``."""
        params = self.config.search_params(ncells, ndocs, centroid_score_threshold, rescore)
        return self._run_search(self._prepare_queries(queries), k, filter, params)

    def search_defaults(self, k: int = 10) -> SearchParams:
        """The knobs a search of ``k`` results without overrides uses now: the config's,
        with ``ndocs`` derived from the index when the config leaves it ``None``."""
        params = self.config.search_params(None, None, "config")
        with self._lock.read():
            ndocs = params.ndocs or derived_ndocs(self._tokens.docs_per_cell(), k)
        return replace(params, ndocs=ndocs)

    def compact(self) -> None:
        """Drop the tokens of deleted and replaced documents now (also automatic once they
        outnumber the live ones); takes effect on disk at the next ``save``."""
        with self._lock.write():
            self._flush_far(force=True)
            self._tokens.compact()

    def decompressed(self, id: str) -> np.ndarray:
        """The stored tokens of document ``id`` as decoded from the index ``(tokens, dim)``
        float32 (what search scores without a side store)."""
        with self._lock.read():
            labels = self._store.labels_of([id])
            rows = self._tokens.rows_of(labels)
            if self._codec is None or not len(rows):
                msg = f"No document with id {id!r} in this index."
                raise KeyError(msg)
            index, _ = self._tokens.token_index(rows[:1])
            codes = self._tokens.codes.take(index)
            return self._codec.decode(codes, self._tokens.residuals.take(index))

    @property
    def n_tokens(self) -> int:
        """Stored tokens, deleted documents' included until compaction."""
        return self._tokens.n_tokens

    @property
    def drift_share(self) -> float:
        """Share of recently added tokens that were far from the codebook (about 0.1 for
        tokens like those it was fitted on; growth needs ``config.drift_share``)."""
        return self._growth.share

    @property
    def n_centroids(self) -> int:
        return 0 if self._codec is None else len(self._codec.centroids)

    @property
    def bytes_per_token(self) -> float:
        """Index bytes per stored token: codes, residuals, inverted lists and per-document
        arrays (the codebook and the metadata store excluded)."""
        return self._tokens.nbytes / max(1, self._tokens.n_tokens)

    @property
    def side_bytes_per_token(self) -> float:
        """Bytes per token of the ``rescore`` side store (0 without one): ``2 * dim`` for
        ``"fp16"``, ``dim + 2`` for ``"int8"``."""
        return self._tokens.side_nbytes / max(1, self._tokens.n_tokens)

    # -- StoredIndex hooks -----------------------------------------------------------------
    def _prepare_add(self, embeddings: Any) -> Docs:
        return prepare_docs(embeddings, self.config.dim)

    def _prepare_queries(self, queries: Any) -> list[np.ndarray]:
        return prepare_queries(queries, self.config.dim)

    def _insert(self, labels: np.ndarray, batch: Docs) -> None:
        if self._codec is None:
            self._train(batch.vectors)
        assert self._codec is not None
        start = self._tokens.n_tokens
        codes, packed, level = self._codec.encode(batch.vectors)
        side = self._tokens.side
        decoded = self._codec.decode(codes, packed) if side is not None and side.refines else None
        self._tokens.append(labels, batch.lengths, codes, packed, batch.vectors, decoded)
        self._growth.observe(self._codec, self._tokens, start, codes, level, batch.vectors)
        self._tokens.maybe_rebuild_lists()

    def _remove(self, labels: np.ndarray) -> None:
        self._tokens.kill(labels)
        dead = self._tokens.dead_tokens()
        if dead > max(_MIN_COMPACT_TOKENS, self._tokens.n_tokens - dead):
            self._flush_far(force=True)
            self._tokens.compact()

    def _search(
        self, batch: list[np.ndarray], k: int, allowed: LabelSet | None, options: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        assert self._codec is not None  # a non-empty index is trained
        params = options or self.config.search_params(None, None, "config")
        tokens = self._tokens
        if allowed is None:
            valid = tokens.live
        else:
            valid = allowed.derive("plaid_rows", lambda labels: self._valid_rows(labels))
        n_valid = tokens.n_live if allowed is None else int(valid.sum())
        results = [search_one(q, tokens, self._codec, valid, n_valid, k, params) for q in batch]
        rows = np.stack([r[0] for r in results])
        scores = np.stack([r[1] for r in results])
        labels = np.where(rows >= 0, tokens.labels[np.maximum(rows, 0)], -1)
        return labels, scores

    def _score_labels(self, batch: list[np.ndarray], labels: list[np.ndarray]) -> list[np.ndarray]:
        """Exact MaxSim of the given documents: on the full-precision side store when there
        is one, else on the decoded tokens (what search's last step scores)."""
        assert self._codec is not None  # a non-empty index is trained
        out = []
        for query, wanted in zip(batch, labels, strict=True):
            rows = self._tokens.rows_of(wanted)
            out.append(score_rows(query, self._tokens, self._codec, rows, rescore=True))
        return out

    def _components(self) -> Components:
        return components(self._codec, self._tokens, self._growth.buffer(self.config.dim))

    def _state(self) -> dict[str, Any]:
        codec = self._codec
        return {
            "config_version": CONFIG_VERSION,
            "trained": codec is not None,
            "far_cutoffs": [] if codec is None else codec.far_cutoffs.tolist(),
            "generations": [] if codec is None else codec.starts.tolist(),
            "normalized": codec is not None and codec.normalized,
            "n_indexed": self._tokens.n_indexed,
            "n_tokens": self._tokens.n_tokens,
            "drift": self._growth.counts.tolist(),
            "side_unit": None if self._tokens.side is None else self._tokens.side.unit,
        }

    # -- internals -------------------------------------------------------------------------
    def _add_pending(self, pending: list[tuple[list[str], Docs, Any]]) -> None:
        """Store buffered stream batches as one ``add`` (so the codebook trains on all)."""
        if not pending:
            return
        ids = [i for p in pending for i in p[0]]
        docs = Docs.concat([p[1] for p in pending])
        meta = None
        if any(p[2] is not None for p in pending):
            meta = [m for p in pending for m in (p[2] or [None] * len(p[0]))]
        pending.clear()
        super().add(ids, Prepared(docs), meta)

    def _train(self, vectors: np.ndarray) -> None:
        config = self.config
        n_centroids = config.auto_centroids(len(vectors))
        limit = n_centroids * config.kmeans_points_per_centroid
        sample = vectors
        if len(vectors) > limit:
            rng = np.random.default_rng(config.seed)
            sample = vectors[np.sort(rng.choice(len(vectors), limit, replace=False))]
        self._codec = ResidualCodec.train(
            sample, n_centroids, config.nbits, niter=config.kmeans_niter, seed=config.seed
        )
        self._tokens.n_centroids = len(self._codec.centroids)
        self._tokens.rebuild_lists()

    def _flush_far(self, *, force: bool) -> None:
        """Settle buffered far tokens and seal the open generation (before compaction)."""
        if self._codec is not None:
            self._growth.flush(self._codec, self._tokens, force=force)
        self._growth.seal()

    def _valid_rows(self, labels: np.ndarray) -> np.ndarray:
        mask = np.zeros(self._tokens.n_rows, bool)
        mask[self._tokens.rows_of(labels)] = True
        return mask & self._tokens.live
