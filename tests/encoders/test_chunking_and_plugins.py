"""Chunked processing of over-long inputs, and plugin poolers."""

from __future__ import annotations

import importlib.metadata as metadata
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from encoders import LLM, PoolingParams
from encoders import plugins as plugin_registry
from retrieval.errors import ConfigError, InputTooLongError

CHUNKED = {"enable_chunked_processing": True, "max_embed_len": 200}


def test_three_times_max_length_embeds_as_weighted_chunk_mean(st_legacy_mean: Path) -> None:
    llm = LLM(str(st_legacy_mean), device="cpu", pooler_config=CHUNKED)
    plain = LLM(str(st_legacy_mean), device="cpu")
    size = plain.max_model_len
    text = " ".join(["the wing lift and air flow speed"] * 24)
    (out,) = llm.embed(text)
    ids = out.prompt_token_ids
    assert len(ids) > 3 * size
    chunks = [ids[i : i + size] for i in range(0, len(ids), size)]
    raw = plain.embed(chunks, pooling_params=PoolingParams(use_activation=False))
    vectors = torch.tensor([o.outputs.embedding for o in raw])
    weights = torch.tensor([len(c) for c in chunks], dtype=torch.float32)
    expected = F.normalize((vectors * weights[:, None]).sum(0) / weights.sum(), dim=0)
    assert out.outputs.embedding == pytest.approx(expected.tolist(), abs=1e-5)


def test_short_inputs_are_unchanged_by_chunking(st_legacy_mean: Path) -> None:
    chunked = LLM(str(st_legacy_mean), device="cpu", pooler_config=CHUNKED)
    plain = LLM(str(st_legacy_mean), device="cpu")
    texts = ["hello my name is", "a cat"]
    a = torch.tensor([o.outputs.embedding for o in chunked.embed(texts)])
    b = torch.tensor([o.outputs.embedding for o in plain.embed(texts)])
    torch.testing.assert_close(a, b, atol=1e-6, rtol=0)


def test_over_max_embed_len_is_a_clear_error(st_legacy_mean: Path) -> None:
    llm = LLM(str(st_legacy_mean), device="cpu", pooler_config=CHUNKED)
    with pytest.raises(InputTooLongError, match=r"more than max_embed_len \(200\)"):
        llm.embed(" ".join(["wing"] * 300))
    (out,) = llm.embed(" ".join(["wing"] * 300), truncate_prompt_tokens=-1)
    assert len(out.prompt_token_ids) == llm.max_model_len


class MaxPool:
    """Worked example: element-wise max over tokens (a pooling vLLM does not offer)."""

    def __init__(self, model: object) -> None:
        self.model = model

    def pool(self, hidden: torch.Tensor, token_ids: list[int]) -> torch.Tensor:
        return hidden.max(dim=0).values.float().cpu()


def test_registered_plugin_runs_through_encode(bert_plain: Path) -> None:
    plugin_registry.register_plugin("test_max_pool", MaxPool)
    llm = LLM(str(bert_plain), device="cpu", io_processor_plugin="test_max_pool")
    assert "plugin" in llm.supported_tasks
    (out,) = llm.encode("hello my name is", pooling_task="plugin")
    (tokens,) = llm.encode(
        "hello my name is",
        pooling_task="token_embed",
        pooling_params=PoolingParams(use_activation=False),
    )
    torch.testing.assert_close(out.outputs.data, tokens.outputs.data.max(dim=0).values)


def test_plugin_from_an_entry_point(bert_plain: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    entry = metadata.EntryPoint(
        name="ep_max_pool",
        value="tests.encoders.test_chunking_and_plugins:MaxPool",
        group=plugin_registry.ENTRY_POINT_GROUP,
    )
    real = metadata.entry_points

    def fake(**kwargs: object) -> object:
        if kwargs.get("group") == plugin_registry.ENTRY_POINT_GROUP:
            return [entry]
        return real(**kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(metadata, "entry_points", fake)
    assert "ep_max_pool" in plugin_registry.available_plugins()
    llm = LLM(str(bert_plain), device="cpu", io_processor_plugin="ep_max_pool")
    assert llm.encode("a cat", pooling_task="plugin")[0].outputs.data.shape == (32,)


def test_unknown_plugin_and_plugin_task_without_one(bert_plain: Path) -> None:
    with pytest.raises(ConfigError, match="Unknown pooler plugin 'nope'"):
        LLM(str(bert_plain), device="cpu", io_processor_plugin="nope")
    with pytest.raises(ConfigError, match="does not support pooling task 'plugin'"):
        LLM(str(bert_plain), device="cpu").encode("x", pooling_task="plugin")
