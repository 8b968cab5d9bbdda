"""The collection's SQLite file (``collection.sqlite``): its chunks and its indexing state.

* ``chunks``: id -> text (NULL for a page image) and metadata (JSON): what search hits,
  rerankers and LangChain ``Document``s are made of. The vector indexes hold the same ids
  with the same metadata (filters run inside them), not the text.
* ``units``: source unit (a file, a JSONL record) -> content digest, committed chunk ids,
  chunk ids being written, text tokens: what makes ``retrieval index`` incremental.

Chunk writes are buffered and written in ONE transaction by ``commit`` - after the vector
indexes are saved, together with the units finished since - so a crash leaves the previous
commit. Indexing marks the units of a batch *pending* (``begin``, committed at once) before
their chunks are written anywhere; a run killed in between leaves them pending, and the
next run deletes both their old and pending chunk ids and indexes them again, so nothing is
lost or duplicated (adds are upserts by chunk id).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS chunks (
    id TEXT PRIMARY KEY,
    text TEXT,               -- NULL for a page image
    metadata TEXT NOT NULL   -- JSON object
);
CREATE TABLE IF NOT EXISTS units (
    key TEXT PRIMARY KEY,
    digest TEXT,             -- NULL until the unit's chunks are committed
    chunk_ids TEXT NOT NULL, -- JSON list of the committed chunk ids
    pending TEXT,            -- JSON list of chunk ids being written, NULL when done
    tokens INTEGER NOT NULL DEFAULT 0  -- text tokens of the committed chunks
);
"""
_CHUNK = 10_000  # SQL parameters per statement (SQLite allows 32766)
Chunk = tuple[str | None, dict[str, Any]]
"""A chunk's text (None for a page image) and metadata."""


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


class CollectionState:
    """Chunks and units in one SQLite file (``path=None``: in memory); thread-safe."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        # isolation_level=None: autocommit; writes use explicit BEGIN ... COMMIT.
        where = ":memory:" if path is None else str(path)
        self._db = sqlite3.connect(where, isolation_level=None, check_same_thread=False)
        if path is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._mutex = threading.RLock()
        self._pending: dict[str, tuple[str | None, str] | None] = {}
        """Chunk writes since the last commit: id -> (text, metadata JSON), None = deleted."""

    def close(self) -> None:
        with self._mutex:
            self._db.close()

    # -- chunks --------------------------------------------------------------------------
    def put_chunks(
        self,
        ids: Sequence[str],
        texts: Sequence[str | None],
        metadata: Sequence[Mapping[str, Any] | None],
    ) -> None:
        """Upsert chunks (written at the next ``commit``)."""
        rows = [
            (text, json.dumps(dict(meta or {}), separators=(",", ":")))
            for text, meta in zip(texts, metadata, strict=True)
        ]
        with self._mutex:
            self._pending.update(zip(ids, rows, strict=True))

    def drop_chunks(self, ids: Iterable[str]) -> None:
        """Delete chunks (at the next ``commit``); unknown ids are ignored."""
        with self._mutex:
            self._pending.update((i, None) for i in ids)

    def chunks(self, ids: Sequence[str]) -> dict[str, Chunk]:
        """``id -> (text, metadata)`` of the ids present, committed or not."""
        out: dict[str, Chunk] = {}
        with self._mutex:
            rest = []
            for chunk_id in ids:
                if chunk_id in self._pending:
                    row = self._pending[chunk_id]
                    if row is not None:
                        out[chunk_id] = (row[0], json.loads(row[1]))
                else:
                    rest.append(chunk_id)
            for start in range(0, len(rest), _CHUNK):
                part = rest[start : start + _CHUNK]
                marks = ", ".join("?" * len(part))
                sql = f"SELECT id, text, metadata FROM chunks WHERE id IN ({marks})"
                for chunk_id, text, meta in self._db.execute(sql, part):
                    out[chunk_id] = (text, json.loads(meta))
        return out

    def count_chunks(self) -> int:
        with self._mutex:
            count = int(self._db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])
            if self._pending:
                present = self._committed(list(self._pending))
                items = self._pending.items()
                count += sum(1 for i, row in items if row is not None and i not in present)
                count -= sum(1 for i, row in items if row is None and i in present)
            return count

    def ids(self) -> list[str]:
        """Every chunk id, committed or not (deleted ones left out)."""
        with self._mutex:
            committed = [i for i in self.chunk_ids() if i not in self._pending]
            return committed + [i for i, row in self._pending.items() if row is not None]

    def chunk_ids(self) -> Iterator[str]:
        """Every committed chunk id, in insertion order."""
        with self._mutex:
            rows = self._db.execute("SELECT id FROM chunks ORDER BY rowid").fetchall()
        return (r[0] for r in rows)

    def metadata_values(self, key: str) -> list[Any]:
        """The committed chunks' values of one metadata key (where they have it)."""
        with self._mutex:
            sql = "SELECT json_extract(metadata, ?) FROM chunks"
            rows = self._db.execute(sql, (f"$.{key}",)).fetchall()
        return [r[0] for r in rows if r[0] is not None]

    def texts(self) -> ChunkTexts:
        """A read-only ``Mapping``-like view ``id -> text`` (for rerankers)."""
        return ChunkTexts(self)

    def _committed(self, ids: list[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(ids), _CHUNK):
            part = ids[start : start + _CHUNK]
            marks = ", ".join("?" * len(part))
            sql = f"SELECT id FROM chunks WHERE id IN ({marks})"
            found.update(r[0] for r in self._db.execute(sql, part))
        return found

    # -- units (incremental indexing) ----------------------------------------------------
    def units(self) -> dict[str, UnitState]:
        with self._mutex:
            rows = self._db.execute("SELECT key, digest, chunk_ids, pending FROM units").fetchall()
        return {
            key: UnitState(digest, json.loads(ids), None if pend is None else json.loads(pend))
            for key, digest, ids, pend in rows
        }

    def begin(self, pending: Mapping[str, list[str]]) -> None:
        """Mark units as being (re)written with these new chunk ids (committed at once)."""
        with self._mutex, self._transaction():
            for key, ids in pending.items():
                self._db.execute(
                    "INSERT INTO units (key, digest, chunk_ids, pending) VALUES (?, NULL, '[]', ?)"
                    " ON CONFLICT(key) DO UPDATE SET pending = excluded.pending",
                    (key, json.dumps(ids)),
                )

    def commit(
        self,
        done: Mapping[str, tuple[str, list[str], int]] | None = None,
        forget: Iterable[str] = (),
    ) -> None:
        """Write the buffered chunks, mark ``done`` units (``key -> (digest, chunk ids, text
        tokens)``) committed and drop ``forget`` units, in one transaction. Call it after
        the vector indexes are saved."""
        with self._mutex, self._transaction():
            pending, self._pending = self._pending, {}
            try:
                gone = [(i,) for i, row in pending.items() if row is None]
                self._db.executemany("DELETE FROM chunks WHERE id = ?", gone)
                rows = [(i, *row) for i, row in pending.items() if row is not None]
                self._db.executemany(
                    "INSERT INTO chunks (id, text, metadata) VALUES (?, ?, ?) ON CONFLICT(id) "
                    "DO UPDATE SET text = excluded.text, metadata = excluded.metadata",
                    rows,
                )
                for key, (digest, ids, tokens) in (done or {}).items():
                    self._db.execute(
                        "UPDATE units SET digest = ?, chunk_ids = ?, pending = NULL, tokens = ? "
                        "WHERE key = ?",
                        (digest, json.dumps(ids), tokens, key),
                    )
                self._db.executemany("DELETE FROM units WHERE key = ?", [(k,) for k in forget])
            except BaseException:
                self._pending = {**pending, **self._pending}
                raise

    def copy_units(self, rows: Iterable[tuple[Any, ...]]) -> None:
        """Insert ``(key, digest, chunk_ids, pending, tokens)`` rows (a conversion)."""
        with self._mutex, self._transaction():
            self._db.executemany(
                "INSERT OR REPLACE INTO units (key, digest, chunk_ids, pending, tokens) "
                "VALUES (?, ?, ?, ?, ?)",
                rows,
            )

    def count_tokens(self) -> int:
        """Text tokens of every committed chunk (chunk overlaps counted twice)."""
        with self._mutex:
            row = self._db.execute("SELECT COALESCE(SUM(tokens), 0) FROM units").fetchone()
        return int(row[0])

    def count_done(self) -> int:
        with self._mutex:
            row = self._db.execute(
                "SELECT COUNT(*) FROM units WHERE digest IS NOT NULL AND pending IS NULL"
            ).fetchone()
        return int(row[0])

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class ChunkTexts:
    """``id -> text`` over a ``CollectionState`` (what rerankers read candidates' text from)."""

    def __init__(self, state: CollectionState) -> None:
        self._state = state

    def get(self, key: str, default: Any = None) -> Any:
        found = self._state.chunks([key]).get(key)
        return default if found is None or found[0] is None else found[0]

    def __getitem__(self, key: str) -> str:
        text = self.get(key)
        if text is None:
            raise KeyError(key)
        return str(text)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, value: object, traceback: object) -> None:
        self._db.execute("COMMIT" if kind is None else "ROLLBACK")
