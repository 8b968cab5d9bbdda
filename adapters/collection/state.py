"""The indexing state: which source units are in the index, at which content digest, under
which chunk ids. One SQLite file (``state.sqlite``) in the index folder.

Every batch runs as: ``begin`` (record the chunk ids about to be written as *pending*, commit)
-> write and save the vector indexes -> ``finish`` (record digest and ids, clear pending,
commit). A run killed anywhere in between leaves the unit unfinished: the next run deletes
both its old and its pending chunk ids and indexes it again, so nothing is lost or duplicated
(adds are upserts by chunk id).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS units (
    key TEXT PRIMARY KEY,
    digest TEXT,             -- NULL until the unit's chunks are committed
    chunk_ids TEXT NOT NULL, -- JSON list of the committed chunk ids
    pending TEXT,            -- JSON list of chunk ids being written, NULL when done
    tokens INTEGER NOT NULL DEFAULT 0  -- text tokens of the committed chunks
);
"""


@dataclass(frozen=True)
class UnitState:
    digest: str | None
    chunk_ids: list[str]
    pending: list[str] | None

    @property
    def done(self) -> bool:
        return self.digest is not None and self.pending is None

    def all_ids(self) -> list[str]:
        """Every chunk id this unit may have in the indexes (committed or half-written)."""
        return list(dict.fromkeys(self.chunk_ids + (self.pending or [])))


class IndexState:
    """Units and their chunk ids; every method commits before it returns."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # isolation_level=None: autocommit; batches use explicit BEGIN ... COMMIT.
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def units(self) -> dict[str, UnitState]:
        rows = self._db.execute("SELECT key, digest, chunk_ids, pending FROM units")
        return {
            key: UnitState(
                digest, json.loads(ids), None if pending is None else json.loads(pending)
            )
            for key, digest, ids, pending in rows
        }

    def begin(self, pending: Mapping[str, list[str]]) -> None:
        """Mark units as being (re)written with these new chunk ids."""
        with self._transaction():
            for key, ids in pending.items():
                self._db.execute(
                    "INSERT INTO units (key, digest, chunk_ids, pending) VALUES (?, NULL, '[]', ?)"
                    " ON CONFLICT(key) DO UPDATE SET pending = excluded.pending",
                    (key, json.dumps(ids)),
                )

    def finish(self, done: Mapping[str, tuple[str, list[str], int]]) -> None:
        """Units whose chunks are now saved in the indexes:
        ``key -> (digest, chunk_ids, text tokens)``."""
        with self._transaction():
            for key, (digest, ids, tokens) in done.items():
                self._db.execute(
                    "UPDATE units SET digest = ?, chunk_ids = ?, pending = NULL, tokens = ? "
                    "WHERE key = ?",
                    (digest, json.dumps(ids), tokens, key),
                )

    def forget(self, keys: Iterable[str]) -> None:
        """Drop units removed from the sources (after their chunks left the indexes)."""
        with self._transaction():
            self._db.executemany("DELETE FROM units WHERE key = ?", [(k,) for k in keys])

    def count_tokens(self) -> int:
        """Text tokens of every committed chunk (chunk overlaps counted twice)."""
        row = self._db.execute("SELECT COALESCE(SUM(tokens), 0) FROM units").fetchone()
        return int(row[0])

    def count_done(self) -> int:
        row = self._db.execute(
            "SELECT COUNT(*) FROM units WHERE digest IS NOT NULL AND pending IS NULL"
        ).fetchone()
        return int(row[0])

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, value: object, traceback: object) -> None:
        self._db.execute("COMMIT" if kind is None else "ROLLBACK")
