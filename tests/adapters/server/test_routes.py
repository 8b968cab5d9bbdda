"""Every route in-process: shapes, field names and values against the in-process LLM."""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

TEXTS = ["what is the air pressure on a wing", "a cat sleeps on the street"]


def _vectors(llm: Any, texts: list[str]) -> np.ndarray:
    return np.array([o.outputs.embedding for o in llm.embed(texts, use_tqdm=False)])


def test_embeddings_float_equals_in_process(client: TestClient, minilm: Any) -> None:
    body = client.post("/v1/embeddings", json={"input": TEXTS, "model": "minilm"}).json()
    assert body["object"] == "list"
    assert body["id"].startswith("embd-")
    assert body["model"] == "minilm"
    assert [d["index"] for d in body["data"]] == [0, 1]
    assert {d["object"] for d in body["data"]} == {"embedding"}
    got = np.array([d["embedding"] for d in body["data"]])
    np.testing.assert_allclose(got, _vectors(minilm, TEXTS), atol=1e-6)
    tokens = sum(len(o.prompt_token_ids) for o in minilm.embed(TEXTS, use_tqdm=False))
    assert body["usage"] == {
        "prompt_tokens": tokens,
        "total_tokens": tokens,
        "completion_tokens": 0,
        "prompt_tokens_details": None,
    }


@pytest.mark.parametrize(
    ("dtype", "endianness", "numpy_dtype"),
    [("float32", "native", "<f4"), ("float32", "big", ">f4"), ("float16", "little", "<f2")],
)
def test_embeddings_base64(
    client: TestClient, minilm: Any, dtype: str, endianness: str, numpy_dtype: str
) -> None:
    body = client.post(
        "/v1/embeddings",
        json={
            "input": TEXTS[0],
            "encoding_format": "base64",
            "embed_dtype": dtype,
            "endianness": endianness,
        },
    )
    vector = np.frombuffer(base64.b64decode(body.json()["data"][0]["embedding"]), numpy_dtype)
    np.testing.assert_allclose(vector, _vectors(minilm, TEXTS[:1])[0], atol=1e-3)


def test_embeddings_bytes_with_metadata_header(client: TestClient, minilm: Any) -> None:
    response = client.post("/v1/embeddings", json={"input": TEXTS, "encoding_format": "bytes"})
    assert response.headers["content-type"] == "application/octet-stream"
    items = json.loads(response.headers["metadata"])["data"]
    expected = _vectors(minilm, TEXTS)
    for item, row in zip(items, expected, strict=True):
        assert item["shape"] == [384]
        chunk = response.content[item["start"] : item["end"]]
        np.testing.assert_allclose(np.frombuffer(chunk, "<f4"), row, atol=1e-6)


def test_token_id_input_equals_text_input(client: TestClient, minilm: Any) -> None:
    ids = minilm.get_tokenizer()(TEXTS[1])["input_ids"]
    by_ids = client.post("/v1/embeddings", json={"input": [ids]}).json()["data"][0]["embedding"]
    np.testing.assert_allclose(by_ids, _vectors(minilm, TEXTS[1:])[0], atol=1e-6)


def test_truncation_and_activation(client: TestClient, minilm: Any) -> None:
    long_text = "wing " * 400
    body = client.post("/v1/embeddings", json={"input": long_text, "truncate_prompt_tokens": -1})
    assert body.status_code == 200
    assert body.json()["usage"]["prompt_tokens"] == 256
    expected = minilm.embed(long_text, truncate_prompt_tokens=-1, use_tqdm=False)
    np.testing.assert_allclose(
        body.json()["data"][0]["embedding"], expected[0].outputs.embedding, atol=1e-6
    )
    raw = client.post("/v1/embeddings", json={"input": TEXTS[0], "use_activation": False}).json()
    assert abs(np.linalg.norm(raw["data"][0]["embedding"]) - 1.0) > 1e-3  # not normalized


def test_pooling_tasks(client: TestClient, minilm: Any, tagger: Any) -> None:
    body = client.post("/pooling", json={"input": TEXTS[0], "task": "token_embed"}).json()
    assert body["id"].startswith("pool-")
    expected = minilm.encode(TEXTS[0], pooling_task="token_embed", use_tqdm=False)[0]
    np.testing.assert_allclose(body["data"][0]["data"], expected.outputs.data.numpy(), atol=1e-5)
    default = client.post("/pooling", json={"input": TEXTS[0]}).json()["data"][0]["data"]
    np.testing.assert_allclose(default, _vectors(minilm, TEXTS[:1])[0], atol=1e-6)
    tokens = client.post(
        "/pooling", json={"model": "tagger", "input": TEXTS[0], "task": "token_classify"}
    ).json()
    expected = tagger.encode(TEXTS[0], pooling_task="token_classify", use_tqdm=False)[0]
    np.testing.assert_allclose(tokens["data"][0]["data"], expected.outputs.data.numpy(), atol=1e-5)


def test_classify(client: TestClient, classifier: Any) -> None:
    body = client.post("/classify", json={"model": "classifier", "input": TEXTS}).json()
    assert body["id"].startswith("classify-")
    expected = classifier.classify(TEXTS, use_tqdm=False)
    for item, out in zip(body["data"], expected, strict=True):
        np.testing.assert_allclose(item["probs"], out.outputs.probs, atol=1e-6)
        assert item["num_classes"] == 3
        assert item["label"] == f"LABEL_{'ABC'[int(np.argmax(out.outputs.probs))]}"


@pytest.mark.parametrize(
    "fields",
    [("text_1", "text_2"), ("data_1", "data_2"), ("queries", "documents"), ("queries", "items")],
)
def test_score_four_shapes(client: TestClient, reranker: Any, fields: tuple[str, str]) -> None:
    query, docs = "air pressure", ["the wing lift and air flow", "a cat on the street"]
    body = client.post(
        "/score", json={"model": "reranker", fields[0]: query, fields[1]: docs}
    ).json()
    expected = [o.outputs.score for o in reranker.score(query, docs, use_tqdm=False)]
    assert [d["index"] for d in body["data"]] == [0, 1]
    np.testing.assert_allclose([d["score"] for d in body["data"]], expected, atol=1e-6)


def test_score_n_to_n_and_embedding_model_cosine(client: TestClient, minilm: Any) -> None:
    body = client.post("/score", json={"text_1": TEXTS, "text_2": TEXTS[::-1]}).json()
    vectors = _vectors(minilm, TEXTS)
    cosine = float(vectors[0] @ vectors[1])
    np.testing.assert_allclose([d["score"] for d in body["data"]], [cosine, cosine], atol=1e-5)


def test_rerank_sorts_truncates_and_echoes_documents(client: TestClient, reranker: Any) -> None:
    docs = [
        "a cat on the street",
        {"text": "the wing lift and air flow", "id": "doc-7", "metadata": {"year": 2020}},
        "pressure and speed",
    ]
    texts = [docs[0], docs[1]["text"], docs[2]]  # type: ignore[index]
    scores = [o.outputs.score for o in reranker.score("air pressure", texts, use_tqdm=False)]
    order = sorted(range(3), key=lambda i: scores[i], reverse=True)
    for path in ("/rerank", "/v1/rerank", "/v2/rerank"):
        body = client.post(
            path, json={"model": "reranker", "query": "air pressure", "documents": docs, "top_n": 2}
        ).json()
        assert [r["index"] for r in body["results"]] == order[:2]
        np.testing.assert_allclose(
            [r["relevance_score"] for r in body["results"]],
            [scores[i] for i in order[:2]],
            atol=1e-6,
        )
        by_index = {r["index"]: r["document"] for r in body["results"]}
        if 1 in by_index:
            assert by_index[1]["id"] == "doc-7"
            assert by_index[1]["metadata"] == {"year": 2020}
    every = client.post(
        "/rerank",
        json={
            "model": "reranker",
            "query": "air pressure",
            "documents": texts,
            "top_n": 0,
            "return_documents": False,
        },
    ).json()
    assert len(every["results"]) == 3
    assert all("document" not in r for r in every["results"])


def test_tokenize_detokenize(client: TestClient, minilm: Any) -> None:
    body = client.post("/tokenize", json={"prompt": TEXTS[1], "return_token_strs": True}).json()
    ids = minilm.get_tokenizer()(TEXTS[1])["input_ids"]
    assert body["tokens"] == ids
    assert body["count"] == len(ids)
    assert body["max_model_len"] == 256
    assert body["token_strs"][0] == "[CLS]"
    plain = client.post("/tokenize", json={"prompt": TEXTS[1], "add_special_tokens": False})
    assert plain.json()["tokens"] == ids[1:-1]
    assert plain.json()["token_strs"] is None
    text = client.post("/detokenize", json={"tokens": ids[1:-1]}).json()["prompt"]
    assert text == TEXTS[1]


def test_models_health_metrics(client: TestClient) -> None:
    ids = [m["id"] for m in client.get("/v1/models").json()["data"]]
    assert ids == [
        "sentence-transformers/all-MiniLM-L6-v2",
        "minilm",
        "reranker",
        "classifier",
        "tagger",
    ]
    assert client.get("/health").status_code == 200
    client.post("/v1/embeddings", json={"input": "x"})
    text = client.get("/metrics").text
    assert 'retrieval_requests_total{route="/v1/embeddings",status="200"}' in text
    assert "retrieval_request_seconds_bucket" in text
    assert "retrieval_batch_requests_bucket" in text
    assert "retrieval_queue_depth" in text
    assert "retrieval_prompt_tokens_total" in text
