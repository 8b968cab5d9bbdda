"""The protocols the Retriever composes parts through: indexes, query encoders, rerankers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from retrieval.filters import Filter
from retrieval.types import Hit


@runtime_checkable
class Index(Protocol):
    """Stores embeddings under the caller's string ids and returns candidates for a query.

    Implementations also offer ``create(path=None, **config)`` and ``open(path)`` classmethods;
    ``path=None`` keeps the index in memory. Scores are "higher is better". Writes are
    single-writer / many-readers safe.
    """

    def add(
        self,
        ids: Sequence[str],
        embeddings: Any,
        metadata: Sequence[Mapping[str, Any] | None] | None = None,
    ) -> None:
        """Insert, or replace (upsert) items with these ids."""

    def delete(self, ids: Sequence[str]) -> None:
        """Remove items; unknown ids are ignored."""

    def search(self, query: Any, k: int = 10, filter: Filter | None = None) -> list[Hit]:
        """The best ``k`` items for one query among those matching ``filter``, best first."""

    def search_batch(
        self, queries: Any, k: int = 10, filter: Filter | None = None
    ) -> list[list[Hit]]:
        """``search`` for each query of a batch, sharing one filter."""

    def save(self) -> None:
        """Commit the current state to the index folder (atomic)."""

    def __len__(self) -> int:
        """Number of live items."""


@runtime_checkable
class QueryEncoder(Protocol):
    """Turns a batch of query texts into the representations first stages search with.

    One call may produce several representations from a single forward pass (BGE-M3's dense,
    lexical and ColBERT outputs; a bi-encoder's pooled vector and its token states), keyed by
    kind: ``"dense"`` ``(n, dim)`` array or tensor, ``"sparse"`` a ``SparseEmbeddings`` (or
    anything ``as_sparse`` reads), ``"multivector"`` a list of ``(q_tokens_i, dim)`` tensors.
    The Retriever calls each distinct encoder once per query batch, however many stages use it.
    """

    def encode_queries(self, queries: Sequence[str]) -> Mapping[str, Any]:
        """Representations of ``queries`` by kind, each a batch of ``len(queries)`` items."""


@runtime_checkable
class Reranker(Protocol):
    """Scores candidate hits against their query (cross-encoder, MaxSim, SPLADE, ...).

    A reranker only scores; the Retriever sorts, truncates and records the scores. It sees
    exactly the candidates it is given (already filtered), and reads anything it needs about a
    candidate (its text, stored embeddings) by ``hit.id`` or ``hit.metadata``.
    """

    def score(
        self, queries: Sequence[str], candidates: Sequence[Sequence[Hit]]
    ) -> Sequence[Sequence[float]]:
        """One score per candidate, higher is better: ``result[i][j]`` scores
        ``candidates[i][j]`` for ``queries[i]``."""
