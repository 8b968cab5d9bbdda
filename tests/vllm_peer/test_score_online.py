"""The Score and Rerank APIs, ported from vLLM:

- ``tests/entrypoints/pooling/scoring/test_cross_encoder_online.py`` (BAAI/bge-reranker-base at
  ``--max-model-len 100``; here a tiny BERT cross-encoder in the sentence-transformers layout,
  which reads 64 positions, checked against sentence-transformers' ``CrossEncoder``),
- ``tests/entrypoints/pooling/scoring/test_bi_encoder_online.py`` (BAAI/bge-base-en-v1.5 at
  ``--max-model-len 100``; here the real all-MiniLM-L6-v2 at 128, checked against
  sentence-transformers cosine similarity),
- ``tests/entrypoints/pooling/scoring/test_max_tokens_per_doc.py`` (the cross-encoder path;
  the Jina / Gemma / Qwen3 checkpoints are listed in README.md).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

TEXTS_1 = ["What is the capital of France?", "What is the capital of Germany?"]
TEXTS_2 = ["The capital of France is Paris.", "The capital of Germany is Berlin."]
QUERY = "What is the capital of France?"
DOCS = ["The capital of Brazil is Brasilia.", "The capital of France is Paris."]
PAIRS_1_N = [[TEXTS_1[0], TEXTS_2[0]], [TEXTS_1[0], TEXTS_2[1]]]
PAIRS_N_N = [[TEXTS_1[0], TEXTS_2[0]], [TEXTS_1[1], TEXTS_2[1]]]
SHAPES = [
    ("queries", "documents", TEXTS_1[0], TEXTS_2[0], [[TEXTS_1[0], TEXTS_2[0]]]),
    ("queries", "documents", TEXTS_1[0], TEXTS_2, PAIRS_1_N),
    ("queries", "documents", TEXTS_1, TEXTS_2, PAIRS_N_N),
    ("queries", "items", TEXTS_1, TEXTS_2, PAIRS_N_N),
    ("text_1", "text_2", TEXTS_1, TEXTS_2, PAIRS_N_N),
    ("data_1", "data_2", TEXTS_1, TEXTS_2, PAIRS_N_N),
]
SHAPE_IDS = ["str_1_str_1", "str_1_str_n", "str_n_str_n", "queries_items", "text_1_2", "data_1_2"]


@pytest.fixture(scope="module")
def cross_encoder(peer_reranker_path: Any) -> Any:
    """vLLM's ``hf_runner(..., is_cross_encoder=True)``."""
    from sentence_transformers import CrossEncoder

    return CrossEncoder(str(peer_reranker_path), device="cpu")


@pytest.fixture(scope="module")
def bi_encoder(st_minilm: Any) -> Any:
    """vLLM's ``EncoderScoringHfRunner``: sentence-transformers embeddings, then cosine."""

    class Scorer:
        def predict(self, pairs: list[list[str]]) -> np.ndarray:
            a = st_minilm.encode([p[0] for p in pairs], convert_to_tensor=True)
            b = st_minilm.encode([p[1] for p in pairs], convert_to_tensor=True)
            return F.cosine_similarity(a, b, dim=-1).cpu().numpy()

    return Scorer()


def _score(http: Any, model: str, first: str, second: str, a: Any, b: Any) -> list[float]:
    response = http.post("/score", json={"model": model, first: a, second: b})
    response.raise_for_status()
    body = response.json()
    assert body["id"] is not None
    assert body["data"] is not None
    return [d["score"] for d in body["data"]]


def _rerank(http: Any, model: str, **body: Any) -> Any:
    response = http.post("/rerank", json={"model": model, **body})
    response.raise_for_status()
    return response.json()


# test_score_api_* (both files)
@pytest.mark.parametrize(("first", "second", "a", "b", "pairs"), SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("kind", ["cross_encoder", "bi_encoder"])
def test_score_api(
    http: Any, request: pytest.FixtureRequest, kind: str, first: str, second: str,
    a: Any, b: Any, pairs: list[list[str]],
) -> None:  # fmt: skip
    model = "reranker" if kind == "cross_encoder" else "minilm-128"
    got = _score(http, model, first, second, a, b)
    expected = request.getfixturevalue(kind).predict(pairs).tolist()
    assert len(got) == len(pairs)
    for i in range(len(got)):
        assert expected[i] == pytest.approx(got[i], rel=0.01)


# test_basic (cross-encoder file)
def test_basic(http: Any, peer_reranker_path: Any) -> None:
    from transformers import AutoTokenizer

    text = "This product was excellent and exceeded my expectations"
    expected = AutoTokenizer.from_pretrained(str(peer_reranker_path))(text)["input_ids"]
    body = http.post("/tokenize", json={"model": "reranker", "prompt": text}).json()
    assert body["tokens"] == expected


# test_rerank_api_texts, test_rerank_api_top_n
def test_rerank_api_texts(http: Any) -> None:
    for model in ("reranker", "minilm-128"):
        rerank = _rerank(http, model, query=QUERY, documents=DOCS)
        assert rerank["id"] is not None
        assert rerank["results"] is not None
        assert len(rerank["results"]) == 2
    # bi-encoder file: the real MiniLM ranks Paris above Brasilia.
    by_index = {r["index"]: r["relevance_score"] for r in rerank["results"]}
    assert by_index[1] > by_index[0]


def test_rerank_api_top_n(http: Any) -> None:
    documents = [*DOCS, "Cross-encoder models are neat"]
    for model in ("reranker", "minilm-128"):
        rerank = _rerank(http, model, query=QUERY, documents=documents, top_n=2)
        assert rerank["id"] is not None
        assert len(rerank["results"]) == 2
    assert rerank["results"][0]["index"] == 1  # bi-encoder file, real MiniLM


# test_rerank_api_max_model_len, test_score_api_max_model_len
@pytest.mark.parametrize("model", ["reranker", "minilm-128"])
def test_max_model_len(http: Any, model: str) -> None:
    response = http.post("/rerank", json={"model": model, "query": QUERY * 100, "documents": DOCS})
    assert response.status_code == 400
    assert "Please reduce the length of the input prompt" in response.text
    body = {"model": model, "queries": QUERY * 20, "documents": DOCS}
    response = http.post("/score", json=body)
    assert response.status_code == 400
    assert "Please reduce the length of the input prompt" in response.text
    limit = 64 if model == "reranker" else 128
    response = http.post("/score", json={**body, "truncate_prompt_tokens": limit + 1})
    assert response.status_code == 400
    assert "Please request a smaller truncation size." in response.text


# test_invocations
@pytest.mark.parametrize("model", ["reranker", "minilm-128"])
def test_invocations(http: Any, model: str) -> None:
    args = {"model": model, "query": QUERY, "documents": DOCS}
    rerank = _rerank(http, model, query=QUERY, documents=DOCS)
    invocation = http.post("/invocations", json=args)
    invocation.raise_for_status()
    body = invocation.json()
    assert rerank.keys() == body.keys()
    for a, b in zip(rerank["results"], body["results"], strict=True):
        assert a.keys() == b.keys()
        assert a["relevance_score"] == pytest.approx(b["relevance_score"], rel=0.01)


# test_use_activation (cross-encoder)
def test_use_activation(http: Any) -> None:
    def outputs(use_activation: bool | None) -> torch.Tensor:
        results = _rerank(
            http, "reranker", query=QUERY, documents=DOCS, use_activation=use_activation
        )["results"]
        return torch.tensor([x["relevance_score"] for x in results])

    default, w, wo = outputs(None), outputs(True), outputs(False)
    assert torch.allclose(default, w, atol=1e-2), "Default should use activation."
    assert not torch.allclose(w, wo, atol=1e-2), "wo_activation should not use activation."
    assert torch.allclose(F.sigmoid(wo), w, atol=1e-2)


# test_pooling_classify (cross-encoder), test_pooling_embed (bi-encoder)
def test_pooling_classify_and_embed(http: Any) -> None:
    text = "This product was excellent and exceeded my expectations"
    for model, task, size in (("reranker", "classify", 1), ("minilm-128", "embed", 384)):
        body = {"model": model, "input": text, "encoding_format": "float", "task": task}
        poolings = http.post("/pooling", json=body).json()
        assert len(poolings["data"]) == 1
        assert len(poolings["data"][0]["data"]) == size


# test_pooling_not_supported (both files)
@pytest.mark.parametrize(
    ("model", "task"),
    [("reranker", "embed"), ("reranker", "token_embed"), ("reranker", "plugin"),
     ("minilm-128", "classify"), ("minilm-128", "token_classify"), ("minilm-128", "plugin")],
)  # fmt: skip
def test_pooling_not_supported(http: Any, model: str, task: str) -> None:
    body = {"model": model, "input": "This product", "encoding_format": "float", "task": task}
    response = http.post("/pooling", json=body)
    assert response.json()["error"]["type"] == "BadRequestError"
    assert response.json()["error"]["message"].startswith(f"Unsupported task: {task!r}")


# -- max_tokens_per_doc (cross-encoder file and test_max_tokens_per_doc.py) -----------------------
def test_rerank_max_tokens_per_doc(http: Any) -> None:
    for size in (10, 15):  # test_rerank_max_tokens_per_doc, ..._with_score_template
        rerank = _rerank(
            http, "reranker", query=QUERY, documents=["the capital is paris. " * 20, DOCS[0]],
            max_tokens_per_doc=size,
        )  # fmt: skip
        assert rerank["id"] is not None
        assert len(rerank["results"]) == 2
        assert rerank["usage"]["prompt_tokens"] > 0


def test_rerank_max_tokens_per_doc_reduces_tokens(http: Any) -> None:
    doc = "the city is very big and old. " * 3  # fits the 64 positions with the query
    for limit in ({"truncate_prompt_tokens": 63}, {}):
        no_limit = _rerank(http, "reranker", query=QUERY, documents=[doc], **limit)
        with_limit = _rerank(http, "reranker", query=QUERY, documents=[doc], max_tokens_per_doc=5)
        assert with_limit["usage"]["prompt_tokens"] < no_limit["usage"]["prompt_tokens"]


@pytest.mark.parametrize("value", [0, -5])
def test_rerank_max_tokens_per_doc_validation(http: Any, value: int) -> None:
    body = {"model": "reranker", "query": QUERY, "documents": DOCS[1:], "max_tokens_per_doc": value}
    response = http.post("/rerank", json=body)
    assert response.status_code == 400
    assert "max_tokens_per_doc must be a positive integer" in response.text


# -- scoring/test_protocol.py: top_n defaults to 0 (all), non-negative accepted, negative refused
@pytest.mark.parametrize(("top_n", "count"), [(None, 2), (0, 2), (1, 1), (2, 2)])
def test_top_n_accepted(http: Any, top_n: int | None, count: int) -> None:
    extra = {} if top_n is None else {"top_n": top_n}
    rerank = _rerank(http, "reranker", query="capital of France", documents=DOCS, **extra)
    assert len(rerank["results"]) == count


def test_negative_top_n_is_rejected(http: Any) -> None:
    body = {"model": "reranker", "query": "capital of France", "documents": DOCS, "top_n": -1}
    assert http.post("/rerank", json=body).status_code == 400


# test_pooling_token_classify (cross-encoder): a sequence classifier also scores every token
def test_pooling_token_classify(http: Any, peer_reranker_path: Any) -> None:
    from transformers import AutoTokenizer

    text = "this product was very good"
    n_tokens = len(AutoTokenizer.from_pretrained(str(peer_reranker_path))(text)["input_ids"])
    body = {
        "model": "reranker",
        "task": "token_classify",
        "input": text,
        "encoding_format": "float",
    }
    poolings = http.post("/pooling", json=body).json()
    assert len(poolings["data"]) == 1
    assert len(poolings["data"][0]["data"]) == n_tokens
    assert len(poolings["data"][0]["data"][0]) == 1
