"""Qdrant as the toolkit's scale-out store: dense, sparse and multi-vector embeddings as named
vectors of one collection, payload = metadata, hybrid RRF queries, the toolkit's filters.

``pip install "retrieval-toolkit[qdrant]"``; ``qdrant_client`` is imported when a store is
made. ``QdrantStore.create(url="http://qdrant:6333", ...)`` talks to a server or cluster;
``path=`` or nothing runs qdrant-client's in-process local mode with the same API.
"""

from __future__ import annotations

from adapters.qdrant.filters import ID_KEY, NONSCALAR_KEY, to_qdrant_filter
from adapters.qdrant.index import HybridQueryEncoder, QdrantHybridIndex, QdrantIndex
from adapters.qdrant.layout import VECTOR_KINDS, Layout, VectorKind, connect
from adapters.qdrant.store import ID_NAMESPACE, QdrantStore, point_id

__all__ = [
    "ID_KEY",
    "ID_NAMESPACE",
    "NONSCALAR_KEY",
    "VECTOR_KINDS",
    "HybridQueryEncoder",
    "Layout",
    "QdrantHybridIndex",
    "QdrantIndex",
    "QdrantStore",
    "VectorKind",
    "connect",
    "point_id",
    "to_qdrant_filter",
]
