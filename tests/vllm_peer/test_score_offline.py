"""``LLM.score`` offline, ported from vLLM:

- ``tests/entrypoints/pooling/scoring/test_bi_encoder_offline.py`` and the embedding half of
  ``tests/models/language/pooling/test_scoring.py`` (e5-small / all-MiniLM-L12-v2 -> the real
  all-MiniLM-L6-v2, against sentence-transformers cosine similarity),
- ``tests/entrypoints/pooling/scoring/test_cross_encoder_offline.py`` and the cross-encoder
  half of ``test_scoring.py`` (Qwen3-Reranker-seq-cls / ms-marco-MiniLM -> a tiny BERT
  cross-encoder, against sentence-transformers' ``CrossEncoder``),
- ``tests/entrypoints/pooling/test_offline_params.py`` (the caller's ``PoolingParams`` is
  left untouched).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from encoders import LLM, PoolingParams, ScoringRequestOutput
from tests.vllm_peer.helpers import softmax

TEXTS_1 = ["What is the capital of France?", "What is the capital of Germany?"]
TEXTS_2 = ["The capital of France is Paris.", "The capital of Germany is Berlin."]
CASES = [
    (TEXTS_1[0], TEXTS_2[0], [[TEXTS_1[0], TEXTS_2[0]]]),
    (TEXTS_1[0], TEXTS_2, [[TEXTS_1[0], TEXTS_2[0]], [TEXTS_1[0], TEXTS_2[1]]]),
    (TEXTS_1, TEXTS_2, [[TEXTS_1[0], TEXTS_2[0]], [TEXTS_1[1], TEXTS_2[1]]]),
]


def _cosine(st_model: Any, pairs: list[list[str]]) -> list[float]:
    a = st_model.encode([p[0] for p in pairs], convert_to_tensor=True)
    b = st_model.encode([p[1] for p in pairs], convert_to_tensor=True)
    return F.cosine_similarity(a, b, dim=-1).tolist()


@pytest.mark.parametrize(("first", "second", "pairs"), CASES, ids=["1_to_1", "1_to_n", "n_to_n"])
def test_bi_encoder(peer_minilm: LLM, st_minilm: Any, first: Any, second: Any, pairs: Any) -> None:
    got = [o.outputs.score for o in peer_minilm.score(first, second, use_tqdm=False)]
    expected = _cosine(st_minilm, pairs)
    assert len(got) == len(pairs)
    assert len(expected) == len(pairs)
    for e, g in zip(expected, got, strict=True):
        assert e == pytest.approx(g, rel=0.01)


def test_bi_encoder_embed(peer_minilm: LLM) -> None:
    outputs = peer_minilm.encode("The chef prepared a delicious meal.", pooling_task="embed")
    assert len(outputs) == 1
    assert len(outputs[0].outputs.data) == 384


@pytest.fixture(scope="module")
def cross_encoder(peer_reranker_path: Path) -> Any:
    from sentence_transformers import CrossEncoder

    return CrossEncoder(str(peer_reranker_path), device="cpu")


@pytest.mark.parametrize(("first", "second", "pairs"), CASES, ids=["1_to_1", "1_to_n", "n_to_n"])
def test_cross_encoder(
    peer_reranker: LLM, cross_encoder: Any, first: Any, second: Any, pairs: Any
) -> None:
    outputs = peer_reranker.score(first, second, use_tqdm=False)
    assert all(isinstance(o, ScoringRequestOutput) for o in outputs)
    got = [o.outputs.score for o in outputs]
    expected = cross_encoder.predict(pairs).tolist()
    assert len(got) == len(pairs)
    assert len(expected) == len(pairs)
    for e, g in zip(expected, got, strict=True):
        assert e == pytest.approx(g, rel=0.01)


def test_classify(peer_reranker: LLM) -> None:
    outputs = peer_reranker.encode("the chef made a meal", pooling_task="classify")
    assert len(outputs) == 1
    assert len(outputs[0].outputs.data) == 1


def test_max_tokens_per_doc(peer_reranker: LLM) -> None:
    long_doc = "the city is very big. " * 5  # fits the 64 positions with the query
    no_limit = peer_reranker.score(TEXTS_1[0], long_doc, use_tqdm=False)
    params = PoolingParams(extra_kwargs={"max_tokens_per_doc": 10})
    with_limit = peer_reranker.score(TEXTS_1[0], long_doc, pooling_params=params, use_tqdm=False)
    assert len(no_limit) == 1
    assert len(with_limit) == 1
    assert len(with_limit[0].prompt_token_ids) < len(no_limit[0].prompt_token_ids)


def test_pooling_params(peer_reranker: LLM) -> None:
    def outputs(use_activation: bool | None) -> torch.Tensor:
        params = PoolingParams(use_activation=use_activation)
        got = peer_reranker.score(TEXTS_1[0], TEXTS_2[0], pooling_params=params, use_tqdm=False)
        return torch.tensor([x.outputs.score for x in got])

    default, w, wo = outputs(None), outputs(True), outputs(False)
    assert torch.allclose(default, w, atol=1e-2), "Default should use activation."
    assert not torch.allclose(w, wo, atol=1e-2), "wo_activation should not use activation."
    assert torch.allclose(softmax(wo.unsqueeze(-1)).squeeze(-1), w, atol=1e-2)


# test_offline_params.py::test_score_leaves_caller_pooling_params_untouched
@pytest.mark.parametrize("llm_name", ["peer_reranker", "peer_minilm"])
def test_score_leaves_caller_pooling_params_untouched(
    request: pytest.FixtureRequest, llm_name: str
) -> None:
    llm = request.getfixturevalue(llm_name)
    params = PoolingParams()
    before = dict(vars(params))
    llm.score("query", "doc", pooling_params=params, use_tqdm=False)
    assert vars(params) == before
    llm.encode(["doc"], pooling_params=params, pooling_task=llm.supported_tasks[0])
    assert vars(params) == before
