"""Run a reference library in its own cached virtual environment (scripts/reference_env.sh).

Reference libraries whose pins clash with the project's run out of process: a script from
`tests/reference/scripts/` is executed by that environment's python and writes its outputs
(safetensors / JSON) into a folder the test reads back. The environment is built on first use
and cached; a failed build fails the test (CI must run these), unless
`RETRIEVAL_SKIP_REFERENCE_ENVS=1` says this machine cannot build it, which skips with that reason.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = Path(__file__).resolve().parent / "scripts"


@functools.cache
def reference_python(name: str) -> Path:
    """The python of reference environment `name`, built (once, cached) when missing."""
    if os.environ.get("RETRIEVAL_SKIP_REFERENCE_ENVS") == "1":
        pytest.skip(f"reference environment {name!r} skipped: RETRIEVAL_SKIP_REFERENCE_ENVS=1")
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "reference_env.sh"), name],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"building reference environment {name!r} failed "
            f"(bash scripts/reference_env.sh {name}):\n{done.stderr[-4000:]}"
        )
    return Path(done.stdout.strip().splitlines()[-1])


def run_reference(
    name: str, script: str, *args: str | os.PathLike[str], timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """Run `tests/reference/scripts/<script>` with environment `name`'s python; fail loudly."""
    python = reference_python(name) if name != "main" else Path(sys.executable)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env.pop("PYTHONPATH", None)  # the reference must not see the toolkit's packages
    done = subprocess.run(
        [str(python), str(SCRIPTS / script), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=SCRIPTS,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(
            f"reference script {script} in environment {name!r} failed:\n"
            f"{done.stdout[-2000:]}\n{done.stderr[-6000:]}"
        )
    return done
