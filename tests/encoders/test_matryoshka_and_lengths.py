"""Matryoshka dimensions and long-input handling, with vLLM's messages."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from encoders import LLM, PoolingParams
from retrieval.errors import ConfigError, InputTooLongError

LONG_TEXT = " ".join(["the wing lift and air flow speed"] * 40)


def _raw_cls(llm: LLM, text: str) -> torch.Tensor:
    (out,) = llm.embed(text, pooling_params=PoolingParams(use_activation=False))
    return torch.tensor(out.outputs.embedding)


def test_matryoshka_truncates_then_renormalizes(matryoshka_model: Path) -> None:
    llm = LLM(str(matryoshka_model), device="cpu")
    full = _raw_cls(llm, "hello my name is")
    (out,) = llm.embed("hello my name is", pooling_params=PoolingParams(dimensions=16))
    assert len(out.outputs.embedding) == 16
    expected = F.normalize(full[:16], dim=0)
    assert out.outputs.embedding == pytest.approx(expected.tolist(), abs=1e-6)


def test_matryoshka_dimension_not_listed_is_rejected(matryoshka_model: Path) -> None:
    llm = LLM(str(matryoshka_model), device="cpu")
    name = str(matryoshka_model)
    with pytest.raises(ConfigError, match=r"only supports \[8, 16, 32\] matryoshka dimensions"):
        llm.embed("hello", pooling_params=PoolingParams(dimensions=12))
    assert name


def test_non_matryoshka_model_refuses_dimensions_with_vllm_message(bert_plain: Path) -> None:
    llm = LLM(str(bert_plain), device="cpu")
    expected = (
        f'Model "{bert_plain}" does not support matryoshka representation, changing output '
        "dimensions will lead to poor results."
    )
    with pytest.raises(ConfigError) as info:
        llm.embed("hello", pooling_params=PoolingParams(dimensions=8))
    assert str(info.value) == expected


def test_hf_overrides_enable_matryoshka(bert_plain: Path) -> None:
    llm = LLM(str(bert_plain), device="cpu", hf_overrides={"is_matryoshka": True})
    (out,) = llm.embed("hello", pooling_params=PoolingParams(dimensions=5))
    assert len(out.outputs.embedding) == 5
    assert torch.tensor(out.outputs.embedding).norm().item() == pytest.approx(1.0, abs=1e-5)


def test_dimensions_must_be_positive(bert_plain: Path) -> None:
    llm = LLM(str(bert_plain), device="cpu", hf_overrides={"is_matryoshka": True})
    with pytest.raises(ConfigError, match="greater than 0"):
        llm.embed("hello", pooling_params=PoolingParams(dimensions=0))


def test_too_long_input_is_a_clear_error(bert_plain: Path) -> None:
    llm = LLM(str(bert_plain), device="cpu")
    with pytest.raises(
        InputTooLongError, match=r"maximum context length is 64 tokens.*prompt 1 has \d+ tokens"
    ):
        llm.embed(["short one", LONG_TEXT])


def test_truncate_minus_one_uses_model_maximum(bert_plain: Path) -> None:
    llm = LLM(str(bert_plain), device="cpu")
    (out,) = llm.embed(LONG_TEXT, truncate_prompt_tokens=-1)
    assert len(out.prompt_token_ids) == 64
    tokenizer = llm.get_tokenizer()
    assert out.prompt_token_ids[0] == tokenizer.cls_token_id
    assert out.prompt_token_ids[-1] == tokenizer.sep_token_id


def test_truncation_sides(bert_plain: Path) -> None:
    llm = LLM(str(bert_plain), device="cpu")
    text = "first " + " ".join(["air"] * 30) + " last"
    params = PoolingParams(truncate_prompt_tokens=10)
    (right,) = llm.embed(text, pooling_params=params)
    (left,) = llm.embed(
        text, pooling_params=params, tokenization_kwargs={"truncation_side": "left"}
    )
    tokenizer = llm.get_tokenizer()
    first, last = tokenizer.convert_tokens_to_ids(["first", "last"])
    assert len(right.prompt_token_ids) == len(left.prompt_token_ids) == 10
    assert first in right.prompt_token_ids
    assert last not in right.prompt_token_ids
    assert last in left.prompt_token_ids
    assert first not in left.prompt_token_ids


def test_token_id_prompts_truncate_too(bert_plain: Path) -> None:
    llm = LLM(str(bert_plain), device="cpu")
    (out,) = llm.embed([list(range(5, 100))], truncate_prompt_tokens=-1)
    assert out.prompt_token_ids == list(range(5, 69))
    with pytest.raises(InputTooLongError, match="95 tokens"):
        llm.embed([list(range(5, 100))])


@pytest.mark.parametrize("value", [0, -2, 65])
def test_bad_truncate_values(bert_plain: Path, value: int) -> None:
    llm = LLM(str(bert_plain), device="cpu")
    with pytest.raises(ConfigError, match="truncate_prompt_tokens"):
        llm.embed("hello", truncate_prompt_tokens=value)


def test_max_model_len_may_only_shrink(bert_plain: Path) -> None:
    assert LLM(str(bert_plain), device="cpu", max_model_len=16).max_model_len == 16
    with pytest.raises(ConfigError, match=r"max_model_len \(100\).*derived max_model_len \(64\)"):
        LLM(str(bert_plain), device="cpu", max_model_len=100)


def test_legacy_max_seq_length_caps_the_model(st_legacy_mean: Path) -> None:
    assert LLM(str(st_legacy_mean), device="cpu").max_model_len == 48
