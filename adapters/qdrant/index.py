"""``QdrantIndex``: one representation of a ``QdrantStore`` behind the toolkit's Index protocol,
so Qdrant can serve as a first stage of ``retrieval.Retriever`` (or anywhere an index goes).

``QdrantIndex(store, "dense")`` adds / searches the ``dense`` named vector; ``"sparse"`` and
``"multivector"`` likewise. Several views over one store share its points: adding through
one view keeps the other representations of a document; deleting removes the document.
``QdrantHybridIndex`` searches all representations at once with Qdrant-side RRF fusion.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from adapters.qdrant.layout import VECTOR_KINDS
from adapters.qdrant.store import QdrantStore
from retrieval.errors import ConfigError
from retrieval.filters import Filter
from retrieval.types import Hit


class QdrantIndex:
    """The ``kind`` vectors of a Qdrant collection as a toolkit index."""

    def __init__(self, store: QdrantStore, kind: str = "dense") -> None:
        if kind not in VECTOR_KINDS:
            msg = f"Unknown vector kind {kind!r}. Valid: {', '.join(VECTOR_KINDS)}."
            raise ConfigError(msg)
        store.check_kind(kind)
        self.store = store
        self.kind = kind

    @classmethod
    def create(
        cls,
        path: str | None = None,
        *,
        kind: str = "dense",
        dim: int | None = None,
        metric: str = "cosine",
        collection: str = "retrieval",
        url: str | None = None,
        api_key: str | None = None,
    ) -> QdrantIndex:
        """A new collection holding only the ``kind`` vector (``path=None``: memory, unless
        ``url`` names a server). ``dim`` is required for dense and multi-vector."""
        if kind != "sparse" and dim is None:
            msg = f"QdrantIndex.create(kind={kind!r}) needs dim= (the vector width)."
            raise ConfigError(msg)
        layout: dict[str, Any] = {"sparse": True}
        if kind == "dense":
            layout = {"dense_dim": dim, "dense_metric": metric}
        elif kind == "multivector":
            layout = {"multivector_dim": dim, "multivector_metric": metric}
        store = QdrantStore.create(collection, url=url, path=path, api_key=api_key, **layout)
        return cls(store, kind)

    @classmethod
    def open(
        cls,
        path: str | None = None,
        *,
        kind: str = "dense",
        collection: str = "retrieval",
        url: str | None = None,
        api_key: str | None = None,
    ) -> QdrantIndex:
        """Open the ``kind`` view of an existing collection."""
        return cls(QdrantStore.open(collection, url=url, path=path, api_key=api_key), kind)

    @property
    def path(self) -> None:
        """Qdrant persists on its own; ``build_index`` has nothing to save."""
        return None

    def add(
        self,
        ids: Sequence[str],
        embeddings: Any,
        metadata: Sequence[Mapping[str, Any] | None] | None = None,
    ) -> None:
        """Upsert this representation of the documents (their other vectors are kept;
        ``metadata`` replaces theirs when given)."""
        self.store.update(self.kind, ids, embeddings, metadata)

    def delete(self, ids: Sequence[str]) -> None:
        """Remove the documents (all their representations); unknown ids are ignored."""
        self.store.delete(ids)

    def search(self, query: Any, k: int = 10, filter: Filter | None = None) -> list[Hit]:
        return self.store.search(self.kind, query, k, filter)

    def search_batch(
        self, queries: Any, k: int = 10, filter: Filter | None = None
    ) -> list[list[Hit]]:
        return self.store.search_batch(self.kind, queries, k, filter)

    def save(self) -> None:
        """Nothing to do: every write is acknowledged by Qdrant (``wait=True``)."""

    def __len__(self) -> int:
        """Documents that have this representation."""
        return self.store.count(self.kind)


class QdrantHybridIndex:
    """Read-only index over every representation of a store: a query is a dict
    ``{"dense": ..., "sparse": ..., "multivector": ...}`` (any subset), fused with RRF inside
    Qdrant (``QdrantStore.hybrid_search``)."""

    def __init__(self, store: QdrantStore, *, prefetch_k: int = 100, rrf_k: int = 60) -> None:
        """``prefetch_k`` candidates per representation (raised to ``k``); ``rrf_k`` as in
        ``retrieval.Fusion`` (``1 / (rrf_k + rank)``, ranks from 1)."""
        self.store = store
        self.prefetch_k = prefetch_k
        self.rrf_k = rrf_k

    def search(
        self, query: Mapping[str, Any], k: int = 10, filter: Filter | None = None
    ) -> list[Hit]:
        if not isinstance(query, Mapping):
            msg = (
                "A hybrid query is a dict like {'dense': vector, 'sparse': (indices, values)}; "
                f"got {type(query).__name__}."
            )
            raise ConfigError(msg)
        unknown = set(query) - set(VECTOR_KINDS)
        if unknown:
            msg = (
                f"Unknown hybrid query part(s) {sorted(unknown)}. Valid: {', '.join(VECTOR_KINDS)}."
            )
            raise ConfigError(msg)
        # Like a Retriever stage's depth, the prefetch depth is raised to the k asked for.
        depth = max(self.prefetch_k, k)
        return self.store.hybrid_search(
            **dict(query), k=k, prefetch_k=depth, filter=filter, rrf_k=self.rrf_k
        )

    def search_batch(
        self, queries: Sequence[Mapping[str, Any]], k: int = 10, filter: Filter | None = None
    ) -> list[list[Hit]]:
        """One hybrid request per query (Qdrant fuses per request)."""
        return [self.search(query, k, filter) for query in queries]

    def __len__(self) -> int:
        return len(self.store)


class HybridQueryEncoder:
    """Wraps a ``retrieval.QueryEncoder`` so one ``IndexStage`` can feed a
    ``QdrantHybridIndex``: ``encode_queries`` adds a ``"hybrid"`` output, one dict per query
    with the ``kinds`` it asks for::

        encoder = HybridQueryEncoder(my_encoder)
        Retriever(IndexStage("qdrant", encoder, QdrantHybridIndex(store), "hybrid"))
    """

    def __init__(self, encoder: Any, kinds: Sequence[str] = VECTOR_KINDS) -> None:
        unknown = set(kinds) - set(VECTOR_KINDS)
        if unknown or not kinds:
            msg = f"kinds must be a non-empty subset of {', '.join(VECTOR_KINDS)}; got {kinds!r}."
            raise ConfigError(msg)
        self.encoder = encoder
        self.kinds = tuple(kinds)

    def encode_queries(self, queries: Sequence[str]) -> dict[str, Any]:
        outputs = dict(self.encoder.encode_queries(queries))
        missing = [kind for kind in self.kinds if kind not in outputs]
        if missing:
            msg = (
                f"The wrapped encoder gives {sorted(outputs)}, not {missing}; pass "
                "kinds= with the representations it produces."
            )
            raise ConfigError(msg)
        columns = {kind: _rows(outputs[kind]) for kind in self.kinds}
        outputs["hybrid"] = [
            {kind: columns[kind][i] for kind in self.kinds} for i in range(len(queries))
        ]
        return outputs


def _rows(batch: Any) -> list[Any]:
    """A batch of query representations as one item per query."""
    if hasattr(batch, "indptr") or hasattr(batch, "offsets"):  # packed containers
        return [batch[i] for i in range(len(batch))]
    return list(batch)
