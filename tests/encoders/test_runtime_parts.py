"""Batching plan and the oneDNN fast path against their naive references."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch
from torch import nn

from encoders import LLM, fast_linear
from encoders.batching import plan_batches


def test_plan_batches_covers_each_input_once_within_budget() -> None:
    rng = random.Random(0)
    lengths = [rng.randint(1, 300) for _ in range(500)]
    batches = plan_batches(lengths, max_tokens=2048, max_seqs=64)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(500))
    for batch in batches:
        longest = max(lengths[i] for i in batch)
        assert len(batch) <= 64
        assert len(batch) == 1 or longest * len(batch) <= 2048
    assert lengths[batches[0][0]] == max(lengths)


def test_plan_batches_gives_oversized_inputs_their_own_batch() -> None:
    assert plan_batches([5000, 10, 10], max_tokens=100, max_seqs=8) == [[0], [1, 2]]
    assert plan_batches([], max_tokens=100, max_seqs=8) == []


@pytest.mark.skipif(not fast_linear.onednn_available(), reason="PyTorch built without oneDNN")
@pytest.mark.parametrize("shape", [(1, 32), (7, 32), (3, 11, 32)])
def test_packed_linear_matches_nn_linear(shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    linear = nn.Linear(32, 48)
    packed = fast_linear.PackedLinear(linear)
    gelu = fast_linear.PackedLinear(linear, fuse_gelu=True)
    x = torch.randn(*shape)
    with torch.inference_mode():
        torch.testing.assert_close(packed(x), linear(x), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(gelu(x), nn.functional.gelu(linear(x)), atol=1e-5, rtol=1e-5)


def test_fast_path_and_stock_path_agree(bert_plain: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    texts = ["hello my name is", "the man is eating food", "a cat"]
    fast = LLM(str(bert_plain), device="cpu")
    monkeypatch.setattr(fast_linear, "onednn_available", lambda: False)
    stock = LLM(str(bert_plain), device="cpu")
    assert not any(isinstance(m, fast_linear.PackedLinear) for m in stock.model.backbone.modules())
    a = torch.tensor([o.outputs.embedding for o in fast.embed(texts)])
    b = torch.tensor([o.outputs.embedding for o in stock.embed(texts)])
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_many_prompts_use_small_batches_and_keep_order(bert_plain: Path) -> None:
    llm = LLM(str(bert_plain), device="cpu", max_num_batched_tokens=64, max_num_seqs=4)
    texts = [" ".join(["air"] * (i % 9 + 1)) for i in range(40)]
    outputs = llm.embed(texts, use_tqdm=False)
    singles = [llm.embed(t)[0].outputs.embedding for t in texts[:9]]
    for out, single in zip(outputs[:9], singles, strict=True):
        assert out.outputs.embedding == pytest.approx(single, abs=1e-5)
    assert [len(o.prompt_token_ids) for o in outputs] == [i % 9 + 3 for i in range(40)]
