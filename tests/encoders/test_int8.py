"""dtype="int8": dynamic int8 linear layers on the CPU, checked against the fp32 model."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from encoders import LLM
from encoders.int8 import Int8Linear, check_int8_device
from retrieval.errors import ConfigError
from tests.tiny_models import make_family

TEXTS = ["hello my name is", "the man is eating food", "a cat", "what is the air pressure"]


def _cosine(a: list, b: list) -> torch.Tensor:
    return F.cosine_similarity(torch.tensor(a), torch.tensor(b), dim=-1)


@pytest.fixture(scope="module")
def families(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("int8")
    return {
        "bert": make_family(root / "bert", "bert", "model"),
        "bert-seq": make_family(root / "bert-seq", "bert", "seq"),
        "qwen3-token": make_family(root / "qwen3-token", "qwen3", "token"),
    }


def test_int8_swaps_every_backbone_linear_and_keeps_the_head_fp32(st_legacy_dense: Path) -> None:
    llm = LLM(str(st_legacy_dense), device="cpu", dtype="int8")
    backbone = llm.model.backbone
    assert not [m for m in backbone.modules() if type(m) is torch.nn.Linear]
    # 2 layers x (q, k, v, attention out, FFN in, FFN out); the native BERT encoder
    # (encoders.bert) has no pooler: pooling is the runtime's
    assert sum(isinstance(m, Int8Linear) for m in backbone.modules()) == 12
    assert llm.model.dtype == torch.float32
    head_linears = [m for m in llm.model.head.modules() if hasattr(m, "weight")]
    assert head_linears
    assert all(m.weight.dtype == torch.float32 for m in head_linears)


def test_int8_embeddings_stay_close_to_fp32(st_legacy_dense: Path) -> None:
    fp32 = LLM(str(st_legacy_dense), device="cpu")
    int8 = LLM(str(st_legacy_dense), device="cpu", dtype="int8")
    a = [o.outputs.embedding for o in fp32.embed(TEXTS)]
    b = [o.outputs.embedding for o in int8.embed(TEXTS)]
    cos = _cosine(a, b)
    assert cos.min() > 0.98
    assert not torch.allclose(torch.tensor(a), torch.tensor(b), atol=1e-6)  # really quantized
    # rows stay unit-normalized and tokens line up with the fp32 model
    assert torch.allclose(torch.tensor(b).norm(dim=1), torch.ones(len(TEXTS)), atol=1e-5)
    t32 = fp32.encode(TEXTS, pooling_task="token_embed")
    t8 = int8.encode(TEXTS, pooling_task="token_embed")
    for x, y in zip(t32, t8, strict=True):
        assert x.outputs.data.shape == y.outputs.data.shape


def test_int8_classifiers_and_token_heads_agree_with_fp32(families: dict[str, Path]) -> None:
    for name, task in (("bert-seq", "classify"), ("qwen3-token", "token_classify")):
        fp32 = LLM(str(families[name]), device="cpu")
        int8 = LLM(str(families[name]), device="cpu", dtype="int8")
        assert int8.supported_tasks == fp32.supported_tasks
        for x, y in zip(
            fp32.encode(TEXTS, pooling_task=task),
            int8.encode(TEXTS, pooling_task=task),
            strict=True,
        ):
            assert x.outputs.data.shape == y.outputs.data.shape
            assert torch.allclose(x.outputs.data, y.outputs.data, atol=0.05)


@pytest.mark.realmodel
def test_int8_minilm_keeps_the_ranking(minilm: LLM) -> None:
    int8 = LLM("sentence-transformers/all-MiniLM-L6-v2", device="cpu", dtype="INT8")
    query = "A man is eating food."
    docs = ["A man is eating a piece of bread.", "A man is riding a horse.", "The sky is blue."]
    a = torch.tensor([o.outputs.score for o in minilm.score(query, docs)])
    b = torch.tensor([o.outputs.score for o in int8.score(query, docs)])
    assert torch.equal(a.argsort(), b.argsort())
    assert (a - b).abs().max() < 0.03
    emb = _cosine(
        [o.outputs.embedding for o in minilm.embed(docs)],
        [o.outputs.embedding for o in int8.embed(docs)],
    )
    assert emb.min() > 0.98


def test_int8_is_refused_off_the_cpu() -> None:
    with pytest.raises(ConfigError, match=r"dtype='int8' runs on the CPU only.*device='cpu'"):
        check_int8_device(torch.device("cuda:0"))


def test_unknown_dtype_lists_int8_nowhere_else(st_legacy_mean: Path) -> None:
    with pytest.raises(ConfigError, match="Unknown dtype 'int4'"):
        LLM(str(st_legacy_mean), device="cpu", dtype="int4")
