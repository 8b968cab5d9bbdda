"""Kill ``retrieval index`` with SIGKILL mid-run, resume, and get exactly the document set."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from adapters.cli import main
from adapters.collection.indexing.build import PAUSE_ENV
from tests.adapters.collection.helpers import write_corpus
from tests.adapters.test_cli_index import all_ids

ROOT = Path(__file__).resolve().parents[2]


def _committed_units(state: Path) -> int:
    if not state.exists():
        return 0
    try:
        db = sqlite3.connect(f"file:{state}?mode=ro", uri=True, timeout=1)
        try:
            row = db.execute(
                "SELECT COUNT(*) FROM units WHERE digest IS NOT NULL AND pending IS NULL"
            ).fetchone()
            return int(row[0])
        finally:
            db.close()
    except sqlite3.OperationalError:  # table not created yet
        return 0


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")
def test_sigkill_then_resume_gives_exact_set_without_duplicates(
    st_legacy_mean: Path, tmp_path: Path
) -> None:
    docs = {f"doc{i:02d}.txt": f"the cat number {i} is on the street" for i in range(12)}
    folder = write_corpus(tmp_path / "docs", docs)
    index = tmp_path / "index"
    command = [sys.executable, "-m", "adapters.cli", "index", str(folder), "--index", str(index)]
    command += ["--model", str(st_legacy_mean), "--batch-size", "2", "--quiet"]
    # Each batch holds 2 one-chunk files; a pause after every commit leaves time to kill the
    # run once the first batches are on disk but long before the last.
    env = {**os.environ, PAUSE_ENV: "0.5", "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    state = index / "collection.sqlite"
    deadline = time.monotonic() + 120
    try:
        while _committed_units(state) < 2:
            assert process.poll() is None, "the indexer exited before it could be killed"
            assert time.monotonic() < deadline, "no batch committed within 120 s"
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    done_before = _committed_units(state)
    assert 2 <= done_before < 12

    # Resume in this process (the same entry point; saves a second interpreter start).
    assert main(command[3:]) == 0
    expected = sorted(f"docs/{name}" for name in docs)
    ids = all_ids(index)
    assert ids == {"dense": expected, "lexical": expected, "tokens": expected}  # each id once
    assert _committed_units(state) == 12
