"""scripts/gpu_check.sh on a machine without CUDA: the fallback runs every section on the CPU
at small sizes and still writes the one JSON (the GPU run itself needs a lent GPU)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.realmodel
@pytest.mark.skipif(
    torch.cuda.is_available(), reason="the CPU fallback is for machines without CUDA"
)
def test_gpu_check_falls_back_to_the_cpu_and_writes_one_json(
    tmp_path: Path, real_default_path: Path
) -> None:
    env = {**os.environ, "PYTHON": sys.executable, "OUT": str(tmp_path)}
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "gpu_check.sh")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert report["cuda"] is False
    assert report["quick"] is True
    assert (tmp_path / "gpu-tests.xml").is_file()  # the GPU tests ran (and skipped)
    embed = report["embed"]["float32"]
    assert embed["tokens_per_s"] > 0
    assert embed["cosine_to_cpu_fp32_min"] > 0.9999  # the same CPU fp32 model twice
    assert report["maxsim"]["doc_tokens_per_s"] > 0
    assert report["plaid"]["recall_at_10_vs_exact"] > 0.5
    assert "skipped" in report["faiss"]  # faiss-cpu sees no GPU
