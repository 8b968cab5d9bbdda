"""Run a snippet in a fresh interpreter and report which heavy modules it loaded.

``import retrieval`` in this test process is long done (and torch with it), so the only honest
check of what an import costs is a new process with this checkout first on the path.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "faiss", "scipy", "transformers")


def heavy_modules_after(
    code: str, *, timeout: float = 120, modules: tuple[str, ...] = HEAVY
) -> list[str]:
    """Which of ``modules`` (default ``HEAVY``) are in ``sys.modules`` after running ``code``
    afresh."""
    probe = (
        f"{code}\nimport json, sys\n"
        f"print(json.dumps(sorted(m for m in {modules!r} if m in sys.modules)))"
    )
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", probe],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    loaded: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded
