"""``QdrantStore``: dense, sparse and multi-vector embeddings as named vectors of ONE Qdrant
collection, payload = the toolkit's metadata, hybrid search by prefetch + fusion.

One document is one Qdrant point: its id is ``uuid5(ID_NAMESPACE, toolkit_id)`` (stable, so
re-adding replaces), the toolkit id is kept in the payload (``ID_KEY``) and comes back in
``Hit.id``. The same code runs against a Qdrant server (``url=...``), a local folder
(``path=...``) or memory (the default) - qdrant-client's local mode has the server's API.

Scores are "higher is better" as everywhere in the toolkit: cosine / dot as Qdrant reports
them, ``l2`` as minus the squared Euclidean distance (like ``FaissIndex``), sparse as the
dot product, multi-vector as MaxSim (sum over query tokens of the best dot product). A
sparse search returns only documents sharing a term with the query (``SparseIndex`` pads
with zero-score documents up to ``k``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from adapters.qdrant.filters import ID_KEY, metadata_from, payload_for, to_qdrant_filter
from adapters.qdrant.layout import (
    Layout,
    check_layout,
    client_module,
    connect,
    distance,
    read_layout,
)
from adapters.qdrant.vectors import dense_rows, multivector_items, sparse_items
from retrieval.errors import ConfigError
from retrieval.filters import Filter
from retrieval.stored_index import check_ids
from retrieval.types import Hit

ID_NAMESPACE = uuid.UUID("6f1c1b1e-6a55-5b8e-9d3e-2f1a4c0d7e21")
"""Namespace of the uuid5 point ids (fixed forever: changing it orphans stored points)."""
_UPSERT_CHUNK = 256


def point_id(doc_id: str) -> str:
    """The Qdrant point id (a UUID string) of the toolkit id ``doc_id``."""
    return str(uuid.uuid5(ID_NAMESPACE, doc_id))


class QdrantStore:
    """A Qdrant collection holding the toolkit's representations of each document."""

    def __init__(self, client: Any, collection: str, layout: Layout) -> None:
        """Internal: use ``QdrantStore.create`` or ``QdrantStore.open``."""
        self.client = client
        self.collection = collection
        self.layout = layout
        self._models = client_module().models

    # -- construction ----------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        collection: str = "retrieval",
        *,
        url: str | None = None,
        path: str | None = None,
        api_key: str | None = None,
        client: Any = None,
        dense_dim: int | None = None,
        dense_metric: str = "cosine",
        sparse: bool = False,
        multivector_dim: int | None = None,
        multivector_metric: str = "ip",
    ) -> QdrantStore:
        """Create ``collection`` with the named vectors asked for (at least one).

        Connects to ``url`` (a server or cluster), ``path`` (local folder) or memory, unless a
        ready ``QdrantClient`` is given. An existing collection of that name is an error.
        """
        layout = Layout(dense_dim, dense_metric, sparse, multivector_dim, multivector_metric)
        check_layout(layout)
        client = client or connect(url=url, path=path, api_key=api_key)
        if client.collection_exists(collection):
            msg = (
                f"Qdrant collection {collection!r} already exists; open it with "
                f"QdrantStore.open({collection!r}, ...) or delete it first."
            )
            raise ConfigError(msg)
        store = cls(client, collection, layout)
        store._create_collection()
        return store

    @classmethod
    def open(
        cls,
        collection: str = "retrieval",
        *,
        url: str | None = None,
        path: str | None = None,
        api_key: str | None = None,
        client: Any = None,
    ) -> QdrantStore:
        """Open an existing collection; its layout is read from the collection's config."""
        client = client or connect(url=url, path=path, api_key=api_key)
        if not client.collection_exists(collection):
            msg = f"No Qdrant collection {collection!r}; create it with QdrantStore.create."
            raise ConfigError(msg)
        return cls(client, collection, read_layout(client.get_collection(collection)))

    def _create_collection(self) -> None:
        models, layout = self._models, self.layout
        vectors: dict[str, Any] = {}
        if layout.dense_dim is not None:
            vectors["dense"] = models.VectorParams(
                size=layout.dense_dim, distance=distance(models, layout.dense_metric)
            )
        if layout.multivector_dim is not None:
            vectors["multivector"] = models.VectorParams(
                size=layout.multivector_dim,
                distance=distance(models, layout.multivector_metric),
                multivector_config=models.MultiVectorConfig(
                    comparator=models.MultiVectorComparator.MAX_SIM
                ),
            )
        sparse = {"sparse": models.SparseVectorParams()} if layout.sparse else None
        self.client.create_collection(
            self.collection, vectors_config=vectors, sparse_vectors_config=sparse
        )

    # -- writes ------------------------------------------------------------------------------
    def add(
        self,
        ids: Sequence[str],
        *,
        dense: Any = None,
        sparse: Any = None,
        multivector: Any = None,
        metadata: Sequence[Mapping[str, Any] | None] | None = None,
    ) -> None:
        """Upsert documents with the representations given (others are left unset).

        ``dense`` ``(n, dim)``; ``sparse`` a ``SparseEmbeddings`` or ``(indices, values)``
        pairs; ``multivector`` a list of ``(tokens_i, dim)`` arrays or a
        ``MultiVectorEmbeddings``; ``metadata`` one dict (or ``None``) per id. A document
        added again is replaced as a whole.
        """
        ids = check_ids(ids, unique=True)
        columns = self._vector_columns(len(ids), dense, sparse, multivector)
        if not columns:
            msg = "add needs at least one of dense=, sparse=, multivector=."
            raise ConfigError(msg)
        metas = _check_metadata(ids, metadata)
        points = [
            self._models.PointStruct(
                id=point_id(doc_id),
                vector={name: column[i] for name, column in columns.items()},
                payload=payload_for(doc_id, metas[i]),
            )
            for i, doc_id in enumerate(ids)
        ]
        self._upsert(points)

    def update(
        self,
        kind: str,
        ids: Sequence[str],
        embeddings: Any,
        metadata: Sequence[Mapping[str, Any] | None] | None = None,
    ) -> None:
        """Set one representation of documents, keeping their other vectors; new ids become
        new points. ``metadata`` replaces the stored metadata when given (``None`` keeps it)."""
        ids = check_ids(ids, unique=True)
        column = self._vector_columns(len(ids), **{self.check_kind(kind): embeddings})[kind]
        metas = None if metadata is None else _check_metadata(ids, metadata)
        found = self.client.retrieve(
            self.collection, [point_id(i) for i in ids], with_payload=True, with_vectors=True
        )
        existing = {str(p.id): p for p in found}
        points = []
        for i, doc_id in enumerate(ids):
            old = existing.get(point_id(doc_id))
            vectors = dict(old.vector or {}) if old is not None else {}
            vectors[kind] = column[i]
            meta = metas[i] if metas is not None else metadata_from(old and old.payload)
            payload = payload_for(doc_id, meta)
            points.append(
                self._models.PointStruct(id=point_id(doc_id), vector=vectors, payload=payload)
            )
        self._upsert(points)

    def delete(self, ids: Sequence[str]) -> None:
        """Remove documents (every representation); unknown ids are ignored."""
        ids = check_ids(ids, unique=False)
        if ids:
            selector = self._models.PointIdsList(points=[point_id(i) for i in ids])
            self.client.delete(self.collection, points_selector=selector, wait=True)

    def _upsert(self, points: list[Any]) -> None:
        for start in range(0, len(points), _UPSERT_CHUNK):
            chunk = points[start : start + _UPSERT_CHUNK]
            self.client.upsert(self.collection, points=chunk, wait=True)

    # -- reads -------------------------------------------------------------------------------
    def count(self, kind: str | None = None) -> int:
        """Number of documents (with a ``kind`` vector, when given)."""
        condition = None
        if kind is not None:
            has = self._models.HasVectorCondition(has_vector=self.check_kind(kind))
            condition = self._models.Filter(must=[has])
        result = self.client.count(self.collection, count_filter=condition, exact=True)
        return int(result.count)

    def __len__(self) -> int:
        return self.count()

    def search(self, kind: str, query: Any, k: int = 10, filter: Filter | None = None) -> list[Hit]:
        """The best ``k`` documents for one ``kind`` query (``(dim,)`` dense, a sparse item,
        ``(q_tokens, dim)`` multi-vector)."""
        hits = self.search_batch(kind, query, k, filter)
        if len(hits) != 1:
            msg = f"search takes one query; got {len(hits)}. Use search_batch for several."
            raise ConfigError(msg)
        return hits[0]

    def search_batch(
        self, kind: str, queries: Any, k: int = 10, filter: Filter | None = None
    ) -> list[list[Hit]]:
        """``search`` for each query of a batch (one request), sharing ``filter``."""
        _check_k(k)
        column = self._vector_columns(None, **{self.check_kind(kind): queries})[kind]
        qfilter = to_qdrant_filter(filter)
        requests = [
            self._models.QueryRequest(
                query=vector, using=kind, limit=k, filter=qfilter, with_payload=True
            )
            for vector in column
        ]
        if not requests:
            return []
        responses = self.client.query_batch_points(self.collection, requests=requests)
        return [self._hits(response.points, kind) for response in responses]

    def hybrid_search(
        self,
        *,
        dense: Any = None,
        sparse: Any = None,
        multivector: Any = None,
        k: int = 10,
        prefetch_k: int = 100,
        filter: Filter | None = None,
        rrf_k: int = 60,
    ) -> list[Hit]:
        """Fuse the top ``prefetch_k`` of each given representation with Reciprocal Rank
        Fusion, ``sum 1 / (rrf_k + rank)`` with ranks from 1 (as ``retrieval.Fusion``), all
        inside Qdrant: one ``query_points`` call with a ``prefetch`` per representation and
        the filter applied in each. Scores are RRF scores."""
        _check_k(k)
        _check_k(prefetch_k)
        if isinstance(rrf_k, bool) or not isinstance(rrf_k, int) or rrf_k < 0:
            msg = f"rrf_k must be an integer >= 0 (60 is usual); got {rrf_k!r}."
            raise ConfigError(msg)
        queries = {"dense": dense, "sparse": sparse, "multivector": multivector}
        given = {kind: q for kind, q in queries.items() if q is not None}
        if not given:
            msg = "hybrid_search needs at least one of dense=, sparse=, multivector=."
            raise ConfigError(msg)
        qfilter = to_qdrant_filter(filter)
        models = self._models
        prefetch = [
            models.Prefetch(query=self._one(kind, q), using=kind, limit=prefetch_k, filter=qfilter)
            for kind, q in given.items()
        ]
        response = self.client.query_points(
            self.collection,
            prefetch=prefetch,
            # Qdrant scores position p (from 0) as 1 / (k + p); ranks here count from 1.
            query=models.RrfQuery(rrf=models.Rrf(k=rrf_k + 1)),
            query_filter=qfilter,
            limit=k,
            with_payload=True,
        )
        return self._hits(response.points, None)

    def _one(self, kind: str, query: Any) -> Any:
        """One ``kind`` query as the value qdrant-client sends."""
        column = self._vector_columns(None, **{kind: query})[kind]
        if len(column) != 1:
            msg = f"The {kind} query must be one item; got a batch of {len(column)}."
            raise ConfigError(msg)
        return column[0]

    # -- internals ---------------------------------------------------------------------------
    def check_kind(self, kind: str) -> str:
        """``kind`` when the collection has that vector, else a ``ConfigError``."""
        if kind not in self.layout.kinds():
            msg = (
                f"Collection {self.collection!r} has no {kind!r} vector; it holds "
                f"{', '.join(self.layout.kinds())}."
            )
            raise ConfigError(msg)
        return kind

    def _vector_columns(
        self, n: int | None, dense: Any = None, sparse: Any = None, multivector: Any = None
    ) -> dict[str, list[Any]]:
        """Per kind, one Qdrant vector per item (lists / ``SparseVector``); checks counts."""
        layout, columns = self.layout, dict[str, list[Any]]()
        if dense is not None:
            self.check_kind("dense")
            columns["dense"] = dense_rows(dense, layout.dense_dim)
        if sparse is not None:
            self.check_kind("sparse")
            columns["sparse"] = sparse_items(sparse, self._models)
        if multivector is not None:
            self.check_kind("multivector")
            columns["multivector"] = multivector_items(multivector, layout.multivector_dim)
        for kind, column in columns.items():
            if n is not None and len(column) != n:
                msg = f"add got {n} ids but {len(column)} {kind} embeddings; give one per id."
                raise ConfigError(msg)
        return columns

    def _hits(self, points: Sequence[Any], kind: str | None) -> list[Hit]:
        squared = kind == "dense" and self.layout.dense_metric == "l2"
        return [
            Hit(
                id=str((p.payload or {}).get(ID_KEY, p.id)),
                score=-(float(p.score) ** 2) if squared else float(p.score),
                metadata=metadata_from(p.payload),
            )
            for p in points
        ]


def _check_metadata(
    ids: list[str], metadata: Sequence[Mapping[str, Any] | None] | None
) -> list[Mapping[str, Any] | None]:
    if metadata is None:
        return [None] * len(ids)
    if len(metadata) != len(ids):
        msg = f"add got {len(ids)} ids but {len(metadata)} metadata entries."
        raise ConfigError(msg)
    for doc_id, meta in zip(ids, metadata, strict=True):
        if meta is not None and not isinstance(meta, Mapping):
            msg = f"Metadata of {doc_id!r} must be a dict or None; got {type(meta).__name__}."
            raise ConfigError(msg)
    return list(metadata)


def _check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        msg = f"k must be a positive integer; got {k!r}."
        raise ConfigError(msg)
