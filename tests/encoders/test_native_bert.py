"""The native BERT encoder (``encoders.bert``) against transformers' ``BertModel`` on the
same checkpoints: tiny random ones in the real on-disk format, and all-MiniLM-L6-v2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from encoders import LLM, bert
from encoders.loading import load_hf_config
from tests.tiny_models import make_bert

TEXTS = ["hello my name is", "the man is eating food in the kitchen today", "a cat"]


def _transformers_states(folder: Path, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(folder), attn_implementation="eager").eval()
    with torch.inference_mode():
        return model(**inputs).last_hidden_state


def _native_states(folder: Path, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    config = load_hf_config(folder, None, False)
    model = bert.load_backbone(folder, config, torch.float32, torch.device("cpu"))
    assert model is not None
    with torch.inference_mode():
        return model(**inputs).last_hidden_state


def _batch(folder: Path, pairs: bool = False) -> dict[str, torch.Tensor]:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    if pairs:
        return dict(tokenizer(TEXTS, TEXTS[::-1], padding=True, return_tensors="pt"))
    return dict(tokenizer(TEXTS, padding=True, return_tensors="pt"))


def _assert_same_real_tokens(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> None:
    real = mask.bool()
    assert a.shape == b.shape
    assert torch.allclose(a[real], b[real], atol=2e-5), (a[real] - b[real]).abs().max()


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"hidden_act": "gelu_new"},
        {"hidden_act": "relu", "layer_norm_eps": 1e-5},
        {"type_vocab_size": 1},
    ],
    ids=["gelu", "gelu_new", "relu", "one-token-type"],
)
def test_hidden_states_match_transformers(tmp_path: Path, extra: dict[str, object]) -> None:
    folder = make_bert(tmp_path / "bert", seed=7, config_extra=extra)
    inputs = _batch(folder)
    if extra.get("type_vocab_size") == 1:
        inputs.pop("token_type_ids")
    _assert_same_real_tokens(
        _native_states(folder, inputs),
        _transformers_states(folder, inputs),
        inputs["attention_mask"],
    )


def test_token_types_of_pairs_match_transformers(bert_plain: Path) -> None:
    inputs = _batch(bert_plain, pairs=True)
    assert inputs["token_type_ids"].any()
    _assert_same_real_tokens(
        _native_states(bert_plain, inputs),
        _transformers_states(bert_plain, inputs),
        inputs["attention_mask"],
    )


def test_task_checkpoints_load_their_encoder(tmp_path: Path, bert_plain: Path) -> None:
    """A ``BertForMaskedLM`` checkpoint keeps the encoder under ``bert.``; loaded as an
    embedding model it is the same encoder transformers' ``AutoModel`` loads."""
    from transformers import AutoConfig, BertForMaskedLM

    folder = tmp_path / "mlm"
    torch.manual_seed(3)
    BertForMaskedLM(AutoConfig.from_pretrained(str(bert_plain))).save_pretrained(str(folder))
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json"):
        if (bert_plain / name).is_file():
            (folder / name).write_bytes((bert_plain / name).read_bytes())
    inputs = _batch(folder)
    _assert_same_real_tokens(
        _native_states(folder, inputs),
        _transformers_states(folder, inputs),
        inputs["attention_mask"],
    )
    llm = LLM(str(folder), device="cpu", convert="embed")
    assert isinstance(llm.model.backbone, bert.BertEncoderModel)


def test_llm_uses_the_native_encoder_for_plain_bert(bert_plain: Path) -> None:
    llm = LLM(str(bert_plain), device="cpu")
    assert isinstance(llm.model.backbone, bert.BertEncoderModel)
    assert not any(p.is_meta for p in llm.model.backbone.parameters())


def test_other_configs_load_through_transformers(tmp_path: Path) -> None:
    relative = make_bert(
        tmp_path / "relative", config_extra={"position_embedding_type": "relative_key"}
    )
    llm = LLM(str(relative), device="cpu")
    assert type(llm.model.backbone).__name__ == "BertModel"
    pickled = make_bert(tmp_path / "pickled", safe=False)
    llm = LLM(str(pickled), device="cpu", allow_pickle_weights=True)
    assert type(llm.model.backbone).__name__ == "BertModel"


def test_a_checkpoint_that_does_not_match_falls_back_to_transformers_errors(
    tmp_path: Path,
) -> None:
    """Weights of another shape than config.json says: transformers' loader reports it."""
    folder = make_bert(tmp_path / "bert")
    config = json.loads((folder / "config.json").read_text())
    config["intermediate_size"] = 48  # the checkpoint's FFN is 64 wide
    (folder / "config.json").write_text(json.dumps(config))
    hf_config = load_hf_config(folder, None, False)
    assert bert.load_backbone(folder, hf_config, torch.float32, torch.device("cpu")) is None
    with pytest.raises(RuntimeError, match="mismatched_sizes"):
        LLM(str(folder), device="cpu")


@pytest.mark.realmodel
def test_minilm_embeddings_match_the_transformers_backbone(
    minilm: LLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert isinstance(minilm.model.backbone, bert.BertEncoderModel)
    monkeypatch.setattr(bert, "wants_native", lambda *args: False)
    reference = LLM("sentence-transformers/all-MiniLM-L6-v2", device="cpu")
    assert type(reference.model.backbone).__name__ == "BertModel"
    ours = torch.tensor([o.outputs.embedding for o in minilm.embed(TEXTS)])
    theirs = torch.tensor([o.outputs.embedding for o in reference.embed(TEXTS)])
    assert torch.allclose(ours, theirs, atol=1e-5), (ours - theirs).abs().max()
    tokens = minilm.encode(TEXTS, pooling_task="token_embed")
    expected = reference.encode(TEXTS, pooling_task="token_embed")
    for a, b in zip(tokens, expected, strict=True):
        assert torch.allclose(a.outputs.data, b.outputs.data, atol=1e-5)


def test_loading_keeps_the_callers_thread_count(bert_plain: Path) -> None:
    """oneDNN packing runs on one thread (its probes are tiny) and restores the setting."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        LLM(str(bert_plain), device="cpu")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_native_encoder_on_gpu_in_half_precision(bert_plain: Path) -> None:
    fp32 = LLM(str(bert_plain), device="cpu")
    half = LLM(str(bert_plain), device="cuda", dtype="float16")
    assert isinstance(half.model.backbone, bert.BertEncoderModel)
    a = torch.tensor([o.outputs.embedding for o in fp32.embed(TEXTS)])
    b = torch.tensor([o.outputs.embedding for o in half.embed(TEXTS)])
    assert torch.allclose(a, b, atol=5e-3), (a - b).abs().max()
