"""A corpus of bad requests: each gets a 4xx with vLLM's error body and a message that
names the problem; none is a 5xx crash, and the server keeps answering afterwards."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

E = "/v1/embeddings"
LONG = "wing " * 400
PNG = "data:image/png;base64,iVBORw0KGgo="
IMG = {"type": "image_url", "image_url": {"url": PNG}}

# (route, JSON body or raw bytes, expected status, text the message must contain)
CASES: list[tuple[str, Any, int, str]] = [
    # malformed bodies
    (E, b"{not json", 400, "Malformed JSON"),
    (E, b"[1, 2, 3]", 400, "must be a JSON object"),
    (E, b'"just a string"', 400, "must be a JSON object"),
    (E, b"", 400, "JSON"),
    # embeddings input
    (E, {}, 400, "`input` is required"),
    (E, {"input": None}, 400, "`input` is required"),
    (E, {"input": ""}, 400, "empty string"),
    (E, {"input": []}, 400, "empty list"),
    (E, {"input": [""]}, 400, "`input[0]` is an empty string"),
    (E, {"input": ["ok", ""]}, 400, "`input[1]` is an empty string"),
    (E, {"input": 5}, 400, "got int"),
    (E, {"input": 1.5}, 400, "got float"),
    (E, {"input": True}, 400, "got bool"),
    (E, {"input": {"text": "x"}}, 400, "got dict"),
    (E, {"input": ["a", 3]}, 400, "`input[1]` has type int"),
    (E, {"input": [["a"]]}, 400, "token ids are non-negative integers"),
    (E, {"input": [[1, -2]]}, 400, "token ids are non-negative integers"),
    (E, {"input": [[]]}, 400, "empty list of token ids"),
    (E, {"input": [10**9]}, 400, "outside the model's vocabulary"),
    (E, {"input": ["x"] * 3000}, 400, "at most 2048"),
    (E, {"input": LONG}, 400, "maximum context length is 256 tokens"),
    (E, {"input": ["ok", LONG]}, 400, "prompt 1 has"),
    # embeddings parameters
    (E, {"input": "x", "dimensions": 8}, 400, "does not support matryoshka"),
    (E, {"input": "x", "dimensions": "8"}, 400, "dimensions"),
    (E, {"input": "x", "encoding_format": "hex"}, 400, "'float', 'base64'"),
    (E, {"input": "x", "embed_dtype": "int4"}, 400, "embed_dtype"),
    (E, {"input": "x", "endianness": "middle"}, 400, "endianness"),
    (E, {"input": "x", "normalize": True}, 400, "use `use_activation` instead"),
    (E, {"input": "x", "use_activation": "yes"}, 400, "use_activation"),
    (E, {"input": "x", "truncate_prompt_tokens": -5}, 400, "truncate_prompt_tokens"),
    (E, {"input": "x", "truncate_prompt_tokens": 0}, 400, "positive number of tokens"),
    (E, {"input": "x", "truncate_prompt_tokens": 9999}, 400, "greater than max_model_len"),
    (E, {"input": "x", "truncation_side": "middle"}, 400, "truncation_side"),
    (E, {"input": "x", "model": "gpt-4"}, 404, "The model `gpt-4` does not exist"),
    (E, {"input": "x", "model": "classifier"}, 400, "does not support the Embeddings API"),
    (E, {"messages": [{"role": "user", "content": "hi"}]}, 400, "no chat template"),
    (E, {"input": "x", "messages": []}, 400, "either `input` or `messages`"),
    # pooling / classify
    ("/pooling", {"input": "x", "task": "encode"}, 400, "task"),
    ("/pooling", {"input": "x", "task": "classify"}, 400, "Unsupported task: 'classify'"),
    ("/pooling", {"input": "x", "task": "plugin"}, 400, "No IOProcessor plugin installed"),
    ("/pooling", {"input": "x", "task": "sparse"}, 400, "is not a sparse model"),
    ("/pooling", {"model": "classifier", "input": "x", "task": "hybrid"}, 400, "BGE-M3 or an"),
    (
        "/pooling",
        {"model": "classifier", "input": "x", "task": "classify", "dimensions": 4},
        400,
        "`dimensions` applies to embeddings",
    ),
    ("/classify", {"input": "x"}, 400, "does not support the Classification API"),
    ("/classify", {"model": "classifier", "input": []}, 400, "empty list"),
    ("/classify", {"model": "classifier", "input": "x", "dimensions": 3}, 200, ""),
    # score
    ("/score", {"text_1": "a"}, 400, "Send one pair of fields"),
    ("/score", {"text_1": "a", "text_2": []}, 400, "At least one text element"),
    ("/score", {"text_1": [], "text_2": "b"}, 400, "At least one text element"),
    (
        "/score",
        {"text_1": ["a", "b"], "text_2": ["c", "d", "e"]},
        400,
        "Input lengths must be either 1:1, 1:N or N:N",
    ),
    ("/score", {"text_1": "a", "text_2": "b", "data_1": "a", "data_2": "b"}, 400, "only one pair"),
    ("/score", {"text_1": 7, "text_2": "b"}, 400, "`text_1` has type int"),
    ("/score", {"text_1": "a", "text_2": [""]}, 400, "empty string"),
    ("/score", {"model": "tagger", "text_1": "a", "text_2": "b"}, 400, "does not support"),
    ("/score", {"data_1": "a", "data_2": [{"content": [IMG]}]}, 400, "reads text only"),
    ("/score", {"data_1": "a", "data_2": [{"content": 5}]}, 400, "non-empty list of content parts"),
    # rerank
    ("/rerank", {"documents": ["a"]}, 400, "`query` is required"),
    ("/rerank", {"query": "q"}, 400, "`documents` must be a list"),
    ("/rerank", {"query": "q", "documents": []}, 400, "At least one text_pair element"),
    ("/rerank", {"query": "q", "documents": 7}, 400, "`documents` must be a list"),
    ("/rerank", {"query": "", "documents": ["a"]}, 400, "`query` is an empty string"),
    ("/rerank", {"query": 3, "documents": ["a"]}, 400, "`query` must be a string"),
    ("/rerank", {"query": "q", "documents": ["a"], "top_n": -1}, 400, "top_n"),
    ("/rerank", {"query": "q", "documents": [{"text": ""}]}, 400, "documents[0].text"),
    ("/rerank", {"query": "q", "documents": [None]}, 400, "`documents[0]` has type NoneType"),
    ("/v2/rerank", {"query": "q", "documents": ["a"] * 3000}, 400, "at most 2048"),
    ("/v1/rerank", {"query": "q", "documents": ["a"], "model": "nope"}, 404, "does not exist"),
    (
        "/rerank",
        {
            "query": "q",
            "documents": [
                {
                    "content": [
                        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
                    ]
                }
            ],
        },
        400,
        "remote image URL",
    ),
    (
        "/rerank",
        {
            "query": "q",
            "documents": [
                {
                    "content": [
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,@@@"}}
                    ]
                }
            ],
        },
        400,
        "invalid base64 image data",
    ),
    (
        "/rerank",
        {
            "query": "q",
            "documents": [
                {
                    "content": [
                        {"type": "image_url", "image_url": {"url": "data:text/plain;base64,aGk="}}
                    ]
                }
            ],
        },
        400,
        "data:image/<type>;base64",
    ),
    (
        "/rerank",
        {"query": "q", "documents": [{"content": [{"type": "video"}]}]},
        400,
        "must be {'type': 'text'",
    ),
    # tokenize / detokenize / search / routing
    ("/tokenize", {}, 400, "`prompt` must be a string"),
    ("/tokenize", {"prompt": ["a"]}, 400, "`prompt` must be a string"),
    ("/tokenize", {"prompt": "a", "return_token_strs": "maybe"}, 400, "return_token_strs"),
    ("/detokenize", {}, 400, "Field required (at 'tokens')"),
    ("/detokenize", {"tokens": [1, "x"]}, 400, "tokens.1"),
    ("/detokenize", {"tokens": [999999999]}, 400, "outside the vocabulary"),
    ("/v1/search", {"query": "q"}, 404, "No index is loaded"),
    ("/v1/nothing", {"input": "x"}, 404, "no such route"),
]


@pytest.mark.parametrize(
    ("route", "body", "status", "message"),
    CASES,
    ids=[f"{i:02d}{c[0]}" for i, c in enumerate(CASES)],
)
def test_bad_request(client: TestClient, route: str, body: Any, status: int, message: str) -> None:
    if isinstance(body, bytes):
        response = client.post(route, content=body, headers={"content-type": "application/json"})
    else:
        response = client.post(route, json=body)
    assert response.status_code == status, response.text
    assert response.status_code < 500
    if status == 200:
        return
    error = response.json()["error"]
    assert message in error["message"]
    assert error["code"] == status
    assert error["type"].endswith("Error")
    assert set(error) == {"message", "type", "param", "code"}


def test_wrong_method_and_server_still_healthy(client: TestClient) -> None:
    assert client.get("/v1/embeddings").status_code == 405
    assert client.get("/health").status_code == 200
    ok = client.post("/v1/embeddings", json={"input": ["fine", "also fine"]})
    assert ok.status_code == 200


def test_one_bad_request_in_a_merged_batch_fails_alone(client: TestClient) -> None:
    """Concurrent good and bad requests: the bad one gets its own 400, the others 200."""
    from concurrent.futures import ThreadPoolExecutor

    bodies = [{"input": "good text"}] * 6 + [{"input": LONG}] + [{"input": "more text"}] * 5
    with ThreadPoolExecutor(6) as pool:
        codes = list(pool.map(lambda b: client.post(E, json=b).status_code, bodies))
    assert codes == [200] * 6 + [400] + [200] * 5
