"""``LLM.embed_hybrid`` on embedding models: the pooled embedding and the token vectors of one
forward pass equal ``embed`` and ``encode(..., pooling_task="token_embed")`` called apart."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from encoders import LLM, PoolingParams
from retrieval.errors import ConfigError, InputTooLongError
from tests.tiny_models import add_legacy_st_files, make_bert

TEXTS = ["the wing lift and air flow", "a cat", "what is the air pressure at the boundary layer"]


@pytest.fixture(scope="module", params=["mean", "cls", "mean+dense"])
def folder(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    pooling, _, dense = str(request.param).partition("+")
    base = make_bert(tmp_path_factory.mktemp(str(request.param).replace("+", "-")), seed=8)
    return add_legacy_st_files(base, pooling=pooling, dense_out=16 if dense else None)


@pytest.mark.parametrize("use_activation", [None, False])
def test_one_pass_equals_the_two_tasks(folder: Path, use_activation: bool | None) -> None:
    llm = LLM(str(folder), device="cpu")
    params = PoolingParams(use_activation=use_activation)
    dense = llm.embed(TEXTS, params, use_tqdm=False)
    tokens = llm.encode(TEXTS, params, pooling_task="token_embed", use_tqdm=False)
    hybrid = llm.embed_hybrid(TEXTS, params, use_tqdm=False)
    for one, d, t in zip(hybrid, dense, tokens, strict=True):
        assert one.prompt_token_ids == d.prompt_token_ids
        assert one.outputs.sparse is None
        assert one.outputs.dense == pytest.approx(d.outputs.embedding, abs=1e-6)
        torch.testing.assert_close(one.outputs.multi_vector, t.outputs.data, atol=1e-6, rtol=0)
    # Batching is invisible: one text alone gives the same vectors as inside the batch.
    (alone,) = llm.embed_hybrid(TEXTS[1], params, use_tqdm=False)
    assert alone.outputs.dense == pytest.approx(hybrid[1].outputs.dense, abs=1e-6)


def test_truncation_applies_to_both_outputs(folder: Path) -> None:
    llm = LLM(str(folder), device="cpu")
    (one,) = llm.embed_hybrid(TEXTS[2], truncate_prompt_tokens=4, use_tqdm=False)
    (dense,) = llm.embed(TEXTS[2], truncate_prompt_tokens=4, use_tqdm=False)
    assert len(one.prompt_token_ids) == 4 == one.outputs.multi_vector.shape[0]
    assert one.outputs.dense == pytest.approx(dense.outputs.embedding, abs=1e-6)


def test_models_without_both_outputs_are_refused(tmp_path: Path) -> None:
    import json

    folder = make_bert(tmp_path / "colbert", seed=9)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(config | {"architectures": ["HF_ColBERT"]}))
    llm = LLM(str(folder), device="cpu")
    with pytest.raises(ConfigError, match=r"cannot give a pooled embedding.*use encode_documents"):
        llm.embed_hybrid(TEXTS)
    plain = LLM(str(add_legacy_st_files(make_bert(tmp_path / "plain"))), device="cpu")
    with pytest.raises(ConfigError, match="only supports"):
        plain.embed_hybrid(TEXTS, PoolingParams(softmax=True))


def test_chunked_processing_does_not_apply_to_one_pass(folder: Path) -> None:
    """Token vectors come from one window: an over-long input is refused (or truncated on
    request), even when ``embed`` would chunk it."""
    chunked = {"enable_chunked_processing": True, "max_embed_len": 400}
    llm = LLM(str(folder), device="cpu", pooler_config=chunked)
    text = " ".join(["the wing lift and air flow speed"] * 24)
    assert len(llm.embed(text, use_tqdm=False)[0].prompt_token_ids) > llm.max_model_len
    limit = f"maximum context length is {llm.max_model_len} tokens"
    with pytest.raises(InputTooLongError, match=limit):
        llm.embed_hybrid(text, use_tqdm=False)
    (cut,) = llm.embed_hybrid(text, truncate_prompt_tokens=-1, use_tqdm=False)
    assert cut.outputs.multi_vector.shape[0] == llm.max_model_len
