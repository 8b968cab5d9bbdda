"""The id map and metadata store every index shares: SQLite (stdlib), kept in memory.

Each item has the caller's string id, an int64 *label* (what the vector structure stores) and a
JSON metadata dict. Labels are handed out in increasing order and never reused, so a label
that an index still holds for a deleted or replaced item (e.g. an HNSW tombstone) can never
come back to life under another id.

The database lives in memory while the index is open and is copied to a file with SQLite's
backup API when the index commits (``retrieval.storage``), so a crash can never leave it half
written. One connection is shared by all threads and serialised by a mutex.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from retrieval.errors import ConfigError, IndexCorruptError
from retrieval.filters import CompiledFilter
from retrieval.types import Hit, new_hits

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    label INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    metadata TEXT
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
_CHUNK = 10_000  # bound the number of SQL parameters per statement (SQLite limit 32766)
_CACHE_SIZE = 32
T = TypeVar("T")


@dataclass(frozen=True)
class Upsert:
    """What ``MetadataStore.upsert`` changed, for the index to mirror in its vectors."""

    labels: np.ndarray
    """``(n,)`` int64 fresh labels, in the order of the ids given."""
    replaced: np.ndarray
    """``(m,)`` int64 labels of items that the ids replaced (remove their vectors)."""


@dataclass(frozen=True)
class LabelSet:
    """The live items matching one filter, valid until the next write to the store."""

    labels: np.ndarray
    """``(m,)`` int64 sorted labels (read-only)."""
    derived: dict[str, Any] = field(default_factory=dict)
    """Structures an index builds from ``labels`` (a faiss selector, a row mask), cached with
    the set so repeated searches with one filter build them once."""

    def __len__(self) -> int:
        return len(self.labels)

    def derive(self, name: str, build: Callable[[np.ndarray], T]) -> T:
        """``build(labels)``, computed once per set (a racing duplicate build is harmless)."""
        if name not in self.derived:
            self.derived[name] = build(self.labels)
        value: T = self.derived[name]
        return value


class MetadataStore:
    """String ids, int64 labels and JSON metadata in one SQLite table."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        """Wrap an open connection; use ``MetadataStore.memory()`` or ``.load(path)``."""
        self._db = connection
        self._db.executescript(_SCHEMA)
        self._mutex = threading.Lock()
        self._version = 0
        self._cache: OrderedDict[str, LabelSet] = OrderedDict()
        row = self._db.execute("SELECT value FROM counters WHERE name = 'next_label'").fetchone()
        self._next_label = int(row[0]) if row else 0
        self._count = int(self._db.execute("SELECT COUNT(*) FROM items").fetchone()[0])
        # label -> id in memory (None for deleted labels): resolving hits is then a list
        # lookup, and SQLite is only asked for metadata when some item has any.
        self._ids: list[str | None] = [None] * self._next_label
        for label, ext_id in self._db.execute("SELECT label, id FROM items"):
            self._ids[label] = ext_id
        query = "SELECT EXISTS(SELECT 1 FROM items WHERE metadata IS NOT NULL)"
        self._any_metadata = bool(self._db.execute(query).fetchone()[0])

    @classmethod
    def memory(cls) -> MetadataStore:
        """An empty store in memory."""
        return cls(sqlite3.connect(":memory:", check_same_thread=False))

    @classmethod
    def load(cls, path: Path) -> MetadataStore:
        """Copy a committed database file into memory."""
        target = sqlite3.connect(":memory:", check_same_thread=False)
        try:
            source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                source.backup(target)
            finally:
                source.close()
            return cls(target)
        except sqlite3.DatabaseError as err:
            msg = f"The metadata database {path} is unreadable ({err}). Restore the index folder."
            raise IndexCorruptError(msg) from err

    def save(self, path: Path) -> None:
        """Write the whole database to ``path`` (a fresh file; the caller renames it)."""
        with self._mutex:
            self._db.execute(
                "INSERT OR REPLACE INTO counters VALUES ('next_label', ?)", (self._next_label,)
            )
            self._db.commit()
            target = sqlite3.connect(path)
            try:
                self._db.backup(target)
            finally:
                target.close()

    def __len__(self) -> int:
        return self._count

    @property
    def version(self) -> int:
        """Bumped by every write; results derived from the store are valid for one version."""
        return self._version

    @property
    def next_label(self) -> int:
        """One past the largest label ever handed out."""
        return self._next_label

    def upsert(
        self, ids: Sequence[str], metadata: Sequence[Mapping[str, Any] | None] | None
    ) -> Upsert:
        """Insert or replace items; every id gets a fresh label (see the module docstring)."""
        texts = [_dump(m) for m in metadata] if metadata is not None else [None] * len(ids)
        start = self._next_label
        labels = np.arange(start, start + len(ids), dtype=np.int64)
        with self._mutex:
            try:
                replaced = self._take(ids, delete=True)
                rows = zip(labels.tolist(), ids, texts, strict=True)
                self._db.executemany("INSERT INTO items VALUES (?, ?, ?)", rows)
            except sqlite3.Error:
                self._db.rollback()  # leave the store exactly as it was
                raise
            self._db.commit()
            self._next_label = start + len(ids)
            self._count += len(ids) - len(replaced)
            self._forget(replaced)
            self._ids.extend(ids)
            self._any_metadata = self._any_metadata or any(t is not None for t in texts)
            self._changed()
        return Upsert(labels=labels, replaced=replaced)

    def delete(self, ids: Sequence[str]) -> np.ndarray:
        """Remove items; unknown ids are ignored. Returns the ``(m,)`` labels removed."""
        with self._mutex:
            removed = self._take(ids, delete=True)
            self._db.commit()
            self._count -= len(removed)
            self._forget(removed)
            self._changed()
        return removed

    def labels_of(self, ids: Sequence[str]) -> np.ndarray:
        """Labels of the ids present, in no particular order."""
        with self._mutex:
            return self._take(ids, delete=False)

    def labels_in_order(self, ids: Sequence[str]) -> np.ndarray:
        """``(n,)`` int64 label of each id, in the order given; -1 for an unknown id."""
        found: dict[str, int] = {}
        with self._mutex:
            for start in range(0, len(ids), _CHUNK):
                chunk = list(ids[start : start + _CHUNK])
                marks = ", ".join("?" * len(chunk))
                sql = f"SELECT id, label FROM items WHERE id IN ({marks})"
                found.update(self._db.execute(sql, chunk).fetchall())
        return np.array([found.get(i, -1) for i in ids], dtype=np.int64)

    def all_labels(self) -> np.ndarray:
        """``(n,)`` int64 sorted labels of every live item."""
        with self._mutex:
            rows = self._db.execute("SELECT label FROM items ORDER BY label").fetchall()
        return np.array([r[0] for r in rows], dtype=np.int64)

    def matching(self, compiled: CompiledFilter) -> LabelSet:
        """Live items that pass the filter (cached until the next write)."""
        with self._mutex:
            hit = self._cache.get(compiled.key)
            if hit is not None:
                self._cache.move_to_end(compiled.key)
                return hit
            sql = f"SELECT label FROM items WHERE {compiled.sql} ORDER BY label"
            rows = self._db.execute(sql, compiled.params).fetchall()
            labels = np.array([r[0] for r in rows], dtype=np.int64)
            labels.setflags(write=False)
            result = self._cache[compiled.key] = LabelSet(labels)
            if len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
            return result

    def hits(self, labels: np.ndarray, scores: np.ndarray) -> list[list[Hit]]:
        """Turn ``(n_queries, k)`` labels / scores (label -1 = no result) into ``Hit`` lists."""
        label_rows, score_rows = labels.tolist(), scores.tolist()
        rows: list[tuple[list[str], list[float], list[int]]] = []
        with self._mutex:
            ids, n_ids = self._ids, len(self._ids)
            # -1 padding (and, defensively, labels deleted since) are skipped. Plain loops: a
            # single search runs this cold, where every extra Python frame shows.
            for row_labels, row_scores in zip(label_rows, score_rows, strict=True):
                ext_ids, kept_scores, kept = [], [], []
                for label, score in zip(row_labels, row_scores, strict=True):
                    if 0 <= label < n_ids and ids[label] is not None:
                        ext_ids.append(ids[label])
                        kept_scores.append(score)
                        kept.append(label)
                rows.append((ext_ids, kept_scores, kept))
            if not self._any_metadata:
                return [new_hits(ext_ids, kept_scores) for ext_ids, kept_scores, _ in rows]
            metadata = self._metadata_of([label for *_, kept in rows for label in kept])
        out, start = [], 0
        for ext_ids, kept_scores, kept in rows:
            out.append(new_hits(ext_ids, kept_scores, metadata[start : start + len(kept)]))
            start += len(kept)
        return out

    def _metadata_of(self, labels: list[int]) -> list[dict[str, Any]]:
        """A fresh metadata dict for each of ``labels``: one SQL query per 10,000 distinct
        labels and one ``json.loads`` for them all (decoding item by item costs a microsecond
        or two of call overhead per hit)."""
        wanted = sorted(set(labels))
        texts: dict[int, str | None] = {}
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            marks = ", ".join("?" * len(chunk))
            sql = f"SELECT label, metadata FROM items WHERE label IN ({marks})"
            texts.update(self._db.execute(sql, chunk))
        decoded: list[dict[str, Any]] = json.loads(
            "[" + ",".join(texts.get(label) or "{}" for label in labels) + "]"
        )
        return decoded

    def _forget(self, labels: np.ndarray) -> None:
        for label in labels.tolist():
            self._ids[label] = None

    def _take(self, ids: Sequence[str], *, delete: bool) -> np.ndarray:
        """Labels of ``ids`` present in the table, optionally deleting those rows."""
        found: list[int] = []
        for start in range(0, len(ids), _CHUNK):
            chunk = list(ids[start : start + _CHUNK])
            marks = ", ".join("?" * len(chunk))
            where = f"WHERE id IN ({marks})"
            found += [r[0] for r in self._db.execute(f"SELECT label FROM items {where}", chunk)]
            if delete:
                self._db.execute(f"DELETE FROM items {where}", chunk)
        return np.array(sorted(found), dtype=np.int64)

    def _changed(self) -> None:
        self._version += 1
        self._cache.clear()


def _dump(metadata: Mapping[str, Any] | None) -> str | None:
    if metadata is None:
        return None
    if not isinstance(metadata, Mapping):
        msg = f"Each metadata entry must be a dict (or None); got {type(metadata).__name__}."
        raise ConfigError(msg)
    if not metadata:
        return None
    try:
        return json.dumps(dict(metadata), allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as err:
        msg = (
            f"Metadata {metadata!r} is not JSON data ({err}). Use strings, finite numbers, "
            "booleans, lists and dicts."
        )
        raise ConfigError(msg) from err
