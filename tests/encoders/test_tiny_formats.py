"""Tiny checkpoints in every supported folder format vs a reference implementation."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from encoders import LLM, PoolingParams

SENTENCES = [
    "hello my name is",
    "the man is eating food",
    "a cat sleeps on the street at night",
    "what is the air pressure on a wing",
    "big fast dog",
]


def _ours(folder: Path, texts: list[str], **kwargs: object) -> torch.Tensor:
    llm = LLM(str(folder), device="cpu", **kwargs)  # type: ignore[arg-type]
    return torch.tensor([o.outputs.embedding for o in llm.embed(texts)])


def _sentence_transformers(folder: Path, texts: list[str]) -> torch.Tensor:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(folder), device="cpu")
    return torch.as_tensor(model.encode(texts, convert_to_numpy=True))


def _transformers_hidden(folder: Path, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModel.from_pretrained(str(folder)).eval()
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    return hidden, batch["attention_mask"]


def _assert_close(a: torch.Tensor, b: torch.Tensor) -> None:
    assert a.shape == b.shape
    cosine = F.cosine_similarity(a, b, dim=-1)
    assert cosine.min().item() >= 0.99999
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_legacy_layout_mean_matches_sentence_transformers(st_legacy_mean: Path) -> None:
    _assert_close(
        _ours(st_legacy_mean, SENTENCES), _sentence_transformers(st_legacy_mean, SENTENCES)
    )


def test_legacy_layout_with_dense_projection(st_legacy_dense: Path) -> None:
    ours = _ours(st_legacy_dense, SENTENCES)
    assert ours.shape == (len(SENTENCES), 16)
    _assert_close(ours, _sentence_transformers(st_legacy_dense, SENTENCES))


def test_v6_layout_matches_sentence_transformers(st_v6: Path) -> None:
    assert '"pooling_mode"' in (st_v6 / "1_Pooling" / "config.json").read_text()
    ours = _ours(st_v6, SENTENCES)
    assert ours.shape == (len(SENTENCES), 24)
    _assert_close(ours, _sentence_transformers(st_v6, SENTENCES))


def test_v6_max_seq_length_comes_from_tokenizer_config(st_v6: Path) -> None:
    assert LLM(str(st_v6), device="cpu").max_model_len == 40


def test_plain_bert_uses_vllm_default_cls_and_normalize(bert_plain: Path) -> None:
    hidden, _ = _transformers_hidden(bert_plain, SENTENCES)
    expected = F.normalize(hidden[:, 0], dim=-1)
    _assert_close(_ours(bert_plain, SENTENCES), expected)


def test_pooler_config_overrides_model_and_st_defaults(st_legacy_mean: Path) -> None:
    hidden, _ = _transformers_hidden(st_legacy_mean, SENTENCES)
    ours = _ours(
        st_legacy_mean, SENTENCES, pooler_config={"pooling_type": "CLS", "normalize": False}
    )
    _assert_close(ours, hidden[:, 0])


def test_last_pooling_picks_last_real_token(bert_plain: Path) -> None:
    hidden, mask = _transformers_hidden(bert_plain, SENTENCES)
    last = mask.sum(dim=1) - 1
    expected = F.normalize(hidden[torch.arange(len(SENTENCES)), last], dim=-1)
    _assert_close(_ours(bert_plain, SENTENCES, pooler_config={"pooling_type": "LAST"}), expected)


def test_use_activation_false_returns_unnormalized(st_legacy_mean: Path) -> None:
    llm = LLM(str(st_legacy_mean), device="cpu")
    raw = llm.embed(SENTENCES[:2], pooling_params=PoolingParams(use_activation=False))
    norms = [torch.tensor(o.outputs.embedding).norm().item() for o in raw]
    assert all(abs(n - 1.0) > 1e-3 for n in norms)
    hidden, mask = _transformers_hidden(st_legacy_mean, SENTENCES[:2])
    mean = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
    _assert_close(torch.tensor([o.outputs.embedding for o in raw]), mean)


def test_token_embed_returns_normalized_vectors_per_token(bert_plain: Path) -> None:
    llm = LLM(str(bert_plain), device="cpu")
    outputs = llm.encode(SENTENCES[:2], pooling_task="token_embed")
    hidden, mask = _transformers_hidden(bert_plain, SENTENCES[:2])
    for row, out in enumerate(outputs):
        n_tokens = int(mask[row].sum())
        assert out.outputs.data.shape == (n_tokens, 32)
        assert len(out.prompt_token_ids) == n_tokens
        _assert_close(out.outputs.data, F.normalize(hidden[row, :n_tokens], dim=-1))


def test_sharded_safetensors_load(tmp_path: Path, bert_plain: Path) -> None:
    from tests.tiny_models import make_bert

    sharded = make_bert(tmp_path / "sharded", shard_size="20KB")
    assert (sharded / "model.safetensors.index.json").is_file()
    _assert_close(_ours(sharded, SENTENCES), _ours(bert_plain, SENTENCES))


def test_batch_and_single_agree(st_legacy_mean: Path) -> None:
    llm = LLM(str(st_legacy_mean), device="cpu")
    batch = [o.outputs.embedding for o in llm.embed(SENTENCES)]
    single = [llm.embed(s)[0].outputs.embedding for s in SENTENCES]
    torch.testing.assert_close(torch.tensor(batch), torch.tensor(single), atol=1e-5, rtol=1e-4)


def test_token_ids_and_dict_prompts_equal_text(st_legacy_mean: Path) -> None:
    llm = LLM(str(st_legacy_mean), device="cpu")
    (text,) = llm.embed(SENTENCES[0])
    (ids,) = llm.embed([text.prompt_token_ids])
    (as_dict,) = llm.embed({"prompt": SENTENCES[0]})
    (tokens_dict,) = llm.embed({"prompt_token_ids": text.prompt_token_ids})
    for other in (ids, as_dict, tokens_dict):
        assert other.outputs.embedding == pytest.approx(text.outputs.embedding, abs=1e-6)


def test_encode_embed_returns_tensor_data(st_legacy_mean: Path) -> None:
    llm = LLM(str(st_legacy_mean), device="cpu")
    (out,) = llm.encode("hello my name is", pooling_task="embed")
    assert isinstance(out.outputs.data, torch.Tensor)
    assert out.outputs.data.shape == (32,)
    (emb,) = llm.embed("hello my name is")
    assert out.outputs.data.tolist() == pytest.approx(emb.outputs.embedding, abs=1e-6)
