"""The protocols the Retriever composes parts through (indexes for now)."""

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
