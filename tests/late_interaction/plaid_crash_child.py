"""Child process body for the PlaidIndex crash tests (the dense indexes' protocol, see
``tests/indexes/crash_child.py``): add + save in a loop until killed.

Step ``s`` adds ids ``s{s}-0 .. s{s}-{BATCH-1}`` with metadata ``{"step": s}`` and re-adds
(upserts) ``s{s-1}-0`` with ``{"step": s}``, then saves and sends ``s`` through the pipe. With
``kill_at=N`` the process SIGKILLs itself at the N-th file rename of the step-2 save, just
before (``before=True``) or just after it.
"""

from __future__ import annotations

from multiprocessing.connection import Connection
from pathlib import Path

import faiss

from tests.indexes.crash_child import _arm_kill
from tests.late_interaction.plaid_cases import PLAID_CASE

BATCH = 200


def run(path: str, conn: Connection, steps: int, kill_at: int, before: bool) -> None:
    faiss.omp_set_num_threads(1)
    index = PLAID_CASE.create(Path(path))
    for step in range(1, steps + 1):
        docs = PLAID_CASE.docs(BATCH + 1, step)
        ids = [f"s{step}-{i}" for i in range(BATCH)]
        index.add(ids, docs[:BATCH], [{"step": step}] * BATCH)
        if step > 1:
            index.add([f"s{step - 1}-0"], [docs[BATCH]], [{"step": step}])
        if step == 2 and kill_at:
            _arm_kill(kill_at, before)
        index.save()
        conn.send(step)
