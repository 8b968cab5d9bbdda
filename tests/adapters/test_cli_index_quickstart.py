"""The README's two commands: the first ends with scripts/demo.sh, which must index the
project's documentation with the embedded default model and answer its questions."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_readme_commands_are_setup_then_tests() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("```bash\n", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]
    assert commands == ["bash scripts/setup.sh", "bash scripts/test.sh"]
    setup = (ROOT / "scripts" / "setup.sh").read_text(encoding="utf-8")
    assert 'if [ "${1:-}" != "--no-demo" ]; then\n  bash scripts/demo.sh\nfi' in setup


@pytest.mark.slow
@pytest.mark.realmodel
def test_demo_indexes_the_docs_and_answers(real_default_path: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHON": sys.executable, "RETRIEVAL_DEMO_INDEX": str(tmp_path / "ix")}
    env["HF_HUB_OFFLINE"] = "1"
    done = subprocess.run(
        ["bash", "scripts/demo.sh"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert re.search(r"3 new, 0 changed, 0 removed, 0 unchanged; \d+ chunks", out)
    # docs/ holds only images (the README's screenshot): listed, nothing indexed from it
    assert re.search(r"\$ retrieval index README.md BENCHMARKS.md notebooks( docs)? --index ", out)
    questions = [line for line in out.splitlines() if line.startswith("? ")]
    assert questions == [
        "? How do I run the tests?",
        "? Where are models loaded from without network access?",
        "? How fast is MaxSim?",
    ]
    # "  1. 2.137 (zscore)     <chunk id>  README.md [0:812]": the final score with its kind
    results = re.findall(
        r"^\s+(\d)\.\s+-?[\d.]+(?:e[-+]\d+)? \((\w+)\)\s+\S+\s+(\S+) \[\d+:\d+\]$",
        out,
        re.MULTILINE,
    )
    assert [int(r[0]) for r in results] == [1, 2, 3] * 3
    assert {r[1] for r in results} == {"zscore"}  # the default hybrid's fused score
    sources = {r[2] for r in results}
    assert sources <= {"README.md", "BENCHMARKS.md", "notebooks/README.md"}
    # Model loading is described in the README only; MaxSim speed in BENCHMARKS.md only.
    answers = out.split("\n? ")
    assert "README.md" in {r[2] for r in results[3:6]}, answers[2]
    assert "BENCHMARKS.md" in {r[2] for r in results[6:9]}, answers[3]
