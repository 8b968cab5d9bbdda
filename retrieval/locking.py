"""A readers-writer lock: many concurrent searches, one writer at a time.

Indexes take the read side for searches and the write side for ``add``, ``delete`` and
``save``. Writers are preferred: once a writer waits, new readers queue behind it, so a steady
stream of searches cannot starve an ``add``. Not re-entrant.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import TracebackType


class _Side:
    """One side of the lock as a reusable context manager (no generator per ``with``: a
    search takes the lock once per call, so the few microseconds matter)."""

    def __init__(self, acquire: Callable[[], None], release: Callable[[], None]) -> None:
        self._acquire = acquire
        self._release = release

    def __enter__(self) -> None:
        self._acquire()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._release()


class ReadWriteLock:
    """Shared (read) / exclusive (write) lock with writer preference."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._cond = threading.Condition(self._mutex)
        self._readers = 0
        self._writer = False
        self._waiting_writers = 0
        self._read = _Side(self.acquire_read, self.release_read)
        self._write = _Side(self._acquire_write, self._release_write)

    def read(self) -> _Side:
        """``with lock.read():`` holds the lock shared for the block."""
        return self._read

    def write(self) -> _Side:
        """``with lock.write():`` holds the lock exclusively for the block."""
        return self._write

    def acquire_read(self) -> None:
        """Take the shared side; pair with ``release_read`` in a ``finally`` (hot paths use
        these directly: a ``with`` block costs two more Python calls per search)."""
        # Fast path on the bare mutex (a C-level lock): no writer around, nothing to wait for.
        with self._mutex:
            if not (self._writer or self._waiting_writers):
                self._readers += 1
                return
        with self._cond:
            while self._writer or self._waiting_writers:
                self._cond.wait()
            self._readers += 1

    def release_read(self) -> None:
        with self._mutex:
            self._readers -= 1
            # Only a writer waits for the readers to leave (waiting readers wait for writers,
            # and _release_write wakes them), so without one there is nobody to notify.
            if not self._readers and self._waiting_writers:
                self._cond.notify_all()

    def _acquire_write(self) -> None:
        with self._cond:
            self._waiting_writers += 1
            while self._writer or self._readers:
                self._cond.wait()
            self._waiting_writers -= 1
            self._writer = True

    def _release_write(self) -> None:
        with self._cond:
            self._writer = False
            self._cond.notify_all()
