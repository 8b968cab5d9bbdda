"""Crash safety: a process SIGKILLed during add + save leaves the last committed state.

A child process (``crash_child.run``) adds and saves in a loop; we kill it at random moments
and at every file rename of one commit, then check the folder opens at a committed step with
nothing lost or duplicated. Children come from a forkserver that imported the index code
once, so each costs a fork rather than a fresh interpreter.
"""

from __future__ import annotations

import multiprocessing
import random
import signal
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import pytest

from tests.indexes import crash_child
from tests.indexes.cases import CASES
from tests.indexes.crash_child import BATCH

_CTX = multiprocessing.get_context("forkserver")
_CTX.set_forkserver_preload(["tests.indexes.crash_child"])


def _child(
    case: str, path: Path, steps: int = 10_000, kill_at: int = 0, before: bool = False
) -> tuple[Any, Connection]:
    receiver, sender = _CTX.Pipe(duplex=False)
    process = _CTX.Process(
        target=crash_child.run, args=(case, str(path), sender, steps, kill_at, before), daemon=True
    )
    process.start()
    sender.close()
    return process, receiver


def _drain(conn: Connection, until: int | None = None, timeout: float = 60) -> int:
    """Read committed steps; stop at ``until`` or when the child is gone. Returns the last."""
    last = 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and (until is None or last < until):
        if conn.poll(0.05):
            try:
                last = conn.recv()
            except EOFError:
                break
    return last


def _check_state(case_name: str, path: Path, allowed_steps: set[int]) -> int:
    """Open the folder and check it holds exactly the state after one of ``allowed_steps``."""
    case = next(c for c in CASES if c.name == case_name)
    index = case.open(path)
    step = len(index) // BATCH
    assert step in allowed_steps, (len(index), allowed_steps)
    assert len(index) == step * BATCH
    hits = index.search(case.queries(1, 0)[0], k=max(1, len(index)) + 5)
    ids = [h.id for h in hits]
    assert len(ids) == len(set(ids)) == len(index), "lost or duplicated items"
    expected = {f"s{s}-{i}" for s in range(1, step + 1) for i in range(BATCH)}
    assert set(ids) == expected
    for hit in hits:
        s, i = (int(part) for part in hit.id[1:].split("-"))
        upserted = i == 0 and s < step
        assert hit.metadata == {"step": s + 1 if upserted else s}
    return step


@pytest.mark.parametrize("case_name", ["faiss-hnsw", "faiss-ivf", "sparse", "exact"])
def test_sigkill_at_a_random_moment(case_name: str, tmp_path: Path) -> None:
    rng = random.Random(case_name)
    for attempt in range(3):
        process, conn = _child(case_name, tmp_path / f"idx{attempt}")
        seen = _drain(conn, until=2)  # let a few commits happen first
        time.sleep(rng.uniform(0.0, 0.3))
        process.kill()
        process.join(timeout=30)
        last = max(seen, _drain(conn))
        # the kill may land after a commit's manifest rename but before it was reported
        _check_state(case_name, tmp_path / f"idx{attempt}", {last, last + 1})


def test_sigkill_at_every_rename_of_a_commit(tmp_path: Path) -> None:
    """Kill just before each rename of the step-2 commit (components, then the manifest):
    the folder must open at step 1. Killed just after the manifest rename: at step 2."""
    renames = 0
    for at in range(1, 10):
        path = tmp_path / f"before{at}"
        process, conn = _child("faiss-hnsw", path, steps=2, kill_at=at, before=True)
        process.join(timeout=60)
        last = _drain(conn)
        if process.exitcode == 0:  # the commit made fewer than `at` renames
            break
        renames = at
        assert process.exitcode == -signal.SIGKILL
        assert last == 1
        assert _check_state("faiss-hnsw", path, {1}) == 1
    assert renames == 4, "expected metadata, vectors, tombstones, then manifest.json"
    process, _ = _child("faiss-hnsw", tmp_path / "after", steps=2, kill_at=renames)
    process.join(timeout=60)
    assert process.exitcode == -signal.SIGKILL
    assert _check_state("faiss-hnsw", tmp_path / "after", {2}) == 2
