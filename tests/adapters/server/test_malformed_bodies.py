"""Hostile and malformed request bodies on every route: none may get a 5xx, and every 4xx
carries vLLM's error envelope. ``test_bad_requests.py`` checks the wording of common mistakes;
this corpus is about robustness (parsers, numbers, nesting, encodings, content types, sizes).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

POST_ROUTES = [
    "/v1/embeddings", "/pooling", "/classify", "/score", "/v1/score", "/rerank",
    "/v1/rerank", "/v2/rerank", "/tokenize", "/detokenize", "/invocations", "/v1/search",
]  # fmt: skip

# Raw bodies no route can read: each is sent to every POST route.
RAW: dict[str, bytes] = {
    "nested_5000_open": b"[" * 5000,
    "nested_5000_closed": b"[" * 5000 + b"]" * 5000,
    "nested_objects_3000": b'{"a":' * 3000 + b"1" + b"}" * 3000,
    "nested_input_2000": b'{"input": ' + b"[" * 2000 + b"]" * 2000 + b"}",
    "nested_input_900": b'{"input": ' + b"[" * 900 + b"]" * 900 + b"}",
    "nested_kwargs_900": b'{"input": "x", "chat_template_kwargs": {"a": '
    + b"[" * 900
    + b"]" * 900
    + b"}}",
    "nested_filter_900": b'{"query": "q", "filter": {"a": ' + b"[" * 900 + b"]" * 900 + b"}}",
    "empty": b"",
    "whitespace": b" \n\t ",
    "null": b"null",
    "truncated": b'{"input": "x"',
    "trailing_data": b'{"input": "x"}{"input": "y"}',
    "not_json": b"{not json",
    "nul_bytes": b"\x00" * 64,
    "invalid_utf8": b'{"input": "\xff\xfe\xfd"}',
    "utf16_bom": '{"input": "x"}'.encode("utf-16"),
    "utf8_bom": b'\xef\xbb\xbf{"input": "x"}',
    "bare_nan": b"NaN",
    "array_of_objects": b'[{"input": "x"}]',
    "bare_string": b'"input"',
    "bare_number": b"123",
    "digits_5000": b'{"input": "x", "truncate_prompt_tokens": 1' + b"0" * 5000 + b"}",
}

# Route-specific hostile values: (route, JSON text). JSON text, not dicts, so NaN, Infinity,
# duplicate keys and lone surrogates reach the server exactly as written.
BODIES: list[tuple[str, str]] = [
    # numbers
    ("/v1/embeddings", '{"input": "x", "dimensions": 0}'),
    ("/v1/embeddings", '{"input": "x", "dimensions": -1}'),
    ("/v1/embeddings", '{"input": "x", "dimensions": 9223372036854775808}'),
    ("/v1/embeddings", '{"input": "x", "dimensions": 1e400}'),
    ("/v1/embeddings", '{"input": "x", "dimensions": NaN}'),
    ("/v1/embeddings", '{"input": "x", "truncate_prompt_tokens": -Infinity}'),
    ("/v1/embeddings", '{"input": "x", "truncate_prompt_tokens": 1180591620717411303424}'),
    ("/v1/embeddings", '{"input": "x", "truncate_prompt_tokens": -2}'),
    ("/v1/embeddings", '{"input": "x", "truncate_prompt_tokens": 2.5}'),
    ("/v1/embeddings", '{"input": "x", "priority": 1e308}'),
    ("/v1/embeddings", '{"input": 1e999}'),
    # token ids
    ("/v1/embeddings", '{"input": [[30522]]}'),
    ("/v1/embeddings", '{"input": [18446744073709551616]}'),
    ("/v1/embeddings", '{"input": [[-1]]}'),
    ("/v1/embeddings", '{"input": [[1.5, 2]]}'),
    ("/v1/embeddings", '{"input": [[true, false]]}'),
    ("/v1/embeddings", '{"input": [[null]]}'),
    ("/v1/embeddings", '{"input": [101, "x", 102]}'),
    ("/v1/embeddings", '{"input": [[' + ",".join(["7"] * 3000) + "]]}"),
    ("/pooling", '{"model": "tagger", "input": [[0, 0, 0]], "task": "token_classify"}'),
    # types and duplicate keys
    ("/v1/embeddings", '{"input": "a", "input": 5}'),
    ("/v1/embeddings", '{"input": {"$gt": ""}}'),
    ("/v1/embeddings", '{"input": "x", "model": {"$ne": null}}'),
    ("/v1/embeddings", '{"input": "x", "model": ""}'),
    ("/v1/embeddings", '{"input": "x", "encoding_format": null}'),
    ("/v1/embeddings", '{"input": "x", "embed_dtype": 5}'),
    ("/v1/embeddings", '{"input": "x", "endianness": []}'),
    ("/v1/embeddings", '{"input": "x", "use_activation": "true"}'),
    ("/v1/embeddings", '{"input": "x", "user": 5, "request_id": {}}'),
    ("/v1/embeddings", '{"input": "x", "chat_template_kwargs": "x"}'),
    ("/v1/embeddings", '{"input": ["x", ["y"], {"z": 1}]}'),
    # unicode
    ("/v1/embeddings", '{"input": "\\ud800"}'),
    ("/v1/embeddings", '{"input": "\\udfff\\ud800 lone surrogates"}'),
    ("/v1/embeddings", '{"input": "\\u0000\\u0001\\u001f"}'),
    ("/v1/embeddings", '{"input": "\\u202e\\u200b\\ufeff zero width and bidi"}'),
    ("/v1/embeddings", '{"input": "' + "\U0001f600" * 2000 + '"}'),
    ("/tokenize", '{"prompt": "\\ud83d"}'),
    ("/detokenize", '{"tokens": [100, 101, 102]}'),
    # sizes
    ("/v1/embeddings", '{"input": "' + "x" * 1_000_000 + '"}'),
    ("/v1/embeddings", '{"input": [' + ",".join(['""'] * 3000) + "]}"),
    ("/v1/embeddings", '{"input": [' + ",".join(["[]"] * 3000) + "]}"),
    ("/tokenize", '{"prompt": "' + "word " * 200_000 + '"}'),
    # chat messages
    ("/v1/embeddings", '{"messages": "hello"}'),
    ("/v1/embeddings", '{"messages": [1, 2]}'),
    ("/v1/embeddings", '{"messages": [[]]}'),
    ("/v1/embeddings", '{"messages": [{"role": 5, "content": "x"}]}'),
    ("/classify", '{"model": "classifier", "messages": [{"role": "user", "content": {"a": 1}}]}'),
    (
        "/v1/embeddings",
        '{"messages": [{"role": "user", "content": [{"type": "image_url", '
        '"image_url": {"url": "file:///etc/passwd"}}]}]}',
    ),
    # pooling
    ("/pooling", '{"input": "x", "task": 5}'),
    ("/pooling", '{"input": "x", "task": null, "model": "tagger"}'),
    ("/pooling", '{"input": "x", "task": "token_embed", "dimensions": -3}'),
    ("/pooling", '{"data": {"a": [1, 2]}, "task": "plugin"}'),
    ("/pooling", '{"input": "x", "task": "sparse", "encoding_format": "bytes"}'),
    # classify
    ("/classify", '{"model": "classifier", "input": {}}'),
    ("/classify", '{"model": "classifier", "input": "x", "use_activation": 1}'),
    # score
    ("/score", '{"model": "reranker", "text_1": [["a"]], "text_2": "b"}'),
    ("/score", '{"model": "reranker", "text_1": [{}], "text_2": "b"}'),
    ("/score", '{"model": "reranker", "data_1": [{"content": [{"type": "text"}]}], "data_2": "b"}'),
    ("/score", '{"model": "reranker", "queries": 5, "items": null}'),
    (
        "/v1/score",
        '{"model": "reranker", "text_1": "a", "text_2": "b", "truncate_prompt_tokens": 1e30}',
    ),
    # rerank
    ("/rerank", '{"model": "reranker", "query": "q", "documents": [{"text": 5}]}'),
    ("/rerank", '{"model": "reranker", "query": {"content": 5}, "documents": ["a"]}'),
    ("/rerank", '{"model": "reranker", "query": ["q"], "documents": ["a"]}'),
    ("/rerank", '{"model": "reranker", "query": "q", "documents": ["a"], "top_n": 1e400}'),
    ("/v1/rerank", '{"model": "reranker", "query": "q", "documents": ["a"], "top_n": "1"}'),
    (
        "/v2/rerank",
        '{"model": "reranker", "query": "q", "documents": ["a"], '
        '"max_tokens_per_doc": 18446744073709551616}',
    ),
    ("/v2/rerank", '{"model": "reranker", "query": "q", "documents": [{"content": []}]}'),
    # tokenize / detokenize
    ("/tokenize", '{"prompt": 5}'),
    ("/tokenize", '{"prompt": "x", "add_special_tokens": "yes"}'),
    (
        "/tokenize",
        '{"messages": [{"role": "user", "content": "x"}], "continue_final_message": true}',
    ),
    ("/detokenize", '{"tokens": "abc"}'),
    ("/detokenize", '{"tokens": [-1]}'),
    ("/detokenize", '{"tokens": [18446744073709551616]}'),
    ("/detokenize", '{"tokens": [[1]]}'),
    ("/detokenize", '{"tokens": [1.5]}'),
    # invocations
    ("/invocations", "{}"),
    ("/invocations", '{"query": "q"}'),
    ("/invocations", '{"task": "bogus", "input": "x"}'),
    ("/invocations", '{"text_1": "a", "model": ["x"]}'),
    ("/invocations", '{"model": 5, "input": "x"}'),
    # search
    ("/v1/search", '{"query": 5, "k": 0}'),
    ("/v1/search", '{"query": "q", "k": 1000000000, "filter": "x"}'),
    ("/v1/search", '{"query": "q", "filter": {"$where": "sleep(1)"}}'),
]

# Content types and methods that are not a JSON POST.
OTHER: list[tuple[str, str, dict[str, str], bytes]] = [
    ("POST", "/v1/embeddings", {"content-type": "text/plain"}, b'{"input": "x"}'),
    ("POST", "/v1/embeddings", {"content-type": "application/x-www-form-urlencoded"}, b"input=x"),
    ("POST", "/v1/embeddings", {"content-type": "multipart/form-data; boundary=b"},
     b'--b\r\nContent-Disposition: form-data; name="input"\r\n\r\nx\r\n--b--\r\n'),
    ("POST", "/v1/embeddings", {"content-type": "application/json; charset=latin-1"},
     '{"input": "caf\u00e9"}'.encode("latin-1")),
    ("POST", "/v1/embeddings", {"content-type": "application/json", "content-encoding": "gzip"},
     b'{"input": "x"}'),
    ("POST", "/rerank", {}, b'{"query": "q", "documents": ["a"]}'),
    ("GET", "/v1/embeddings", {}, b""),
    ("PUT", "/pooling", {"content-type": "application/json"}, b'{"input": "x"}'),
    ("DELETE", "/rerank", {}, b""),
    ("POST", "/v1/models", {"content-type": "application/json"}, b"{}"),
    ("POST", "/../../etc/passwd", {"content-type": "application/json"}, b"{}"),
]  # fmt: skip


def _check(response: Any) -> None:
    assert response.status_code < 500, response.text[:500]
    if response.status_code >= 400:
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}
        assert error["code"] == response.status_code
        assert error["type"].endswith("Error")
        assert isinstance(error["message"], str)
        assert error["message"]


@pytest.mark.parametrize("route", POST_ROUTES)
@pytest.mark.parametrize("name", list(RAW))
def test_raw_body_never_5xx(client: TestClient, name: str, route: str) -> None:
    response = client.post(route, content=RAW[name], headers={"content-type": "application/json"})
    _check(response)


def test_lone_surrogate_is_named(client: TestClient) -> None:
    response = client.post(
        "/v1/embeddings",
        content=b'{"input": ["ok", "\\ud800"]}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert "`input[1]` holds a lone UTF-16 surrogate" in response.json()["error"]["message"]


def test_deep_nesting_is_a_400_in_the_envelope(client: TestClient) -> None:
    response = client.post(
        "/v1/embeddings", content=b"[" * 5000, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "BadRequestError"
    assert "nested too deeply" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("route", "text"), BODIES, ids=[f"{i:02d}{route}" for i, (route, _) in enumerate(BODIES)]
)
def test_hostile_body_never_5xx(client: TestClient, route: str, text: str) -> None:
    payload = text.encode("utf-8", "surrogatepass")
    response = client.post(route, content=payload, headers={"content-type": "application/json"})
    _check(response)


@pytest.mark.parametrize(
    ("method", "route", "headers", "body"),
    OTHER,
    ids=[f"{m}{r}-{h.get('content-type', 'none')[:20]}" for m, r, h, _ in OTHER],
)
def test_other_requests_never_5xx(
    client: TestClient, method: str, route: str, headers: dict[str, str], body: bytes
) -> None:
    _check(client.request(method, route, content=body or None, headers=headers))


def test_oversized_body_is_413(client: TestClient) -> None:
    payload = json.dumps({"input": "x" * (17 * 1024 * 1024)}).encode()
    response = client.post(
        "/v1/embeddings", content=payload, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    _check(response)


def test_server_still_answers(client: TestClient) -> None:
    assert client.get("/health").status_code == 200
    assert client.post("/v1/embeddings", json={"input": "still fine"}).status_code == 200


def test_deep_nesting_over_real_http(server_url: str) -> None:
    """The issue's case end to end: uvicorn on loopback, 5,000 nested ``[``, a 400 envelope."""
    import httpx

    response = httpx.post(
        f"{server_url}/v1/embeddings",
        content=b"[" * 5000,
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 400
    _check(response)
