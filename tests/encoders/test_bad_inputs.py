"""Every bad input gets a clear error that names the value and the fix."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from encoders import LLM, PoolingParams
from retrieval.errors import (
    ConfigError,
    DeviceUnavailableError,
    ModelNotFoundError,
    UnsafeModelError,
)
from tests.tiny_models import make_bert


@pytest.fixture(scope="module")
def llm(bert_plain: Path) -> LLM:
    return LLM(str(bert_plain), device="cpu")


@pytest.mark.parametrize(
    ("prompts", "match"),
    [
        ([], "No prompts were given"),
        (None, "got NoneType"),
        (42, "got int"),
        ([1.5, "x"], "Prompt 0 has type float"),
        ([[]], "Prompt 0 is an empty list of token ids"),
        ([{"text": "x"}], "without 'prompt' or 'prompt_token_ids'"),
    ],
)
def test_bad_prompts(llm: LLM, prompts: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        llm.embed(prompts)


def test_encode_requires_a_task(llm: LLM) -> None:
    with pytest.raises(ConfigError, match=r"pooling_task is required.*\['embed', 'token_embed'\]"):
        llm.encode("hello")


def test_unsupported_task_lists_supported_ones(llm: LLM) -> None:
    with pytest.raises(ConfigError, match=r"does not support pooling task 'classify'.*Supported"):
        llm.encode("hello", pooling_task="classify")
    with pytest.raises(ConfigError, match=r"Unknown pooling task 'rank'. Valid: embed, classify"):
        llm.encode("hello", pooling_task="rank")


def test_parameters_a_task_does_not_take(llm: LLM) -> None:
    params = PoolingParams(dimensions=8)
    with pytest.raises(
        ConfigError, match=r"Task classify only supports .* does not support \['dimensions'\]"
    ):
        params.verify("classify")


def test_unknown_pooling_type(bert_plain: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"Unknown pooling type 'MAX'. Valid: CLS, MEAN, LAST, ALL"
    ):
        LLM(str(bert_plain), device="cpu", pooler_config={"pooling_type": "max"})


def test_unknown_pooler_config_key(bert_plain: Path) -> None:
    with pytest.raises(ConfigError, match=r"Unknown pooler_config keys \['pooling'\]"):
        LLM(str(bert_plain), device="cpu", pooler_config={"pooling": "MEAN"})


def test_st_max_pooling_needs_an_explicit_choice(tmp_path: Path) -> None:
    from tests.tiny_models import add_legacy_st_files

    folder = add_legacy_st_files(make_bert(tmp_path / "m"), pooling="max")
    with pytest.raises(
        ConfigError, match=r"Unknown pooling type 'max'.*Valid: CLS, MEAN, LAST, ALL"
    ):
        LLM(str(folder), device="cpu")
    assert LLM(str(folder), device="cpu", pooler_config={"pooling_type": "MEAN"})


def test_all_pooling_is_token_level(bert_plain: Path) -> None:
    llm = LLM(str(bert_plain), device="cpu", pooler_config={"pooling_type": "ALL"})
    with pytest.raises(ConfigError, match="use pooling_task='token_embed'"):
        llm.embed("hello")
    assert llm.encode("hello", pooling_task="token_embed")[0].outputs.data.ndim == 2


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"runner": "generate"}, ConfigError, "pooling models only"),
        ({"runner": "fast"}, ConfigError, "Unknown runner 'fast'"),
        ({"convert": "rerank"}, ConfigError, "Unknown convert 'rerank'"),
        ({"device": "tpu"}, ConfigError, "Unknown device 'tpu'. Valid: auto, cpu, cuda"),
        ({"dtype": "int4"}, ConfigError, "Unknown dtype 'int4'"),
        ({"truncation_side": "middle"}, ConfigError, "Unknown truncation side 'middle'"),
        ({"bogus_flag": 1}, TypeError, r"unexpected keyword arguments \['bogus_flag'\]"),
    ],
)
def test_bad_constructor_arguments(
    bert_plain: Path, kwargs: dict[str, object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        LLM(str(bert_plain), **kwargs)  # type: ignore[arg-type]


def test_vllm_engine_arguments_are_accepted(bert_plain: Path) -> None:
    llm = LLM(str(bert_plain), device="cpu", gpu_memory_utilization=0.5, enforce_eager=True)
    assert llm.embed("hello")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_requested_without_cuda(bert_plain: Path) -> None:
    with pytest.raises(DeviceUnavailableError, match='CUDA is not available.*device="cpu"'):
        LLM(str(bert_plain), device="cuda")


def test_pickle_weights_are_refused_unless_allowed(tmp_path: Path, bert_plain: Path) -> None:
    folder = make_bert(tmp_path / "pickled", safe=False)
    assert (folder / "pytorch_model.bin").is_file()
    with pytest.raises(UnsafeModelError, match="pickled weights.*allow_pickle_weights=True"):
        LLM(str(folder), device="cpu")
    allowed = LLM(str(folder), device="cpu", allow_pickle_weights=True)
    expected = LLM(str(bert_plain), device="cpu").embed("hello")[0].outputs.embedding
    assert allowed.embed("hello")[0].outputs.embedding == pytest.approx(expected, abs=1e-5)


def test_missing_weights(tmp_path: Path, bert_plain: Path) -> None:
    folder = tmp_path / "noweights"
    shutil.copytree(bert_plain, folder)
    (folder / "model.safetensors").unlink()
    with pytest.raises(ConfigError, match="has no weights: expected model.safetensors"):
        LLM(str(folder), device="cpu")


def test_remote_code_is_refused_by_default(tmp_path: Path, bert_plain: Path) -> None:
    folder = tmp_path / "custom"
    shutil.copytree(bert_plain, folder)
    config = json.loads((folder / "config.json").read_text())
    config["model_type"] = "tiny_custom_arch"
    config["auto_map"] = {"AutoModel": "modeling_tiny.TinyModel"}
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(UnsafeModelError, match="custom Python code.*trust_remote_code=True"):
        LLM(str(folder), device="cpu")


def test_missing_config_and_corrupt_config(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match="has no config.json"):
        LLM(str(empty), device="cpu")
    (empty / "config.json").write_text("{not json")
    with pytest.raises(ConfigError, match="is not valid JSON"):
        LLM(str(empty), device="cpu")


def test_unknown_model_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants as hub_constants

    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "cache"))
    with pytest.raises(ModelNotFoundError, match="was not found. Tried, in order"):
        LLM("no-such-org/no-such-model", device="cpu")


def test_classifier_architectures_are_not_silently_embedded(
    tmp_path: Path, bert_plain: Path
) -> None:
    folder = tmp_path / "classifier"
    shutil.copytree(bert_plain, folder)
    config = json.loads((folder / "config.json").read_text())
    config["architectures"] = ["BertForSequenceClassification"]
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(
        ConfigError, match="no trained weights for its classify head.*convert='embed'"
    ):
        LLM(str(folder), device="cpu")
    assert LLM(str(folder), device="cpu", convert="embed").embed("hello")
