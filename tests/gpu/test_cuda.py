"""GPU path: skipped (never failed) without CUDA."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine"),
]


def test_auto_device_picks_cuda_and_matches_cpu(st_legacy_mean: Path) -> None:
    from encoders import LLM

    texts = ["hello my name is", "the man is eating food"]
    gpu = LLM(str(st_legacy_mean), device="auto")
    assert gpu.device.type == "cuda"
    assert gpu.model.dtype in (torch.bfloat16, torch.float16)
    cpu = LLM(str(st_legacy_mean), device="cpu")
    a = torch.tensor([o.outputs.embedding for o in gpu.embed(texts)])
    b = torch.tensor([o.outputs.embedding for o in cpu.embed(texts)])
    assert torch.nn.functional.cosine_similarity(a, b).min().item() > 0.99


def test_fp32_on_cuda_matches_cpu_closely(st_legacy_mean: Path) -> None:
    from encoders import LLM

    gpu = LLM(str(st_legacy_mean), device="cuda", dtype="float32")
    cpu = LLM(str(st_legacy_mean), device="cpu")
    a = torch.tensor(gpu.embed("hello")[0].outputs.embedding)
    b = torch.tensor(cpu.embed("hello")[0].outputs.embedding)
    assert torch.nn.functional.cosine_similarity(a, b, dim=0).item() > 0.9999
