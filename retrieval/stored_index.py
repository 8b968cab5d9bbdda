"""The shared skeleton of every index: ids, metadata, filters, locking and commits.

A concrete index supplies how to validate its inputs, store vectors under int64 labels, remove
labels, rank a query batch and write its files (the abstract methods below); this class does
the rest, so every index gets the same upsert / delete / filter / persistence semantics.

Concurrency model: single writer, many readers. ``add``, ``delete`` and ``save`` hold the
write side of a readers-writer lock; ``search`` and ``search_batch`` hold the read side, so
searches run in parallel with each other and never observe a half-applied write.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np

from retrieval.errors import ConfigError
from retrieval.filters import Filter, compile_filter
from retrieval.locking import ReadWriteLock
from retrieval.metadata import LabelSet, MetadataStore
from retrieval.storage import IndexFolder, Manifest, Writer, read_npy
from retrieval.types import Hit

T = TypeVar("T", bound="StoredIndex")
_INTEGERS = (int, np.integer)
Components = dict[str, tuple[str, Writer]]
"""Files an index writes on commit: ``name -> (file suffix, writer)``."""


class StoredIndex(ABC):
    """Base of the indexes: public protocol methods over a few index-specific hooks."""

    KIND: ClassVar[str]
    """Manifest ``kind`` of this index class."""

    def __init__(self, manifest: Manifest, store: MetadataStore, folder: IndexFolder | None):
        """Internal: use the ``create`` / ``open`` classmethods of the concrete index."""
        self._manifest = manifest
        self._store = store
        self._folder = folder
        self._lock = ReadWriteLock()

    # -- hooks -------------------------------------------------------------------------
    @abstractmethod
    def _prepare_add(self, embeddings: Any) -> Any:
        """Validate and convert ``add`` input into a batch with ``len()`` (no state change)."""

    @abstractmethod
    def _prepare_queries(self, queries: Any) -> Any:
        """Validate and convert queries into a batch with ``len()``."""

    @abstractmethod
    def _insert(self, labels: np.ndarray, batch: Any) -> None:
        """Store ``batch`` under ``(n,)`` int64 ``labels`` (fresh, increasing)."""

    @abstractmethod
    def _remove(self, labels: np.ndarray) -> None:
        """Forget the vectors of ``(m,)`` int64 ``labels``."""

    @abstractmethod
    def _search(
        self, batch: Any, k: int, allowed: LabelSet | None, options: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        """Rank among live items (only ``allowed`` ones when given): returns
        ``(labels, scores)``, both ``(n_queries, k)``, best first, label -1 for no result.
        ``options`` carries index-specific search knobs (``None`` for defaults)."""

    def _score_labels(self, batch: Any, labels: list[np.ndarray]) -> list[np.ndarray]:
        """Exact scores of ``labels[i]`` (live labels) for query ``i``: ``(len(labels[i]),)``
        float arrays. Indexes that can score stored items by id override this."""
        msg = (
            f"{type(self).__name__} cannot score given ids (score_ids); rescore candidates "
            "with an index that keeps its vectors, e.g. MaxSimIndex or PlaidIndex."
        )
        raise ConfigError(msg)

    @abstractmethod
    def _components(self) -> Components:
        """The files to write on commit."""

    def _state(self) -> dict[str, Any]:
        """Index-specific JSON state recorded in the manifest."""
        return {}

    # -- construction helpers for subclasses --------------------------------------------
    @classmethod
    def _new_parts(
        cls, path: str | os.PathLike[str] | None, manifest: Manifest
    ) -> tuple[Manifest, MetadataStore, IndexFolder | None]:
        folder = None if path is None else IndexFolder.create(path, f"{cls.__name__}.open")
        return manifest, MetadataStore.memory(), folder

    @classmethod
    def _open_parts(
        cls, path: str | os.PathLike[str], *, verify: bool
    ) -> tuple[Manifest, MetadataStore, IndexFolder]:
        folder = IndexFolder(path)
        manifest = folder.read_manifest(cls.KIND, f"{cls.__name__}.create", verify=verify)
        store = MetadataStore.load(folder.file(manifest, "metadata"))
        return manifest, store, folder

    @staticmethod
    def _read_arrays(
        folder: IndexFolder, manifest: Manifest, names: Sequence[str]
    ) -> dict[str, np.ndarray]:
        return {name: read_npy(folder.file(manifest, name)) for name in names}

    def _first_commit(self: T) -> T:
        """Commit a new on-disk index at once, so ``open`` works before the first ``save``."""
        if self._folder is not None:
            self.save()
        return self

    # -- public protocol ---------------------------------------------------------------
    @property
    def path(self) -> Path | None:
        """The index folder, or ``None`` for an in-memory index."""
        return None if self._folder is None else self._folder.path

    def add(
        self,
        ids: Sequence[str],
        embeddings: Any,
        metadata: Sequence[Mapping[str, Any] | None] | None = None,
    ) -> None:
        """Insert items, replacing any with the same id (upsert). ``metadata`` is one dict
        (or ``None``) per id. Nothing changes when any input is invalid."""
        ids = check_ids(ids, unique=True)
        batch = self._prepare_add(embeddings)
        if len(batch) != len(ids):
            msg = f"add got {len(ids)} ids but {len(batch)} embeddings; give one id per row."
            raise ConfigError(msg)
        if metadata is not None and len(metadata) != len(ids):
            msg = f"add got {len(ids)} ids but {len(metadata)} metadata entries."
            raise ConfigError(msg)
        with self._lock.write():
            change = self._store.upsert(ids, metadata)
            if len(change.replaced):
                self._remove(change.replaced)
            self._insert(change.labels, batch)

    def delete(self, ids: Sequence[str]) -> None:
        """Remove items by id; unknown ids are ignored."""
        ids = check_ids(ids, unique=False)
        with self._lock.write():
            removed = self._store.delete(ids)
            if len(removed):
                self._remove(removed)

    def search(self, query: Any, k: int = 10, filter: Filter | None = None) -> list[Hit]:
        """The best ``k`` items for one query among those matching ``filter``, best first."""
        return self._search_one(query, k, filter, None)

    def search_batch(
        self, queries: Any, k: int = 10, filter: Filter | None = None
    ) -> list[list[Hit]]:
        """``search`` for every query of a batch, one shared ``filter``."""
        return self._run_search(self._prepare_queries(queries), k, filter)

    def score_ids(self, queries: Any, ids: Sequence[Sequence[str]]) -> list[np.ndarray]:
        """The index's exact score of the stored items ``ids[i]`` for query ``i`` of a batch
        (used to rescore another stage's candidates without re-encoding them): one float
        array per query, in the order of its ids. An id not in the index is an error."""
        batch = self._prepare_queries(queries)
        if isinstance(ids, str) or len(ids) != len(batch):
            msg = f"score_ids got {len(batch)} queries but {len(ids)} id lists; give one each."
            raise ConfigError(msg)
        with self._lock.read():
            labels = []
            for wanted in ids:
                found = self._store.labels_in_order(list(wanted))
                if (found < 0).any():
                    missing = list(wanted)[int(np.flatnonzero(found < 0)[0])]
                    msg = (
                        f"{type(self).__name__} holds no item {missing!r}; every stage of "
                        "a retriever must index the same ids."
                    )
                    raise ConfigError(msg)
                labels.append(found)
            if not any(len(each) for each in labels):
                return [np.zeros(0, np.float32) for _ in labels]
            return self._score_labels(batch, labels)

    def save(self) -> None:
        """Commit the current state to the folder: all of it or, after a crash, none."""
        if self._folder is None:
            msg = (
                f"This {type(self).__name__} lives in memory (created with path=None) and "
                f"cannot be saved; create it with {type(self).__name__}.create(path, ...)."
            )
            raise ConfigError(msg)
        with self._lock.write():
            self._commit(self._folder)

    def __len__(self) -> int:
        return len(self._store)

    # -- internals -----------------------------------------------------------------------
    def _commit(self, folder: IndexFolder) -> None:
        current = replace(self._manifest, count=len(self._store), state=self._state())
        components: Components = {"metadata": ("sqlite", self._store.save)}
        components.update(self._components())
        self._manifest = folder.commit(current, components)

    def _search_one(self, query: Any, k: int, filter: Filter | None, options: Any) -> list[Hit]:
        batch = self._prepare_queries(query)
        if len(batch) != 1:
            msg = f"search takes one query; got {len(batch)}. Use search_batch for several."
            raise ConfigError(msg)
        return self._run_search(batch, k, filter, options)[0]

    def _run_search(
        self, batch: Any, k: int, filter: Filter | None, options: Any = None
    ) -> list[list[Hit]]:
        if isinstance(k, bool) or not isinstance(k, _INTEGERS) or k < 1:
            msg = f"k must be a positive integer; got {k!r}."
            raise ConfigError(msg)
        compiled = None if filter is None else compile_filter(filter)
        lock = self._lock
        lock.acquire_read()
        try:
            allowed = None if compiled is None else self._store.matching(compiled)
            empty = allowed is not None and len(allowed) == 0
            if empty or not len(batch) or not len(self._store):
                return [[] for _ in range(len(batch))]
            labels, scores = self._search(batch, int(k), allowed, options)
            return self._store.hits(labels, scores)
        finally:
            lock.release_read()


def check_ids(ids: Sequence[str], *, unique: bool) -> list[str]:
    """Validate a list of non-empty string ids (and, for ``add``, that none repeats)."""
    if isinstance(ids, str | bytes):
        msg = f"ids must be a list of strings; got the single string {ids!r}. Wrap it: [{ids!r}]."
        raise ConfigError(msg)
    out = list(ids)
    for value in out:
        if not isinstance(value, str) or not value:
            msg = f"Every id must be a non-empty string; got {value!r}. Convert ids with str()."
            raise ConfigError(msg)
    if unique and len(set(out)) != len(out):
        duplicate = next(v for v, n in Counter(out).items() if n > 1)
        msg = f"Id {duplicate!r} appears twice in one add call; give each item once."
        raise ConfigError(msg)
    return out
