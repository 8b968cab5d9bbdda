"""Crash safety of PlaidIndex, as for the dense indexes (``tests/indexes/test_crash.py``): a
process SIGKILLed during add + save leaves the last committed state, with nothing lost or
duplicated, whether killed at a random moment or at each file rename of one commit."""

from __future__ import annotations

import multiprocessing
import random
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.indexes.test_crash import _drain
from tests.late_interaction import plaid_crash_child
from tests.late_interaction.plaid_cases import PLAID_CASE
from tests.late_interaction.plaid_crash_child import BATCH

pytest.importorskip("faiss")
pytestmark = pytest.mark.slow  # ~15 child processes
_CTX = multiprocessing.get_context("forkserver")
_CTX.set_forkserver_preload(["tests.late_interaction.plaid_crash_child"])
# metadata, centroids, cutoffs, weights, codes, residuals, full_int8, full_scale (the default
# int8 side store), doc_ptr, labels, live, ivf_ptr, ivf_docs, far_positions, far_vectors, then
# manifest.json
RENAMES = 16


def _child(path: Path, steps: int = 10_000, kill_at: int = 0, before: bool = False) -> Any:
    receiver, sender = _CTX.Pipe(duplex=False)
    process = _CTX.Process(
        target=plaid_crash_child.run,
        args=(str(path), sender, steps, kill_at, before),
        daemon=True,
    )
    process.start()
    sender.close()
    return process, receiver


def _check_state(path: Path, allowed_steps: set[int]) -> int:
    index = PLAID_CASE.open(path)
    step = len(index) // BATCH
    assert step in allowed_steps, (len(index), allowed_steps)
    assert len(index) == step * BATCH
    hits = index.search(PLAID_CASE.queries(1, 0)[0], k=len(index) + 5)
    ids = [h.id for h in hits]
    assert len(ids) == len(set(ids)) == len(index), "lost or duplicated items"
    assert set(ids) == {f"s{s}-{i}" for s in range(1, step + 1) for i in range(BATCH)}
    for hit in hits:
        s, i = (int(part) for part in hit.id[1:].split("-"))
        assert hit.metadata == {"step": s + 1 if i == 0 and s < step else s}
    return step


def test_sigkill_at_a_random_moment(tmp_path: Path) -> None:
    rng = random.Random("plaid")
    for attempt in range(3):
        process, conn = _child(tmp_path / f"idx{attempt}")
        seen = _drain(conn, until=2)
        time.sleep(rng.uniform(0.0, 0.3))
        process.kill()
        process.join(timeout=30)
        last = max(seen, _drain(conn))
        _check_state(tmp_path / f"idx{attempt}", {last, last + 1})


def test_sigkill_at_every_rename_of_a_commit(tmp_path: Path) -> None:
    for at in range(1, RENAMES + 1):
        path = tmp_path / f"before{at}"
        process, conn = _child(path, steps=2, kill_at=at, before=True)
        process.join(timeout=60)
        assert process.exitcode == -signal.SIGKILL, f"rename {at} never happened"
        assert _drain(conn) == 1
        assert _check_state(path, {1}) == 1
    process, _ = _child(tmp_path / "last", steps=2, kill_at=RENAMES + 1, before=True)
    process.join(timeout=60)
    assert process.exitcode == 0, f"a commit made more than {RENAMES} renames"
    process, _ = _child(tmp_path / "after", steps=2, kill_at=RENAMES)
    process.join(timeout=60)
    assert process.exitcode == -signal.SIGKILL
    assert _check_state(tmp_path / "after", {2}) == 2
