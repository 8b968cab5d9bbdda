"""Child process body for the crash tests: add + save in a loop until killed.

Step ``s`` adds ids ``s{s}-0 .. s{s}-{BATCH-1}`` with metadata ``{"step": s}`` and re-adds
(upserts) ``s{s-1}-0`` with ``{"step": s}``, then saves and sends ``s`` through the pipe once
the save returned. With ``kill_at=N`` the process SIGKILLs itself at the N-th file rename of
the step-2 save, just before (``before=True``) or just after that rename.
"""

from __future__ import annotations

import os
import signal
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from retrieval import storage
from tests.indexes.cases import CASES, take

BATCH = 200


def _arm_kill(at: int, before: bool) -> None:
    """Swap the rename used by atomic writes for one that kills us at call ``at``."""
    real_replace = os.replace
    calls = 0

    def replace(src: Any, dst: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == at and before:
            os.kill(os.getpid(), signal.SIGKILL)
        real_replace(src, dst)
        if calls == at:
            os.kill(os.getpid(), signal.SIGKILL)

    storage.os.replace = replace  # type: ignore[assignment]


def run(
    case_name: str, path: str, conn: Connection, steps: int, kill_at: int, before: bool
) -> None:
    case = next(c for c in CASES if c.name == case_name)
    index = case.create(Path(path))
    for step in range(1, steps + 1):
        docs = case.docs(BATCH + 1, step)
        ids = [f"s{step}-{i}" for i in range(BATCH)]
        index.add(ids, take(docs, range(BATCH)), [{"step": step}] * BATCH)
        if step > 1:
            index.add([f"s{step - 1}-0"], take(docs, [BATCH]), [{"step": step}])
        if step == 2 and kill_at:
            _arm_kill(kill_at, before)
        index.save()
        conn.send(step)
